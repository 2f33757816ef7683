-- Ten-minute means of every metric series over the last 14 days (the last hour left out):
-- the training input of the SNOWFLAKE.ML models. SERIES is VARIANT, as the models require.
CREATE OR REPLACE VIEW nephos_ml_training AS
SELECT
    TO_VARIANT(instance || '/' || metric) AS series,
    TIME_SLICE(ts, 10, 'MINUTE') AS ts,
    AVG(value) AS value
FROM metrics
WHERE ts >= DATEADD('day', -14, CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP())::TIMESTAMP_NTZ)
  AND ts < DATEADD('hour', -1, CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP())::TIMESTAMP_NTZ)
GROUP BY 1, 2;

-- The last hour in the same shape: what the anomaly model judges on each run.
CREATE OR REPLACE VIEW nephos_ml_recent AS
SELECT
    TO_VARIANT(instance || '/' || metric) AS series,
    TIME_SLICE(ts, 10, 'MINUTE') AS ts,
    AVG(value) AS value
FROM metrics
WHERE ts >= DATEADD('hour', -1, CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP())::TIMESTAMP_NTZ)
GROUP BY 1, 2;

-- Forecasts made by the ML forecast model, 48 hours ahead in ten-minute steps.
CREATE TABLE IF NOT EXISTS ml_forecasts (
    made_at TIMESTAMP_NTZ NOT NULL,
    series VARIANT,
    ts TIMESTAMP_NTZ,
    forecast DOUBLE,
    lower_bound DOUBLE,
    upper_bound DOUBLE
);
