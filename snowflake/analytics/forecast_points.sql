-- The points of one series in the window, oldest first, for the Python refit of a forecast
-- candidate: a metric series, or a target's check latency when the metric is latency_ms.
-- @param resource VARCHAR
-- @param metric VARCHAR
-- @param since TIMESTAMP_NTZ = DATEADD('day', -3, :now)
-- @param until TIMESTAMP_NTZ = :now
-- @example resource = 'vm-db-1'
-- @example metric = 'disk'
SELECT ts, value
FROM (
    SELECT ts, value
    FROM metrics
    WHERE instance = :resource AND metric = :metric AND ts >= :since AND ts <= :until
      AND value IS NOT NULL
    UNION ALL
    SELECT ts, latency_ms AS value
    FROM results
    WHERE :metric = 'latency_ms' AND target = :resource AND ts >= :since AND ts <= :until
      AND latency_ms IS NOT NULL AND error IS NULL AND NOT COALESCE(sentinel_offline, FALSE)
) AS series
ORDER BY ts;
