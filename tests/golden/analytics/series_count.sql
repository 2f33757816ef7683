-- How many series there are (not scheduled: no @alerts line).
SELECT COUNT(DISTINCT instance || '/' || metric) AS series FROM metrics
