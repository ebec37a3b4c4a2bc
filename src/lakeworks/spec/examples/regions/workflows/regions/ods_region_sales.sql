-- Sample sales per region (repeatable: the table is refilled each run)
CREATE TABLE IF NOT EXISTS ods_region_sales (
  region  STRING,
  amount  DOUBLE
);
TRUNCATE TABLE ods_region_sales;
INSERT INTO ods_region_sales VALUES
('east', 120.50), ('east', 80.00), ('north', 20.00), ('west', 45.25), ('west', 99.99);
