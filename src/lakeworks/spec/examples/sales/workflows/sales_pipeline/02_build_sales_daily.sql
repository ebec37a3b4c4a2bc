-- ---
-- description: Daily order count and revenue per business date.
-- depends_on: [01_create_and_load_sales_raw]
-- ---
-- Daily aggregate table
CREATE TABLE IF NOT EXISTS sales_daily (
  biz_date      STRING,
  order_count   BIGINT,
  revenue_total DOUBLE
);
-- Recompute aggregates for the last 3 days in this lab sample
-- In real pipelines, you typically compute only the partition/date you need.
INSERT OVERWRITE TABLE sales_daily
SELECT
  SUBSTR(CAST(order_ts AS STRING), 1, 10) AS biz_date,
  COUNT(1) AS order_count,
  SUM(amount) AS revenue_total
FROM sales_raw
GROUP BY SUBSTR(CAST(order_ts AS STRING), 1, 10);
