-- Alerts raised inside the warehouse by the scheduled procedures (nephos snowflake init):
-- one row per result row of an analytics statement marked "@alerts <source>", with the row
-- itself as facts. nephos picks them up into the hot store's alert book.
CREATE TABLE IF NOT EXISTS analytics_alerts (
    detected_at TIMESTAMP_NTZ NOT NULL,
    source VARCHAR NOT NULL,
    statement VARCHAR NOT NULL,
    facts VARIANT,
    picked_up_at TIMESTAMP_NTZ
);
