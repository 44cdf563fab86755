/**
 * Numbered, append-only schema migrations of the embedded SQLite store. They are compiled into the code
 * (never read from disk) and applied in order inside one transaction each; `PRAGMA user_version` records
 * the last one applied. Never edit a released migration: add a new one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "init",
    sql: `
      CREATE TABLE runs (
        name TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        domain TEXT NOT NULL,
        task_name TEXT NOT NULL,
        phase TEXT NOT NULL,
        mode TEXT NOT NULL,
        inputs BLOB,
        outputs BLOB,
        error TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL,
        owner_pid INTEGER,
        owner_host TEXT,
        heartbeat_at REAL,
        recover_from TEXT,
        abort_requested TEXT,
        labels TEXT NOT NULL DEFAULT '{}',
        source TEXT,
        options TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX runs_by_created ON runs (project, domain, created_at DESC);
      CREATE INDEX runs_active ON runs (phase) WHERE phase NOT IN ('succeeded','failed','aborted','timed_out');

      CREATE TABLE actions (
        run_name TEXT NOT NULL,
        name TEXT NOT NULL,
        parent TEXT,
        task_name TEXT NOT NULL,
        short_name TEXT NOT NULL,
        group_name TEXT,
        phase TEXT NOT NULL,
        cache_hit INTEGER NOT NULL DEFAULT 0,
        recovered INTEGER NOT NULL DEFAULT 0,
        inputs_hash TEXT NOT NULL,
        inputs BLOB,
        outputs BLOB,
        error TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL,
        report_uri TEXT,
        attempt_count INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (run_name, name)
      ) WITHOUT ROWID;

      CREATE TABLE attempts (
        run_name TEXT NOT NULL,
        action TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        phase TEXT NOT NULL,
        started_at REAL,
        ended_at REAL,
        error TEXT,
        PRIMARY KEY (run_name, action, attempt)
      ) WITHOUT ROWID;

      CREATE TABLE logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_name TEXT NOT NULL,
        action TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        time REAL NOT NULL,
        stream TEXT NOT NULL,
        message TEXT NOT NULL
      );
      CREATE INDEX logs_by_action ON logs (run_name, action, attempt, id);

      CREATE TABLE traces (
        run_name TEXT NOT NULL,
        action TEXT NOT NULL,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        output BLOB,
        error TEXT,
        duration_ms REAL NOT NULL,
        PRIMARY KEY (run_name, action, key)
      ) WITHOUT ROWID;

      CREATE TABLE cache_entries (
        key TEXT PRIMARY KEY,
        task_name TEXT NOT NULL,
        outputs BLOB NOT NULL,
        created_at REAL NOT NULL,
        run_name TEXT,
        action TEXT
      );
      CREATE INDEX cache_by_task ON cache_entries (task_name);
    `,
  },
  {
    version: 2,
    name: "action-interface",
    // The JSON schema of a task's inputs/output, kept beside the stored values so they can be shown and re-typed later.
    sql: `ALTER TABLE actions ADD COLUMN interface TEXT;`,
  },
  {
    version: 3,
    name: "recovery-claim",
    // A run recovering from another names the first run of its recoverFrom chain; at most one run that has not
    // ended may hold a chain's claim, so two recoveries never execute the same actions at once. The claim goes
    // with the run's end (or with its OwnerLost mark), because the index only covers runs that have not ended.
    sql: `
      ALTER TABLE runs ADD COLUMN recovery_claim TEXT;
      CREATE UNIQUE INDEX runs_recovery_claim ON runs (recovery_claim)
        WHERE recovery_claim IS NOT NULL AND phase NOT IN ('succeeded','failed','aborted','timed_out');
    `,
  },
  {
    version: 4,
    name: "leases",
    // Ownership by lease (see store.ts `Lease`): a run's owner id, the epoch that grows when the run changes hands,
    // and when the lease expires unless renewed. Runs of an older flyte-ts that have not ended keep their
    // heartbeat as the start of their lease. Attempts record the owner and epoch that claimed them.
    sql: `
      ALTER TABLE runs ADD COLUMN owner_id TEXT;
      ALTER TABLE runs ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE runs ADD COLUMN lease_expires_at REAL;
      UPDATE runs SET lease_expires_at = heartbeat_at + 30000, owner_id = owner_host || ':' || owner_pid, lease_epoch = 1
        WHERE phase NOT IN ('succeeded','failed','aborted','timed_out');
      ALTER TABLE attempts ADD COLUMN owner TEXT;
      ALTER TABLE attempts ADD COLUMN lease_epoch INTEGER;
    `,
  },
  {
    version: 5,
    name: "deployments",
    // `flyte deploy`: a deployment per version (its bundle and what it held), the task specs it registered, and
    // the triggers of those tasks (one per task and trigger name, pointing at the version that registered it).
    sql: `
      CREATE TABLE deployments (
        project TEXT NOT NULL,
        domain TEXT NOT NULL,
        version TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        bundle_uri TEXT,
        bundle_digest TEXT,
        copy_style TEXT NOT NULL,
        environments TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (project, domain, version)
      ) WITHOUT ROWID;

      CREATE TABLE task_specs (
        project TEXT NOT NULL,
        domain TEXT NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        environment TEXT NOT NULL,
        spec TEXT NOT NULL,
        created_at REAL NOT NULL,
        deployed_at REAL NOT NULL,
        PRIMARY KEY (project, domain, name, version)
      ) WITHOUT ROWID;
      CREATE INDEX task_specs_latest ON task_specs (project, domain, name, deployed_at DESC, version DESC);

      CREATE TABLE triggers (
        project TEXT NOT NULL,
        domain TEXT NOT NULL,
        task_name TEXT NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        spec TEXT NOT NULL,
        active INTEGER NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (project, domain, task_name, name)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 6,
    name: "action-resources",
    // The compute resources a call asked for (the task's, or a call site's override), as JSON: shown by
    // `flyte get action` and `details()`.
    sql: `ALTER TABLE actions ADD COLUMN resources TEXT;`,
  },
  {
    version: 7,
    name: "action-cache",
    // What the cache did for an action (hit, miss, overwrite, disabled) and the parts its key was computed from, as
    // JSON: shown by `Action.details().cache` and the web UI's action page.
    sql: `ALTER TABLE actions ADD COLUMN cache TEXT;`,
  },
  {
    version: 8,
    name: "trigger-fires",
    // `flyte serve`: when a trigger last became active (what a FixedRate without startTime counts from; null while
    // inactive), and one row per fire time a scheduler recorded, before it created the run. The key makes a fire
    // time recorded once, whichever of several schedulers gets there first; a fire whose run is not created yet
    // (`pending`) is claimed by a scheduler until `claim_expires_at`, and taken over by another after that (its
    // scheduler died between the two steps). Run names are unique across fires, as they are across runs.
    sql: `
      ALTER TABLE triggers ADD COLUMN activated_at REAL;
      UPDATE triggers SET activated_at = created_at WHERE active = 1;
      CREATE TABLE trigger_fires (
        project TEXT NOT NULL,
        domain TEXT NOT NULL,
        task_name TEXT NOT NULL,
        trigger_name TEXT NOT NULL,
        fire_time REAL NOT NULL,
        version TEXT NOT NULL,
        run_name TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        error TEXT,
        claimed_by TEXT,
        claim_expires_at REAL,
        recorded_at REAL NOT NULL,
        PRIMARY KEY (project, domain, task_name, trigger_name, fire_time)
      ) WITHOUT ROWID;
      CREATE INDEX trigger_fires_pending ON trigger_fires (claim_expires_at) WHERE state = 'pending';
    `,
  },
];
