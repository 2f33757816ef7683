-- Instance snapshots (events of kind instance): one row per observed change of an instance.
-- Times are UTC.
CREATE TABLE IF NOT EXISTS instances (
    seq BIGINT NOT NULL,
    ts TIMESTAMP_NTZ NOT NULL,
    provider VARCHAR NOT NULL,
    instance_id VARCHAR NOT NULL,
    name VARCHAR,
    state VARCHAR NOT NULL,
    raw_state VARCHAR,
    substate VARCHAR,
    account VARCHAR,
    region VARCHAR,
    zone VARCHAR,
    size VARCHAR,
    vcpus INTEGER,
    memory_mb INTEGER,
    health_signal VARCHAR,
    created_at TIMESTAMP_NTZ,
    updated_at TIMESTAMP_NTZ,
    tags VARIANT
);
