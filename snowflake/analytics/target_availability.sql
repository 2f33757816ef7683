-- Per target since :since: checks run, failures, availability in percent, median and p95
-- latency, and the health of the latest check.
-- @param since TIMESTAMP_NTZ = DATEADD('hour', -24, :now)
SELECT
    target,
    MAX(provider) AS provider,
    COUNT(*) AS checks,
    COUNT_IF(NOT success) AS failures,
    ROUND(100.0 * COUNT_IF(success) / COUNT(*), 3) AS availability_pct,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50_latency_ms,
    PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_latency_ms,
    MAX_BY(health, ts) AS last_health,
    MAX(ts) AS last_ts
FROM results
WHERE ts >= :since
GROUP BY target
ORDER BY target
