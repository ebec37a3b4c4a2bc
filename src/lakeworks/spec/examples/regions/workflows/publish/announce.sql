-- Count what the report holds, for the announcement on ${channel}.
CREATE TABLE IF NOT EXISTS ads_report_announcements (bizdate STRING, channel STRING, regions BIGINT);
INSERT INTO ads_report_announcements
SELECT '${bizdate}', '${channel}', COUNT(*) FROM ads_region_report;
