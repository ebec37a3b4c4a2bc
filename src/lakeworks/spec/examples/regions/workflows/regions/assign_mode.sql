-- ---
-- description: full when there are many sales, else incremental.
-- output: true
-- ---
SELECT CASE WHEN COUNT(1) > 3 THEN 'full' ELSE 'incremental' END FROM ods_region_sales;
