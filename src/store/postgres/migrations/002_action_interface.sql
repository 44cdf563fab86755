-- The JSON schema of a task's inputs/output, kept beside the stored values so they can be shown and re-typed later.
ALTER TABLE actions ADD COLUMN interface text;
