-- The latest stored version of every alert updated since :since.
-- @param since TIMESTAMP_NTZ = DATEADD('hour', -24, :now)
SELECT
    id,
    dedup_key,
    target,
    source,
    state,
    severity,
    title,
    started_at,
    updated_at,
    resolved_at,
    version
FROM alerts
WHERE updated_at >= :since
QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY version DESC, seq DESC) = 1
ORDER BY started_at, id
