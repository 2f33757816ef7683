-- Every change-feed event, as loaded: the raw JSON of the entity in data.
-- seq is the hot store's commit sequence; loads skip seqs already here (idempotent).
CREATE TABLE IF NOT EXISTS events (
    seq BIGINT NOT NULL PRIMARY KEY,
    kind VARCHAR NOT NULL,
    ts TIMESTAMP_NTZ NOT NULL,
    data VARIANT
);
