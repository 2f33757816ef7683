-- Incidents in [since, until]: runs of at least min_failed_checks consecutive failed checks of
-- one target (gaps and islands). ended_at is the first passing check after the run, NULL
-- while the run goes on; reason is the first failed check's error or reason. Only targets
-- with a failure in the period are ordered (most have none, and the window is the cost).
-- @param since TIMESTAMP_NTZ = DATEADD('hour', -24, :now)
-- @param until TIMESTAMP_NTZ = :now
-- @param min_failed_checks INTEGER = 2
WITH failing AS (
    SELECT DISTINCT target
    FROM results
    WHERE ts >= :since AND ts <= :until AND NOT success
      AND NOT COALESCE(sentinel_offline, FALSE)
),
ordered AS (
    SELECT target, provider, ts, success, COALESCE(error, reason) AS why,
           LEAD(ts) OVER (PARTITION BY target ORDER BY ts) AS next_ts,
           SUM(IFF(success, 1, 0)) OVER (
               PARTITION BY target ORDER BY ts
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
           ) AS run_id
    FROM results
    WHERE ts >= :since AND ts <= :until AND NOT COALESCE(sentinel_offline, FALSE)
      AND target IN (SELECT target FROM failing)
),
runs AS (
    SELECT target,
           MAX(provider) AS provider,
           run_id,
           MIN(ts) AS started_at,
           MAX_BY(next_ts, ts) AS ended_at,
           COUNT(*) AS failed_checks,
           MIN_BY(why, ts) AS reason
    FROM ordered
    WHERE NOT success
    GROUP BY target, run_id
)
SELECT target, provider, started_at, ended_at, failed_checks, reason
FROM runs
WHERE failed_checks >= :min_failed_checks
ORDER BY started_at, target;
