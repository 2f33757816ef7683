-- Per series over [since, until]: its points, least-squares slope per hour and R², mean,
-- latest, lowest and highest value, and its mean over the window before [previous_since,
-- since) for the change against the previous period. Metric points and each target's check
-- latency (as latency_ms) alike; failed and offline checks are left out. An empty metric or
-- resource matches every one.
-- @param since TIMESTAMP_NTZ = DATEADD('hour', -24, :now)
-- @param until TIMESTAMP_NTZ = :now
-- @param previous_since TIMESTAMP_NTZ = DATEADD('hour', -48, :now)
-- @param metric VARCHAR = ''
-- @param resource VARCHAR = ''
-- @param min_points INTEGER = 6
WITH series_points AS (
    SELECT instance AS resource, metric, unit, ts, value
    FROM metrics
    WHERE ts >= :previous_since AND ts <= :until AND value IS NOT NULL
      AND (:metric = '' OR metric = :metric) AND (:resource = '' OR instance = :resource)
    UNION ALL
    SELECT target AS resource, 'latency_ms' AS metric, 'ms' AS unit, ts, latency_ms AS value
    FROM results
    WHERE ts >= :previous_since AND ts <= :until AND latency_ms IS NOT NULL AND error IS NULL
      AND NOT COALESCE(sentinel_offline, FALSE)
      AND (:metric = '' OR :metric = 'latency_ms') AND (:resource = '' OR target = :resource)
),
timed AS (
    SELECT resource, metric, unit, ts, value,
           DATEDIFF('second', CAST(:since AS TIMESTAMP_NTZ), ts) / 3600.0 AS hours
    FROM series_points
),
current_window AS (
    SELECT resource, metric,
           MAX(unit) AS unit,
           COUNT(*) AS points,
           REGR_SLOPE(value, hours) AS slope_per_hour,
           REGR_R2(value, hours) AS r2,
           AVG(value) AS mean_value,
           MAX_BY(value, ts) AS last_value,
           MIN(value) AS min_value,
           MAX(value) AS max_value
    FROM timed
    WHERE ts >= :since
    GROUP BY resource, metric
),
previous_window AS (
    SELECT resource, metric, AVG(value) AS previous_mean
    FROM timed
    WHERE ts < :since
    GROUP BY resource, metric
)
SELECT c.resource, c.metric, c.unit, c.points, c.slope_per_hour, c.r2, c.mean_value,
       c.last_value, c.min_value, c.max_value, p.previous_mean
FROM current_window AS c
LEFT JOIN previous_window AS p ON p.resource = c.resource AND p.metric = c.metric
WHERE c.points >= :min_points
ORDER BY c.resource, c.metric;
