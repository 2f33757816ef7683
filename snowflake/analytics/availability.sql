-- Per target in [since, until]: checks run, failures, availability in percent (the SLA
-- figure), median and p95 latency of its checks, and the health of its last check.
-- @param since TIMESTAMP_NTZ = DATEADD('hour', -24, :now)
-- @param until TIMESTAMP_NTZ = :now
SELECT
    target,
    MAX(provider) AS provider,
    MAX_BY(kind, ts) AS kind,
    COUNT(*) AS checks,
    COUNT_IF(NOT success) AS failures,
    ROUND(100.0 * COUNT_IF(success) / COUNT(*), 3) AS availability_pct,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50_latency_ms,
    PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_latency_ms,
    MAX_BY(health, ts) AS last_health,
    MAX_BY(COALESCE(sentinel_offline, FALSE), ts) AS last_offline,
    MAX(ts) AS last_ts
FROM results
WHERE ts >= :since AND ts <= :until
GROUP BY target
ORDER BY target;
