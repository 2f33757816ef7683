-- Disks whose 3-day trend reaches :threshold percent within :horizon_hours hours.
-- @param since TIMESTAMP_NTZ = DATEADD('day', -3, :now)
-- @param threshold DOUBLE = 90
-- @param horizon_hours DOUBLE = 48
-- @alerts forecast
WITH fit AS (
    SELECT instance,
           REGR_SLOPE(value, DATEDIFF('second', '1970-01-01'::TIMESTAMP_NTZ, ts) / 3600.0) AS per_hour,
           MAX_BY(value, ts) AS last_value
    FROM metrics
    WHERE metric = 'disk_percent' AND ts >= :since
    GROUP BY instance
)
SELECT instance, per_hour, last_value, (:threshold - last_value) / per_hour AS hours_to_full
FROM fit
WHERE per_hour > 0 AND (:threshold - last_value) / per_hour BETWEEN 0 AND :horizon_hours
