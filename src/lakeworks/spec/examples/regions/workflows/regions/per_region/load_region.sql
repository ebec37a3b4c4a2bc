-- One iteration: ${dag.foreach.current} is the region, ${dag.loopTimes} its number.
CREATE TABLE IF NOT EXISTS dws_region_daily (
  region    STRING,
  bizdate   STRING,
  revenue   DOUBLE
);
DELETE FROM dws_region_daily
WHERE region = '${dag.foreach.current}' AND bizdate = '${bizdate}';
INSERT INTO dws_region_daily
SELECT region, '${bizdate}', SUM(amount)
FROM ods_region_sales
WHERE region = '${dag.foreach.current}'
GROUP BY region;
