-- Check results (events of kind check), one row per run of a target's check. Times are UTC.
CREATE TABLE IF NOT EXISTS results (
    seq BIGINT NOT NULL,
    ts TIMESTAMP_NTZ NOT NULL,
    target VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    provider VARCHAR,
    region VARCHAR,
    health VARCHAR NOT NULL,
    latency_ms DOUBLE,
    success BOOLEAN NOT NULL,
    status_code INTEGER,
    error VARCHAR,
    reason VARCHAR,
    flapping BOOLEAN,
    sentinel_offline BOOLEAN,
    cert_not_after TIMESTAMP_NTZ
);
