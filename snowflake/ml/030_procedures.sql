-- Judges the last hour with the anomaly model; each anomalous point becomes an alert row.
CREATE OR REPLACE PROCEDURE nephos_ml_detect_anomalies()
    RETURNS VARCHAR
    LANGUAGE SQL
    EXECUTE AS CALLER
AS
$$
DECLARE
    run_at TIMESTAMP_NTZ DEFAULT CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP())::TIMESTAMP_NTZ;
BEGIN
    INSERT INTO analytics_alerts (detected_at, source, statement, facts)
        SELECT :run_at, 'anomaly', 'ml_anomaly_detection', OBJECT_CONSTRUCT(*)
        FROM TABLE(nephos_anomaly_model!DETECT_ANOMALIES(
            INPUT_DATA => SYSTEM$REFERENCE('VIEW', 'nephos_ml_recent'),
            SERIES_COLNAME => 'SERIES',
            TIMESTAMP_COLNAME => 'TS',
            TARGET_COLNAME => 'VALUE',
            CONFIG_OBJECT => {'prediction_interval': 0.99, 'on_error': 'skip'}
        ))
        WHERE is_anomaly;
    RETURN 'ml anomaly: ' || SQLROWCOUNT || ' alert rows';
END;
$$;

-- Forecasts every series 48 hours ahead (288 ten-minute steps) into ml_forecasts.
CREATE OR REPLACE PROCEDURE nephos_ml_forecast()
    RETURNS VARCHAR
    LANGUAGE SQL
    EXECUTE AS CALLER
AS
$$
DECLARE
    run_at TIMESTAMP_NTZ DEFAULT CONVERT_TIMEZONE('UTC', CURRENT_TIMESTAMP())::TIMESTAMP_NTZ;
BEGIN
    INSERT INTO ml_forecasts (made_at, series, ts, forecast, lower_bound, upper_bound)
        SELECT :run_at, series, ts, forecast, lower_bound, upper_bound
        FROM TABLE(nephos_forecast_model!FORECAST(
            FORECASTING_PERIODS => 288,
            CONFIG_OBJECT => {'prediction_interval': 0.95}
        ));
    RETURN 'ml forecast: ' || SQLROWCOUNT || ' rows';
END;
$$;
