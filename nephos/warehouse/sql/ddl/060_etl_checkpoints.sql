-- The last seq each named consumer (the ETL) has loaded and committed.
CREATE TABLE IF NOT EXISTS etl_checkpoints (
    name VARCHAR NOT NULL PRIMARY KEY,
    seq BIGINT NOT NULL,
    updated_at TIMESTAMP_NTZ
);
