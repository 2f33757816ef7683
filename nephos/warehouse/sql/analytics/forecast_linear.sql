-- The linear forecast of every series in the window, in the warehouse: the least-squares
-- slope (per hour), the fitted level at the window's end and R² of each series, plus its
-- latest value.
-- Metric points and each target's check latency (as latency_ms) are fitted alike; failed and
-- offline checks are left out. Only rising series come back: the caller applies each series'
-- threshold and refits the near ones in Python with a daily cycle (nephos.analytics).
-- @param since TIMESTAMP_NTZ = DATEADD('day', -3, :now)
-- @param until TIMESTAMP_NTZ = :now
-- @param min_points INTEGER = 24
WITH series_points AS (
    SELECT instance AS resource, metric, unit, provider, ts, value
    FROM metrics
    WHERE ts >= :since AND ts <= :until AND value IS NOT NULL
    UNION ALL
    SELECT target AS resource, 'latency_ms' AS metric, 'ms' AS unit, provider, ts,
           latency_ms AS value
    FROM results
    WHERE ts >= :since AND ts <= :until AND latency_ms IS NOT NULL AND error IS NULL
      AND NOT COALESCE(sentinel_offline, FALSE)
),
timed AS (
    SELECT resource, metric, unit, provider, ts, value,
           DATEDIFF('second', CAST(:since AS TIMESTAMP_NTZ), ts) / 3600.0 AS hours
    FROM series_points
),
fits AS (
    SELECT resource, metric,
           MAX(unit) AS unit,
           MAX(provider) AS provider,
           COUNT(*) AS points,
           MIN(ts) AS first_ts,
           MAX(ts) AS last_ts,
           MAX_BY(value, ts) AS last_value,
           REGR_SLOPE(value, hours) AS slope_per_hour,
           REGR_INTERCEPT(value, hours) AS intercept,
           REGR_R2(value, hours) AS r2
    FROM timed
    GROUP BY resource, metric
)
SELECT resource, metric, unit, provider, points, first_ts, last_ts, last_value,
       slope_per_hour,
       intercept + slope_per_hour * DATEDIFF(
           'second', CAST(:since AS TIMESTAMP_NTZ), CAST(:until AS TIMESTAMP_NTZ)
       ) / 3600.0 AS level_at_until,
       r2
FROM fits
WHERE slope_per_hour > 0 AND points >= :min_points
ORDER BY resource, metric;
