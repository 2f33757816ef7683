-- Points more than :sigmas standard deviations from the 24 points before them.
-- @param since TIMESTAMP_NTZ = DATEADD('hour', -1, :now)
-- @param sigmas DOUBLE = 3
-- @alerts anomaly
SELECT instance, metric, ts, value, mu, sd
FROM (
    SELECT instance, metric, ts, value,
           AVG(value) OVER (PARTITION BY instance, metric ORDER BY ts
                            ROWS BETWEEN 24 PRECEDING AND 1 PRECEDING) AS mu,
           STDDEV(value) OVER (PARTITION BY instance, metric ORDER BY ts
                               ROWS BETWEEN 24 PRECEDING AND 1 PRECEDING) AS sd
    FROM metrics
    WHERE ts >= DATEADD('day', -1, :since)
) AS scored
WHERE ts >= :since AND sd > 0 AND ABS(value - mu) > :sigmas * sd
