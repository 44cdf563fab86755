-- Ownership by lease (see store.ts `Lease`): a run's owner id, the epoch that grows when the run changes hands,
-- and when the lease expires unless renewed. Runs that have not ended keep their heartbeat as the start of their
-- lease. Attempts record the owner and epoch that claimed them.
ALTER TABLE runs ADD COLUMN owner_id text;
ALTER TABLE runs ADD COLUMN lease_epoch integer NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN lease_expires_at double precision;
UPDATE runs SET lease_expires_at = heartbeat_at + 30000, owner_id = owner_host || ':' || owner_pid, lease_epoch = 1
  WHERE phase NOT IN ('succeeded','failed','aborted','timed_out');
ALTER TABLE attempts ADD COLUMN owner text;
ALTER TABLE attempts ADD COLUMN lease_epoch integer;
