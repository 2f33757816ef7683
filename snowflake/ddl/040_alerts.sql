-- Alert history (events of kind alert): one row per stored version of an alert, so the
-- current state of an alert is its row with the highest version. Times are UTC.
CREATE TABLE IF NOT EXISTS alerts (
    seq BIGINT NOT NULL,
    ts TIMESTAMP_NTZ NOT NULL,
    id VARCHAR NOT NULL,
    dedup_key VARCHAR,
    target VARCHAR,
    source VARCHAR,
    state VARCHAR NOT NULL,
    severity VARCHAR,
    title VARCHAR,
    message VARCHAR,
    condition VARCHAR,
    value VARCHAR,
    provider VARCHAR,
    started_at TIMESTAMP_NTZ,
    updated_at TIMESTAMP_NTZ,
    resolved_at TIMESTAMP_NTZ,
    acknowledged_at TIMESTAMP_NTZ,
    flapping BOOLEAN,
    suppressed_by VARCHAR,
    version INTEGER,
    facts VARIANT
);
