-- `flyte serve` (the same as the embedded SQLite store's migration 8): when a trigger last became active (what a
-- FixedRate without startTime counts from; null while inactive), and one row per fire time a scheduler recorded,
-- before it created the run. The key makes a fire time recorded once, whichever of several schedulers gets there
-- first; a fire whose run is not created yet (`pending`) is claimed by a scheduler until `claim_expires_at`, and
-- taken over by another after that (its scheduler died between the two steps). Run names are unique across fires,
-- as they are across runs.
ALTER TABLE triggers ADD COLUMN activated_at double precision;
UPDATE triggers SET activated_at = created_at WHERE active;

CREATE TABLE trigger_fires (
  project text NOT NULL,
  domain text NOT NULL,
  task_name text COLLATE "C" NOT NULL,
  trigger_name text COLLATE "C" NOT NULL,
  fire_time double precision NOT NULL,
  version text NOT NULL,
  run_name text NOT NULL UNIQUE,
  state text NOT NULL,
  error text,
  claimed_by text,
  claim_expires_at double precision,
  recorded_at double precision NOT NULL,
  PRIMARY KEY (project, domain, task_name, trigger_name, fire_time)
);
CREATE INDEX trigger_fires_pending ON trigger_fires (claim_expires_at) WHERE state = 'pending';
