-- Unsupervised anomaly detection per series, trained on nephos_ml_training. Re-run
-- nephos snowflake init --with-ml to retrain.
CREATE OR REPLACE SNOWFLAKE.ML.ANOMALY_DETECTION nephos_anomaly_model(
    INPUT_DATA => SYSTEM$REFERENCE('VIEW', 'nephos_ml_training'),
    SERIES_COLNAME => 'SERIES',
    TIMESTAMP_COLNAME => 'TS',
    TARGET_COLNAME => 'VALUE',
    LABEL_COLNAME => ''
);

-- A forecast model per series, trained on nephos_ml_training.
CREATE OR REPLACE SNOWFLAKE.ML.FORECAST nephos_forecast_model(
    INPUT_DATA => SYSTEM$REFERENCE('VIEW', 'nephos_ml_training'),
    SERIES_COLNAME => 'SERIES',
    TIMESTAMP_COLNAME => 'TS',
    TARGET_COLNAME => 'VALUE'
);
