-- One series in [since, until] as the mean of each bucket of bucket_seconds, for charts:
-- bucket 0 starts at :since. A metric series, or a target's check latency when the metric is
-- latency_ms.
-- @param resource VARCHAR
-- @param metric VARCHAR
-- @param since TIMESTAMP_NTZ = DATEADD('hour', -24, :now)
-- @param until TIMESTAMP_NTZ = :now
-- @param bucket_seconds INTEGER = 3600
-- @example resource = 'vm-db-1'
-- @example metric = 'disk_percent'
WITH series AS (
    SELECT ts, value
    FROM metrics
    WHERE instance = :resource AND metric = :metric AND ts >= :since AND ts <= :until
      AND value IS NOT NULL
    UNION ALL
    SELECT ts, latency_ms AS value
    FROM results
    WHERE :metric = 'latency_ms' AND target = :resource AND ts >= :since AND ts <= :until
      AND latency_ms IS NOT NULL AND error IS NULL AND NOT COALESCE(sentinel_offline, FALSE)
),
bucketed AS (
    SELECT FLOOR(DATEDIFF('second', CAST(:since AS TIMESTAMP_NTZ), ts) / :bucket_seconds)
               AS bucket,
           value
    FROM series
)
SELECT bucket, COUNT(*) AS points, AVG(value) AS mean_value
FROM bucketed
GROUP BY bucket
ORDER BY bucket;
