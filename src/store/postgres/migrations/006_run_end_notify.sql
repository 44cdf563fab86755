-- A run's end is announced to whoever waits for it in another process (`Run.wait()`, `flyte run --remote --follow`,
-- `flyte get logs --follow`): whatever writes the terminal phase (the worker that executed a remote root, the
-- process that owns a local or hybrid run, a reaper, an abort), the trigger notifies `<project>/<domain>/<run>` on
-- the queue's channel (`flyte_action_done`, see src/queue/action-queue.ts; action keys there have four parts, run
-- keys three, so they never collide). PostgreSQL delivers it when the transaction commits, so a waiter that reads the
-- run on the notification sees its end.
CREATE FUNCTION flyte_notify_run_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('flyte_action_done', NEW.project || '/' || NEW.domain || '/' || NEW.name);
  RETURN NULL;
END
$$;
CREATE TRIGGER runs_notify_end AFTER UPDATE OF phase ON runs FOR EACH ROW
  WHEN (NEW.phase IN ('succeeded','failed','aborted','timed_out') AND OLD.phase IS DISTINCT FROM NEW.phase)
  EXECUTE FUNCTION flyte_notify_run_end();
