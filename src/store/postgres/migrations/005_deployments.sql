-- `flyte deploy` (the same tables as the embedded SQLite store's migration 5): a deployment per version (its bundle
-- and what it held), the task specs it registered, and the triggers of those tasks (one per task and trigger name,
-- pointing at the version that registered it). Records are JSON text, times epoch milliseconds, as in 001. Names and
-- versions compare byte-wise (COLLATE "C", as SQLite does), so "latest" and listing order match the embedded store.
CREATE TABLE deployments (
  project text NOT NULL,
  domain text NOT NULL,
  version text COLLATE "C" NOT NULL,
  content_hash text NOT NULL,
  bundle_uri text,
  bundle_digest text,
  copy_style text NOT NULL,
  environments text NOT NULL,
  created_at double precision NOT NULL,
  PRIMARY KEY (project, domain, version)
);

CREATE TABLE task_specs (
  project text NOT NULL,
  domain text NOT NULL,
  name text COLLATE "C" NOT NULL,
  version text COLLATE "C" NOT NULL,
  environment text NOT NULL,
  spec text NOT NULL,
  created_at double precision NOT NULL,
  deployed_at double precision NOT NULL,
  PRIMARY KEY (project, domain, name, version)
);
CREATE INDEX task_specs_latest ON task_specs (project, domain, name, deployed_at DESC, version DESC);

CREATE TABLE triggers (
  project text NOT NULL,
  domain text NOT NULL,
  task_name text COLLATE "C" NOT NULL,
  name text COLLATE "C" NOT NULL,
  version text COLLATE "C" NOT NULL,
  spec text NOT NULL,
  active boolean NOT NULL,
  created_at double precision NOT NULL,
  PRIMARY KEY (project, domain, task_name, name)
);
