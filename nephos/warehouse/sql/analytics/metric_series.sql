-- Every metric series seen since :since: its point count, time span and latest value.
-- @param since TIMESTAMP_NTZ = DATEADD('hour', -24, :now)
SELECT
    instance,
    metric,
    unit,
    MAX(provider) AS provider,
    COUNT(*) AS points,
    MIN(ts) AS first_ts,
    MAX(ts) AS last_ts,
    MAX_BY(value, ts) AS last_value,
    AVG(value) AS mean_value
FROM metrics
WHERE ts >= :since
GROUP BY instance, metric, unit
ORDER BY instance, metric, unit
