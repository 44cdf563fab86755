-- The compute resources a call asked for (the task's, or a call site's override), as JSON: shown by
-- `flyte get action` and `details()`.
ALTER TABLE actions ADD COLUMN resources text;
