-- The whole fleet's checks in [since, until]: how many, how many failed, availability in
-- percent, and the p50, p95 and p99 latency.
-- @param since TIMESTAMP_NTZ = DATEADD('hour', -24, :now)
-- @param until TIMESTAMP_NTZ = :now
SELECT
    COUNT(*) AS checks,
    COUNT_IF(NOT success) AS failures,
    ROUND(100.0 * COUNT_IF(success) / NULLIF(COUNT(*), 0), 3) AS availability_pct,
    PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50_latency_ms,
    PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_latency_ms,
    PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99_latency_ms
FROM results
WHERE ts >= :since AND ts <= :until;
