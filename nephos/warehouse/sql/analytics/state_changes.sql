-- Checks in [since, until] whose health differs from the same target's check before: the
-- newest max_rows of them, newest first, each with the total count of changes in the window.
-- Only targets seen in more than one health are ordered (the window is the cost).
-- @param since TIMESTAMP_NTZ = DATEADD('hour', -24, :now)
-- @param until TIMESTAMP_NTZ = :now
-- @param max_rows INTEGER = 50
WITH changing AS (
    SELECT target
    FROM results
    WHERE ts >= :since AND ts <= :until AND NOT COALESCE(sentinel_offline, FALSE)
    GROUP BY target
    HAVING COUNT(DISTINCT health) > 1
),
ordered AS (
    SELECT target, ts, health, COALESCE(error, reason) AS why,
           LAG(health) OVER (PARTITION BY target ORDER BY ts) AS previous_health
    FROM results
    WHERE ts >= :since AND ts <= :until AND NOT COALESCE(sentinel_offline, FALSE)
      AND target IN (SELECT target FROM changing)
),
changes AS (
    SELECT target, ts, previous_health, health, why
    FROM ordered
    WHERE previous_health IS NOT NULL AND previous_health <> health
)
SELECT target, ts, previous_health, health, why, COUNT(*) OVER () AS total_changes
FROM changes
QUALIFY ROW_NUMBER() OVER (ORDER BY ts DESC, target) <= :max_rows
ORDER BY ts DESC, target;
