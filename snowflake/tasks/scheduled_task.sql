-- {{comment}}. Created suspended; resumed below.
CREATE OR REPLACE TASK {{task}}
    {{warehouse}}
    SCHEDULE = '{{schedule}}'
    SUSPEND_TASK_AFTER_NUM_FAILURES = 3
    ALLOW_OVERLAPPING_EXECUTION = FALSE
    COMMENT = '{{comment}}'
AS
    CALL {{procedure}}();
