-- Anomaly episodes in [since, until], one row per episode: each series' points are judged
-- against a robust baseline for their quarter hour of the day (as the online detector's
-- 15-minute profile), learned over [history_start, until]:
-- the median, and a spread per side from the 10th and 90th percentiles (heavy upper tails are
-- common), floored by 1.5 points for percentages, 2 ms for milliseconds and 2 % of the level.
-- A point is flagged beyond z_open spreads; consecutive flagged points of one direction, no
-- more than join_gap_seconds apart, form one episode (gaps and islands), kept when it has
-- confirm_points points or a point beyond z_spike (not for latencies, whose lone slow
-- requests are normal). Check latencies count as series too.
-- @param since TIMESTAMP_NTZ = DATEADD('minute', -15, :now)
-- @param until TIMESTAMP_NTZ = :now
-- @param history_start TIMESTAMP_NTZ = DATEADD('day', -7, :now)
-- @param z_open DOUBLE = 4.0
-- @param z_spike DOUBLE = 7.0
-- @param confirm_points INTEGER = 3
-- @param join_gap_seconds INTEGER = 900
-- @param min_points INTEGER = 6
-- @alerts anomaly
WITH series_points AS (
    SELECT instance AS resource, metric, unit, provider, ts, value
    FROM metrics
    WHERE ts >= :history_start AND ts <= :until AND value IS NOT NULL
    UNION ALL
    SELECT target AS resource, 'latency_ms' AS metric, 'ms' AS unit, provider, ts,
           latency_ms AS value
    FROM results
    WHERE ts >= :history_start AND ts <= :until AND latency_ms IS NOT NULL AND error IS NULL
      AND NOT COALESCE(sentinel_offline, FALSE)
),
baselines AS (
    SELECT resource, metric, HOUR(ts) * 4 + FLOOR(MINUTE(ts) / 15) AS slot,
           COUNT(*) AS history_points,
           MIN(ts) AS first_ts,
           PERCENTILE_CONT(0.1) WITHIN GROUP (ORDER BY value) AS p10,
           MEDIAN(value) AS p50,
           PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY value) AS p90
    FROM series_points
    GROUP BY resource, metric, HOUR(ts) * 4 + FLOOR(MINUTE(ts) / 15)
),
-- The tails of a series, as the median over its slots: an incident that fills one slot's
-- tail cannot widen them, while a heavy-tailed series keeps its tails in every slot. A slot
-- may be up to three times wider than that (a daily ramp), no more (an incident in its
-- history).
tails AS (
    SELECT resource, metric,
           MEDIAN((p90 - p50) / 1.2816) AS upper_tail,
           MEDIAN((p50 - p10) / 1.2816) AS lower_tail,
           MIN(first_ts) AS first_ts
    FROM baselines
    GROUP BY resource, metric
),
floored AS (
    SELECT b.resource, b.metric, b.slot, b.history_points, t.first_ts,
           b.p50 AS baseline,
           LAG(b.p50) OVER (PARTITION BY b.resource, b.metric ORDER BY b.slot) AS prev_baseline,
           LEAD(b.p50) OVER (PARTITION BY b.resource, b.metric ORDER BY b.slot) AS next_baseline,
           GREATEST(t.upper_tail, LEAST((b.p90 - b.p50) / 1.2816, 3 * t.upper_tail))
               AS upper_spread,
           GREATEST(t.lower_tail, LEAST((b.p50 - b.p10) / 1.2816, 3 * t.lower_tail))
               AS lower_spread
    FROM baselines AS b
    JOIN tails AS t ON t.resource = b.resource AND t.metric = b.metric
    WHERE b.history_points >= :min_points
),
-- The slot's own baseline, or a neighbour's when the value is nearer to it: a daily job that
-- starts a few minutes off the quarter-hour grid, or drifts, is still expected.
nearest AS (
    SELECT p.resource, p.metric, p.unit, p.provider, p.ts, p.value, f.history_points,
           f.first_ts, f.upper_spread, f.lower_spread,
           CASE
               WHEN ABS(p.value - COALESCE(f.prev_baseline, f.baseline))
                        < ABS(p.value - f.baseline)
                AND ABS(p.value - COALESCE(f.prev_baseline, f.baseline))
                        <= ABS(p.value - COALESCE(f.next_baseline, f.baseline))
                   THEN f.prev_baseline
               WHEN ABS(p.value - COALESCE(f.next_baseline, f.baseline))
                        < ABS(p.value - f.baseline)
                   THEN f.next_baseline
               ELSE f.baseline
           END AS baseline
    FROM series_points AS p
    JOIN floored AS f
      ON f.resource = p.resource AND f.metric = p.metric
     AND f.slot = HOUR(p.ts) * 4 + FLOOR(MINUTE(p.ts) / 15)
    WHERE p.ts >= :since
),
judged AS (
    SELECT resource, metric, unit, provider, ts, value, baseline, history_points, first_ts,
           GREATEST(
               IFF(value >= baseline, upper_spread, lower_spread),
               CASE
                   WHEN LOWER(unit) IN ('percent', '%', 'pct') THEN 1.5
                   WHEN LOWER(unit) IN ('ms', 'milliseconds') THEN 2.0
                   ELSE 0.0
               END,
               0.02 * ABS(baseline),
               1e-9
           ) AS spread
    FROM nearest
),
flagged AS (
    SELECT resource, metric, unit, provider, ts, value, baseline, spread, history_points,
           first_ts,
           (value - baseline) / spread AS z,
           IFF(value >= baseline, 1, -1) AS direction
    FROM judged
    WHERE ABS(value - baseline) >= :z_open * spread
),
islands AS (
    SELECT *,
           SUM(new_episode) OVER (
               PARTITION BY resource, metric ORDER BY ts
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
           ) AS episode
    FROM (
        SELECT *,
               IFF(
                   LAG(ts) OVER (PARTITION BY resource, metric ORDER BY ts) IS NULL
                   OR DATEDIFF(
                       'second', LAG(ts) OVER (PARTITION BY resource, metric ORDER BY ts), ts
                   ) > :join_gap_seconds
                   OR LAG(direction) OVER (PARTITION BY resource, metric ORDER BY ts)
                      <> direction,
                   1, 0
               ) AS new_episode
        FROM flagged
    ) AS marked
),
episodes AS (
    SELECT resource, metric,
           MAX(unit) AS unit,
           MAX(provider) AS provider,
           episode,
           MIN(ts) AS started_at,
           MAX(ts) AS last_flagged_at,
           COUNT(*) AS points,
           MAX(direction) AS direction,
           MAX_BY(value, ABS(z)) AS peak_value,
           MAX_BY(baseline, ABS(z)) AS baseline,
           MAX_BY(spread, ABS(z)) AS spread,
           MAX_BY(z, ABS(z)) AS peak_z,
           MIN_BY(value, ts) AS onset_value,
           MIN(history_points) AS history_points,
           MIN(first_ts) AS first_ts
    FROM islands
    GROUP BY resource, metric, episode
)
SELECT resource, metric, unit, provider, started_at, last_flagged_at, points, direction,
       onset_value, peak_value, baseline, spread, peak_z, history_points,
       DATEDIFF('second', first_ts, started_at) AS history_seconds
FROM episodes
WHERE points >= :confirm_points
   OR (ABS(peak_z) >= :z_spike
       AND LOWER(COALESCE(unit, '')) NOT IN ('ms', 'milliseconds', 's', 'seconds')
       AND LOWER(metric) NOT LIKE '%latency%' AND LOWER(metric) NOT LIKE '%response_time%')
ORDER BY started_at, resource, metric;
