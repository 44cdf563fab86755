-- The cluster metadata store's first schema: the same tables as the embedded SQLite store's migration 1.
-- Times are epoch milliseconds (double precision), values are encoded literal bytes (bytea), records are JSON text.
CREATE TABLE runs (
  name text PRIMARY KEY,
  project text NOT NULL,
  domain text NOT NULL,
  task_name text NOT NULL,
  phase text NOT NULL,
  mode text NOT NULL,
  inputs bytea,
  outputs bytea,
  error text,
  created_at double precision NOT NULL,
  started_at double precision,
  ended_at double precision,
  owner_pid integer,
  owner_host text,
  heartbeat_at double precision,
  recover_from text,
  abort_requested text,
  labels text NOT NULL DEFAULT '{}',
  source text,
  options text NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_by_created ON runs (project, domain, created_at DESC);
CREATE INDEX runs_active ON runs (phase) WHERE phase NOT IN ('succeeded','failed','aborted','timed_out');

CREATE TABLE actions (
  run_name text NOT NULL,
  name text NOT NULL,
  parent text,
  task_name text NOT NULL,
  short_name text NOT NULL,
  group_name text,
  phase text NOT NULL,
  cache_hit boolean NOT NULL DEFAULT false,
  recovered boolean NOT NULL DEFAULT false,
  inputs_hash text NOT NULL,
  inputs bytea,
  outputs bytea,
  error text,
  created_at double precision NOT NULL,
  started_at double precision,
  ended_at double precision,
  report_uri text,
  attempt_count integer NOT NULL DEFAULT 0,
  PRIMARY KEY (run_name, name)
);

CREATE TABLE attempts (
  run_name text NOT NULL,
  action text NOT NULL,
  attempt integer NOT NULL,
  phase text NOT NULL,
  started_at double precision,
  ended_at double precision,
  error text,
  PRIMARY KEY (run_name, action, attempt)
);

CREATE TABLE logs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_name text NOT NULL,
  action text NOT NULL,
  attempt integer NOT NULL,
  time double precision NOT NULL,
  stream text NOT NULL,
  message text NOT NULL
);
CREATE INDEX logs_by_action ON logs (run_name, action, attempt, id);

CREATE TABLE traces (
  run_name text NOT NULL,
  action text NOT NULL,
  key text NOT NULL,
  name text NOT NULL,
  output bytea,
  error text,
  duration_ms double precision NOT NULL,
  PRIMARY KEY (run_name, action, key)
);

CREATE TABLE cache_entries (
  key text PRIMARY KEY,
  task_name text NOT NULL,
  outputs bytea NOT NULL,
  created_at double precision NOT NULL,
  run_name text,
  action text
);
CREATE INDEX cache_by_task ON cache_entries (task_name);
