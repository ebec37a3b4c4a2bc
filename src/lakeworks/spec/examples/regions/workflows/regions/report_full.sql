-- ---
-- branch: {route: full}
-- depends_on: [per_region]
-- ---
CREATE TABLE IF NOT EXISTS ads_region_report (region STRING, revenue DOUBLE);
INSERT OVERWRITE TABLE ads_region_report
SELECT region, SUM(revenue) FROM dws_region_daily GROUP BY region;
