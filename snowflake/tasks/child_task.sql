-- {{comment}}: runs after {{after}}.
CREATE OR REPLACE TASK {{task}}
    {{warehouse}}
    COMMENT = '{{comment}}'
    AFTER {{after}}
AS
    CALL {{procedure}}();
