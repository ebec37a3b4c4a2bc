-- Create raw table for sample sales transactions
CREATE TABLE IF NOT EXISTS sales_raw (
  order_id     STRING,
  order_ts     DATETIME,
  customer_id  STRING,
  amount       DOUBLE
);
-- Clear existing rows to keep the lab repeatable
TRUNCATE TABLE sales_raw;
-- Insert sample data (3 days)
INSERT INTO sales_raw VALUES
('o_1001', '2026-04-09 10:15:00', 'c_01', 120.50),
('o_1002', '2026-04-09 12:40:00', 'c_02',  80.00),
('o_1003', '2026-04-10 09:05:00', 'c_01',  20.00),
('o_1004', '2026-04-10 18:21:00', 'c_03',  45.25),
('o_1005', '2026-04-11 08:00:00', 'c_02',  99.99);
