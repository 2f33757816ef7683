-- Series whose straight line reaches its threshold within the horizon: the forecast alerts
-- that the scheduled Snowflake task raises on its own, without Python. Disk, memory and CPU
-- percentages cross at the percent threshold, check latency at the latency threshold; a
-- line must explain at least min_r2 of the variance. (nephos predict and the sentinel refit
-- candidates with a daily cycle and an interval; this is the in-warehouse approximation.)
-- @param since TIMESTAMP_NTZ = DATEADD('day', -3, :now)
-- @param until TIMESTAMP_NTZ = :now
-- @param horizon_hours DOUBLE = 48
-- @param percent_threshold DOUBLE = 90
-- @param latency_threshold_ms DOUBLE = 3000
-- @param min_r2 DOUBLE = 0.6
-- @param min_points INTEGER = 24
-- @alerts forecast
WITH series_points AS (
    SELECT instance AS resource, metric, unit, provider, ts, value
    FROM metrics
    WHERE ts >= :since AND ts <= :until AND value IS NOT NULL
      AND metric IN ('disk_percent', 'mem_percent', 'cpu_percent')
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
           MAX_BY(value, ts) AS current_value,
           REGR_SLOPE(value, hours) AS slope_per_hour,
           REGR_INTERCEPT(value, hours) AS intercept,
           REGR_R2(value, hours) AS r2
    FROM timed
    GROUP BY resource, metric
),
levels AS (
    SELECT resource, metric, unit, provider, points, current_value, slope_per_hour, r2,
           intercept + slope_per_hour * DATEDIFF(
               'second', CAST(:since AS TIMESTAMP_NTZ), CAST(:until AS TIMESTAMP_NTZ)
           ) / 3600.0 AS level_at_until,
           IFF(metric = 'latency_ms', :latency_threshold_ms, :percent_threshold) AS threshold
    FROM fits
    WHERE points >= :min_points AND slope_per_hour > 0 AND r2 >= :min_r2
)
SELECT resource, metric, unit, provider, points, current_value, threshold, slope_per_hour, r2,
       (threshold - level_at_until) / slope_per_hour AS hours_to_threshold
FROM levels
WHERE current_value < threshold
  AND (threshold - level_at_until) / slope_per_hour BETWEEN 0 AND :horizon_hours
ORDER BY hours_to_threshold, resource, metric;
