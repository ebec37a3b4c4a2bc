-- ---
-- description: The regions to load, one per row (an assignment node).
-- output: true
-- ---
SELECT DISTINCT region FROM ods_region_sales ORDER BY region;
