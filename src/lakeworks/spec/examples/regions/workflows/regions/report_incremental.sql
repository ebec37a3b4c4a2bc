-- ---
-- branch: {route: incremental}
-- depends_on: [per_region]
-- ---
CREATE TABLE IF NOT EXISTS ads_region_changes (region STRING, revenue DOUBLE);
INSERT OVERWRITE TABLE ads_region_changes
SELECT region, revenue FROM dws_region_daily WHERE bizdate = '${bizdate}';
