-- The fleet in [since, until], per bucket of bucket_seconds (bucket 0 starts at :since):
-- checks, availability in percent and the p95 latency of every check in the bucket.
-- @param since TIMESTAMP_NTZ = DATEADD('hour', -24, :now)
-- @param until TIMESTAMP_NTZ = :now
-- @param bucket_seconds INTEGER = 3600
SELECT bucket,
       COUNT(*) AS checks,
       ROUND(100.0 * COUNT_IF(success) / COUNT(*), 3) AS availability_pct,
       PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_latency_ms
FROM (
    SELECT FLOOR(DATEDIFF('second', CAST(:since AS TIMESTAMP_NTZ), ts) / :bucket_seconds)
               AS bucket,
           success, latency_ms
    FROM results
    WHERE ts >= :since AND ts <= :until
) AS bucketed
GROUP BY bucket
ORDER BY bucket;
