-- Metric points (events of kind metric). seq is NULL for points bulk-loaded outside the feed.
-- A series is instance + metric + unit. Times are UTC.
CREATE TABLE IF NOT EXISTS metrics (
    seq BIGINT,
    ts TIMESTAMP_NTZ NOT NULL,
    instance VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    unit VARCHAR,
    value DOUBLE,
    provider VARCHAR
);
