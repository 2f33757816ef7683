    -- {{statement}}: {{description}}
    INSERT INTO analytics_alerts (detected_at, source, statement, facts)
        SELECT :run_at, '{{source}}', '{{statement}}', OBJECT_CONSTRUCT(*)
        FROM (
{{sql}}
        ) AS found;
    inserted := inserted + SQLROWCOUNT;
