-- What the cache did for an action (hit, miss, overwrite, disabled) and the parts its key was computed from, as
-- JSON: shown by `Action.details().cache` and the web UI's action page.
ALTER TABLE actions ADD COLUMN cache text;
