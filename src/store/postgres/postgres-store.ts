/**
 * The cluster metadata store: PostgreSQL through a `pg` connection pool, implementing the `RunStore` port.
 * Open it with `openPostgresStore(url)`, which connects, migrates (under an advisory lock) and returns only
 * once the store is usable, or fails with an `InitializationError` that names the server and what to do.
 *
 * Runs write through the write batch (`writes`, see ../write-batch.ts), which this store commits in one
 * transaction per event-loop turn: rows of one kind go in one statement (`unnest` of array parameters), and
 * the runs whose writes are fenced by a lease are locked (`FOR UPDATE`) and checked first, so a reaper in
 * another process and a stale owner's commit are serialised. Every read first waits for the writes queued
 * before it, so a process always reads its own writes. Every statement is parameterised.
 */
import pg from "pg";
import { FlyteError, InitializationError, RunAlreadyExistsError, StoreError, type ErrorRecord } from "../../errors.ts";
import {
  TERMINAL_SQL, isTerminal, type ActionPhase, type ActionRow, type ActionSummary, type AttemptRow, type CacheEntry, type DeploymentRow, type Lease, type ListRunsQuery, type LogRow,
  type FireKey, type FireRow, type OwnerProbe, type PutDeploymentResult, type RunKey, type RunRow, type RunStore, type TaskSpecRow, type TraceRow, type TriggerRow,
} from "../store.ts";
import { WriteBatch, claimHolds, claimKey, lowestAttemptsWritten, type Durability, type PendingWrites } from "../write-batch.ts";
import { KeyLocks } from "../key-locks.ts";
import { LookupBatcher } from "../../internal/lookup-batcher.ts";
import { migrate } from "./migrations.ts";
import { DatabaseOutageError, whileReachable } from "./reconnect.ts";
import {
  ACTION_COLS, ACTION_KEYS, ACTION_SUMMARY_SQL, ATTEMPT_VALUES_SQL, RUN_COLS, RUN_JSON, actionFromDb, actionJsonValue, actionSummaryFromValues,
  attemptFromDb, attemptFromValues, bytes, json, num, parse, runFromDb, taskSpecFromDb, fireFromDb, type Row } from "../rows.ts";


/** How long opening the store may take to reach the server before it is reported unreachable. */
const CONNECT_TIMEOUT_MS = 4_500;

export interface PostgresStoreOptions {
  /** Connections in the pool (config `store.poolSize`); default 10. */
  poolSize?: number;
  /**
   * What a commit promises by default (config `execution.durability`): `full` waits for the server to flush its
   * WAL (`synchronous_commit = on`), `process` does not (`off`: a server crash may lose the last commits, never
   * corrupt anything). A batch holding writes of a run that asks for the other level sets it for its transaction.
   */
  durability?: Durability;
  /**
   * How long reads and commits wait for a database that went away (a restart) to come back before they fail;
   * default `FLYTE_DB_OUTAGE_MS` or 60 s. See reconnect.ts.
   */
  outageMs?: number;
}


const RUN_KEYS = Object.keys(RUN_COLS) as (keyof RunRow)[];

/** The SQL type of each action column, for the `unnest` of one array parameter per column. */
const ACTION_TYPES: Record<keyof ActionRow, string> = {
  runName: "text", name: "text", parent: "text", taskName: "text", shortName: "text", group: "text", phase: "text",
  cacheHit: "boolean", recovered: "boolean", inputsHash: "text", inputs: "bytea", outputs: "bytea", error: "text",
  createdAt: "float8", startedAt: "float8", endedAt: "float8", reportUri: "text", attemptCount: "integer", interface: "text",
  resources: "text", cache: "text",
};

/** `INSERT ... SELECT * FROM unnest($1::t1[], ...) ON CONFLICT (key) DO UPDATE SET` every other column. */
function upsertSql(table: string, cols: string[], types: string[], key: string[], conflict: "update" | "nothing" = "update"): string {
  const rest = cols.filter((c) => !key.includes(c));
  const onConflict = conflict === "nothing" || rest.length === 0 ? "" : ` ON CONFLICT (${key.join(", ")}) DO UPDATE SET ${rest.map((c) => `${c} = EXCLUDED.${c}`).join(", ")}`;
  return `INSERT INTO ${table} (${cols.join(", ")}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(", ")})${onConflict}`;
}

const UPSERT_ACTIONS = upsertSql("actions", ACTION_KEYS.map((k) => ACTION_COLS[k]), ACTION_KEYS.map((k) => ACTION_TYPES[k]), ["run_name", "name"]);
const UPSERT_ATTEMPTS = upsertSql(
  "attempts", ["run_name", "action", "attempt", "phase", "started_at", "ended_at", "error", "owner", "lease_epoch"],
  ["text", "text", "integer", "text", "float8", "float8", "text", "text", "integer"], ["run_name", "action", "attempt"],
);
const INSERT_LOGS = "INSERT INTO logs (run_name, action, attempt, time, stream, message) SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::float8[], $5::text[], $6::text[])";
const UPSERT_TRACES = upsertSql(
  "traces", ["run_name", "action", "key", "name", "output", "error", "duration_ms"], ["text", "text", "text", "text", "bytea", "text", "float8"], ["run_name", "action", "key"],
);
const UPSERT_CACHE = upsertSql(
  "cache_entries", ["key", "task_name", "outputs", "created_at", "run_name", "action"], ["text", "text", "bytea", "float8", "text", "text"], ["key"],
);

const actionValue = actionJsonValue;

const runValue = (k: string, v: unknown): unknown => (RUN_JSON.has(k) ? json(v) : v ?? null);

/** Columns of rows, as one array per column (the parameters of an `unnest`). */
function columns<T>(rows: readonly T[], get: ((r: T) => unknown)[]): unknown[][] {
  const out = get.map(() => new Array<unknown>(rows.length));
  rows.forEach((r, i) => get.forEach((g, c) => (out[c]![i] = g(r))));
  return out;
}

/** The last row of each key (what a sequence of `INSERT OR REPLACE` leaves). */
function lastPerKey<T>(rows: readonly T[], key: (r: T) => string): T[] {
  const m = new Map<string, T>();
  for (const r of rows) m.set(key(r), r);
  return [...m.values()];
}

function deploymentFromDb(r: Row): DeploymentRow {
  return {
    project: r.project as string, domain: r.domain as string, version: r.version as string, contentHash: r.content_hash as string,
    bundleUri: (r.bundle_uri as string | null) ?? null, bundleDigest: (r.bundle_digest as string | null) ?? null,
    copyStyle: r.copy_style as DeploymentRow["copyStyle"], environments: JSON.parse(r.environments as string) as DeploymentRow["environments"],
    createdAt: r.created_at as number,
  };
}

function triggerFromDb(r: Row): TriggerRow {
  return {
    project: r.project as string, domain: r.domain as string, taskName: r.task_name as string, name: r.name as string, version: r.version as string,
    spec: JSON.parse(r.spec as string) as Record<string, unknown>, active: r.active === true, activatedAt: (r.activated_at as number | null) ?? null,
    createdAt: r.created_at as number,
  };
}

/** The latest version of a task: most recently deployed, then the greatest version (byte-wise, as in SQLite). */
const LATEST_TASK = "SELECT * FROM task_specs WHERE project = $1 AND domain = $2 AND name = $3 ORDER BY deployed_at DESC, version DESC LIMIT 1";

/** Where a database URL points, without its password: `postgres://user@host:port/db`. */
export interface DatabaseTarget {
  url: string;
  host: string;
  port: number;
  user: string;
  database: string;
  /** The URL with the password left out (for messages, `location`). */
  shown: string;
}

/** Parses and checks a `postgres://` URL; a malformed one is an `InitializationError` saying what is expected. */
export function databaseTarget(url: string): DatabaseTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InitializationError(
      `The database URL ${JSON.stringify(redact(url))} is not a URL. Use postgres://user:password@host:5432/database in store.databaseUrl or FLYTE_DATABASE_URL.`,
      { code: "BadConfig" },
    );
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw new InitializationError(
      `The database URL ${JSON.stringify(redact(url))} is not a PostgreSQL URL (it starts with ${u.protocol}//). Use postgres://user:password@host:5432/database.`,
      { code: "BadConfig" },
    );
  }
  const host = decodeURIComponent(u.hostname) || "localhost";
  const port = u.port ? Number(u.port) : 5432;
  const user = decodeURIComponent(u.username) || process.env.PGUSER || "postgres";
  const database = decodeURIComponent(u.pathname.replace(/^\//, "")) || user;
  const shown = new URL(url);
  shown.password = "";
  return { url, host, port, user, database, shown: shown.href };
}

function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, "$1***@");
}

/** Translates a failure to connect into what to do about it. */
/** The error `init()` gives when PostgreSQL at `url` cannot be reached (`e`: the last failure). */
export function databaseUnreachable(url: string, e: unknown): InitializationError {
  return connectError(databaseTarget(url), e);
}

function connectError(t: DatabaseTarget, e: unknown): InitializationError {
  const code = (e as { code?: string }).code ?? "";
  const msg = e instanceof Error ? e.message : String(e);
  const at = `${t.host}:${t.port}`;
  if (code === "28P01" || code === "28000") {
    return new InitializationError(
      `PostgreSQL at ${at} refused user "${t.user}" (${msg}). Fix the user and password in store.databaseUrl (or FLYTE_DATABASE_URL), ` +
        `or create the role on the server: CREATE ROLE "${t.user}" LOGIN PASSWORD '...';`,
      { cause: e, code: "DatabaseAuthFailed" },
    );
  }
  if (code === "3D000") {
    return new InitializationError(
      `PostgreSQL at ${at} has no database "${t.database}" (${msg}). Create it (createdb -h ${t.host} -p ${t.port} -U ${t.user} ${t.database}) or fix the database name in store.databaseUrl.`,
      { cause: e, code: "DatabaseNotFound" },
    );
  }
  return new InitializationError(
    `Cannot reach PostgreSQL at ${at} (${msg || code || "no answer"}). Check that the database server is running and that store.databaseUrl (or FLYTE_DATABASE_URL) names its host and port.`,
    { cause: e, code: "DatabaseUnreachable" },
  );
}

/** Translates PostgreSQL failures during use into messages that say which database and what to do. */
/** How often a cache key held by another process is tried again. */
const CACHE_LOCK_RETRY_MS = 100;

function storeError(where: string, e: unknown): StoreError {
  if (e instanceof StoreError) return e;
  const code = (e as { code?: string }).code ?? "";
  const msg = e instanceof Error ? e.message : String(e);
  if (code === "53100" || code === "ENOSPC") {
    return new StoreError(`The database ${where} is full (${msg}): the server's disk has no space left. Free space on the database server, then recover the run.`, { cause: e, code: "StoreFull" });
  }
  if (e instanceof DatabaseOutageError) {
    return new StoreError(
      `Lost the connection to the database ${where} and it did not come back within ${Math.round(e.waitedMs / 100) / 10} s (${msg}). Check that the server is up; the run can be recovered once it is.`,
      { cause: e.lastError, code: "StoreUnavailable" },
    );
  }
  if (code.startsWith("08") || code === "57P01" || code === "57P03" || code === "ECONNREFUSED" || code === "ECONNRESET" || /Connection terminated/.test(msg)) {
    return new StoreError(`Lost the connection to the database ${where} (${msg}). Check that the server is up; the run can be recovered once it is.`, { cause: e, code: "StoreUnavailable" });
  }
  return new StoreError(`The database ${where} failed: ${msg}`, { cause: e });
}

/**
 * Replaces the triggers of each deployed task by `triggers` (within the caller's transaction), keeping the
 * activation state of those it had (what `flyte update trigger` set survives a redeploy), and removes the triggers
 * of tasks that the deployed environments held before but no longer declare.
 */
async function replaceTriggers(c: pg.PoolClient, d: DeploymentRow, tasks: TaskSpecRow[], triggers: TriggerRow[]): Promise<void> {
  const kept = new Map<string, Row>();
  for (const t of tasks) {
    const r = await c.query("DELETE FROM triggers WHERE project = $1 AND domain = $2 AND task_name = $3 RETURNING *", [t.project, t.domain, t.name]);
    for (const row of r.rows as Row[]) kept.set(`${row.task_name as string}\0${row.name as string}`, row);
  }
  for (const e of d.environments) {
    await c.query(
      `DELETE FROM triggers WHERE project = $1 AND domain = $2 AND task_name <> ALL($4::text[])
         AND task_name IN (SELECT name FROM task_specs WHERE project = $1 AND domain = $2 AND environment = $3)`,
      [d.project, d.domain, e.name, e.tasks],
    );
  }
  for (const g of triggers) {
    const old = kept.get(`${g.taskName}\0${g.name}`);
    await c.query(
      `INSERT INTO triggers (project, domain, task_name, name, version, spec, active, activated_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (project, domain, task_name, name) DO UPDATE SET version = EXCLUDED.version, spec = EXCLUDED.spec,
           active = EXCLUDED.active, activated_at = EXCLUDED.activated_at, created_at = EXCLUDED.created_at`,
      [g.project, g.domain, g.taskName, g.name, g.version, JSON.stringify(g.spec), old ? old.active === true : g.active,
        old ? ((old.activated_at as number | null) ?? null) : g.activatedAt, old ? (old.created_at as number) : g.createdAt],
    );
  }
}

export class PostgresStore implements RunStore {
  readonly location: string;
  readonly writes: WriteBatch;
  readonly #pool: pg.Pool;
  /** The connections' `synchronous_commit` outside a batch of the other level (see `PostgresStoreOptions.durability`). */
  readonly #durable: boolean;
  readonly #outageMs: number | undefined;
  #closed: Promise<void> | undefined;
  /** Cache keys held by callers in this process (see `lockCacheKey`), and the session that holds them in PostgreSQL. */
  readonly #cacheLocks = new KeyLocks();
  #locks: Promise<pg.Client> | undefined;
  /**
   * Point reads of runs and actions made together (a worker starting dozens of actions, a parent woken for
   * dozens of children) share one statement: on a busy cluster the round trips, not the rows, are the cost.
   */
  readonly #runLookups = new LookupBatcher<RunKey, RunRow | undefined>((keys) => this.#fetchRuns(keys), runKeyId, undefined);
  readonly #actionLookups = new LookupBatcher<[string, string], ActionRow | undefined>((keys) => this.#fetchActions(keys), (k) => claimKey(k[0], k[1]), undefined);

  private constructor(target: DatabaseTarget, pool: pg.Pool, durability: Durability, outageMs: number | undefined) {
    this.location = target.shown;
    this.#pool = pool;
    this.#outageMs = outageMs;
    this.#durable = durability === "full";
    this.writes = new WriteBatch((w) => this.#commit(w), (e) => storeError(this.location, e), undefined, durability);
  }

  /** Connects, migrates and returns the store (see `openPostgresStore`). */
  static async open(url: string, o: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const t = databaseTarget(url);
    const poolSize = o.poolSize ?? 10;
    const durability = o.durability ?? "full";
    if (!Number.isInteger(poolSize) || poolSize < 1) {
      throw new InitializationError(`store.poolSize must be a whole number >= 1, got ${String(poolSize)}.`, { code: "BadConfig" });
    }
    const pool = new pg.Pool({
      connectionString: url, max: poolSize, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, idleTimeoutMillis: 30_000,
      application_name: "flyte-ts",
      // Direct writes (createRun, leases, abort requests) and batches of the default level commit with this.
      options: `-c synchronous_commit=${durability === "full" ? "on" : "off"}`,
      // bigint (log ids) as a number: ids stay far below 2^53.
      types: { getTypeParser: ((oid: number, format?: "text" | "binary") => (oid === 20 ? Number : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser },
    });
    // A connection that breaks while idle (the server restarted) is dropped from the pool; the next query reconnects.
    pool.on("error", () => undefined);
    // A checked-out connection that breaks between two statements of a transaction emits 'error' on its client,
    // which the pool does not listen to then: unhandled, it ended the process. The statement fails instead.
    pool.on("connect", (c) => c.on("error", () => undefined));
    let client: pg.PoolClient;
    try {
      client = await Promise.race([
        pool.connect(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS + 300).unref()),
      ]);
    } catch (e) {
      void pool.end().catch(() => undefined);
      throw connectError(t, e);
    }
    try {
      await migrate(client, t.shown);
    } catch (e) {
      client.release();
      await pool.end().catch(() => undefined);
      if (e instanceof FlyteError) throw e;
      throw new InitializationError(`Cannot prepare the database ${t.shown}: ${(e as Error).message}`, { cause: e, code: "MigrationFailed" });
    }
    client.release();
    return new PostgresStore(t, pool, durability, o.outageMs);
  }

  /** `fn`, tried again on a new connection while the database is restarting (see reconnect.ts). */
  #reconnecting<T>(fn: () => Promise<T>): Promise<T> {
    return whileReachable(fn, { ...(this.#outageMs !== undefined ? { outageMs: this.#outageMs } : {}), stop: () => this.#closed !== undefined });
  }

  /**
   * Applies one batch of the write batch in one transaction; returns the runs refused by their lease. A batch
   * cut off by a database restart is applied again once the server is back: its rows are upserts and patches, so a batch whose COMMIT reached the server just
   * before the connection broke is applied again unchanged (only its log lines would then be stored twice).
   */
  #commit(w: PendingWrites): Promise<ReadonlySet<string>> {
    return this.#reconnecting(() => this.#commitOnce(w));
  }

  async #commitOnce(w: PendingWrites): Promise<ReadonlySet<string>> {
    const refused = new Set<string>();
    const c = await this.#pool.connect();
    try {
      await c.query("BEGIN");
      // "full" waits for the server's WAL flush; "process" returns once the server has the transaction.
      if (w.durable !== this.#durable) await c.query(`SET LOCAL synchronous_commit = ${w.durable ? "on" : "off"}`);
      const fenced = [...w.runs].filter((e): e is [string, Lease] => e[1] !== undefined);
      if (fenced.length > 0) {
        const r = await c.query<{ name: string; owner_id: string | null; lease_epoch: number }>(
          "SELECT name, owner_id, lease_epoch FROM runs WHERE name = ANY($1::text[]) ORDER BY name FOR UPDATE",
          [fenced.map(([run]) => run)],
        );
        const current = new Map(r.rows.map((x) => [x.name, x]));
        for (const [run, lease] of fenced) {
          const x = current.get(run);
          if (!x || x.owner_id !== lease.owner || x.lease_epoch !== lease.epoch) refused.add(run);
        }
      }
      // A claimed action's row is locked first: a takeover and the lost claimant's late completion serialise on it.
      if (w.claims.size > 0) {
        // Every claimed action with its latest attempt, in one statement (a batch may end dozens of actions).
        const claims = [...w.claims.values()];
        const r = await c.query<{ run_name: string; name: string; phase: string; attempt: number | null; owner: string | null; attempt_phase: string | null }>(
          `SELECT a.run_name, a.name, a.phase, t.attempt, t.owner, t.phase AS attempt_phase
             FROM actions a
             LEFT JOIN LATERAL (SELECT attempt, owner, phase FROM attempts WHERE run_name = a.run_name AND action = a.name ORDER BY attempt DESC LIMIT 1) t ON true
            WHERE (a.run_name, a.name) IN (SELECT * FROM unnest($1::text[], $2::text[]))
            ORDER BY a.run_name, a.name
              FOR UPDATE OF a`,
          [claims.map((x) => x.runName), claims.map((x) => x.action)],
        );
        const found = new Map(r.rows.map((x) => [claimKey(x.run_name, x.name), x]));
        const lowest = lowestAttemptsWritten(w);
        for (const [key, claim] of w.claims) {
          const x = found.get(key);
          const latest = x && x.attempt !== null ? { attempt: Number(x.attempt), owner: x.owner, ended: isTerminal(x.attempt_phase as ActionPhase) } : undefined;
          if (!claimHolds(claim, x !== undefined && isTerminal(x.phase as ActionPhase), latest, lowest.get(key))) refused.add(key);
        }
      }
      const ok = (run: string) => !refused.has(run);
      // Writes of an action whose claim no longer holds are dropped with it.
      const okAction = (run: string, action: string | null) => ok(run) && (action === null || !refused.has(claimKey(run, action)));
      for (const { key, patch } of w.runPatches.values()) {
        if (!ok(key.name)) continue;
        const keys = Object.keys(patch) as (keyof RunRow)[];
        if (keys.length === 0) continue;
        await c.query(
          `UPDATE runs SET ${keys.map((k, i) => `${RUN_COLS[k]} = $${i + 1}`).join(", ")} WHERE name = $${keys.length + 1}`,
          [...keys.map((k) => runValue(k, patch[k])), key.name],
        );
      }
      const full: ActionRow[] = [];
      for (const a of w.actions.values()) {
        if (!okAction(a.runName, a.name)) continue;
        if (a.full) full.push(a.full);
        else if (a.patch) {
          const patch = a.patch;
          const keys = Object.keys(patch) as (keyof ActionRow)[];
          if (keys.length === 0) continue;
          await c.query(
            `UPDATE actions SET ${keys.map((k, i) => `${ACTION_COLS[k]} = $${i + 1}`).join(", ")} WHERE run_name = $${keys.length + 1} AND name = $${keys.length + 2}`,
            [...keys.map((k) => actionValue(k, patch[k])), a.runName, a.name],
          );
        }
      }
      if (full.length > 0) await c.query(UPSERT_ACTIONS, columns(full, ACTION_KEYS.map((k) => (r: ActionRow) => actionValue(k, r[k]))));
      const attempts = [...w.attempts.values()].filter((r) => okAction(r.runName, r.action));
      if (attempts.length > 0) {
        await c.query(UPSERT_ATTEMPTS, columns(attempts, [
          (r) => r.runName, (r) => r.action, (r) => r.attempt, (r) => r.phase, (r) => r.startedAt, (r) => r.endedAt, (r) => json(r.error), (r) => r.owner, (r) => r.leaseEpoch,
        ]));
      }
      const logs = w.logs.filter((r) => okAction(r.runName, r.action));
      if (logs.length > 0) {
        await c.query(INSERT_LOGS, columns<LogRow>(logs, [(r) => r.runName, (r) => r.action, (r) => r.attempt, (r) => r.time, (r) => r.stream, (r) => r.message]));
      }
      const traces = lastPerKey(w.traces.filter((r) => okAction(r.runName, r.action)), (r) => `${r.runName}\u0000${r.action}\u0000${r.key}`);
      if (traces.length > 0) {
        await c.query(UPSERT_TRACES, columns<TraceRow>(traces, [
          (r) => r.runName, (r) => r.action, (r) => r.key, (r) => r.name, (r) => r.output, (r) => json(r.error), (r) => r.durationMs,
        ]));
      }
      const cache = lastPerKey(w.cache.filter((e) => e.runName === null || ok(e.runName)), (e) => e.key);
      if (cache.length > 0) {
        await c.query(UPSERT_CACHE, columns<CacheEntry>(cache, [(e) => e.key, (e) => e.taskName, (e) => e.outputs, (e) => e.createdAt, (e) => e.runName, (e) => e.action]));
      }
      await c.query("COMMIT");
      return refused;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  /** Reads after the queued writes are committed (a failed commit is the writing runs' business, not the reader's). */
  #read<T>(fn: (db: pg.Pool) => Promise<T>): Promise<T> {
    return this.#readRows(true, fn);
  }

  /**
   * Point reads of rows: they wait for a commit only when this process is writing one of those rows (`writing`),
   * so a worker starting actions other processes wrote does not queue its reads behind its own commits.
   */
  async #readRows<T>(flush: boolean, fn: (db: pg.Pool) => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreError(`The store ${this.location} is closed.`);
    if (flush) await this.writes.flush();
    try {
      return await this.#reconnecting(() => fn(this.#pool));
    } catch (e) {
      throw e instanceof FlyteError ? e : storeError(this.location, e);
    }
  }

  /** Runs `fn` in one transaction on one connection. */
  async #transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.#pool.connect();
    try {
      await c.query("BEGIN");
      const r = await fn(c);
      await c.query("COMMIT");
      return r;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  createRun(row: RunRow, recoveryClaim?: string): Promise<string | undefined> {
    // Inserted at once, so a duplicate name (or a held claim) fails at the caller, not in a later batch.
    return this.#read((db) => this.#insertRun(db, row, recoveryClaim));
  }

  async #insertRun(db: pg.Pool, row: RunRow, recoveryClaim: string | undefined): Promise<string | undefined> {
    const cols = [...RUN_KEYS.map((k) => RUN_COLS[k]), "recovery_claim"];
    const sql = `INSERT INTO runs (${cols.join(", ")}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(", ")})`;
    try {
      await db.query(sql, [...RUN_KEYS.map((k) => runValue(k, row[k])), recoveryClaim ?? null]);
      return undefined;
    } catch (e) {
      const { code, constraint } = e as { code?: string; constraint?: string };
      if (code !== "23505") throw e;
      if (recoveryClaim !== undefined && constraint === "runs_recovery_claim") {
        const holder = await db.query<{ name: string }>(`SELECT name FROM runs WHERE recovery_claim = $1 AND phase NOT IN ${TERMINAL_SQL}`, [recoveryClaim]);
        // The holder ended between the failed insert and this read: the claim is free now.
        return holder.rows[0] ? holder.rows[0].name : this.#insertRun(db, row, recoveryClaim);
      }
      const other = (await db.query<{ project: string; domain: string }>("SELECT project, domain FROM runs WHERE name = $1", [row.name])).rows[0];
      throw new RunAlreadyExistsError(
        `A run named "${row.name}" already exists in ${other?.project ?? row.project}/${other?.domain ?? row.domain}. Choose another name, or omit it to get a generated one.`,
      );
    }
  }

  getRun(key: RunKey): Promise<RunRow | undefined> {
    if (this.#closed) return Promise.reject(new StoreError(`The store ${this.location} is closed.`));
    return this.#runLookups.get(key);
  }

  /** Runs by key, in one statement (see `#runLookups`). */
  #fetchRuns(keys: RunKey[]): Promise<Map<string, RunRow>> {
    return this.#readRows(keys.some((k) => this.writes.writing(k.name)), async (db) => {
      const r = await db.query(
        "SELECT * FROM runs WHERE (name, project, domain) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))",
        [keys.map((k) => k.name), keys.map((k) => k.project), keys.map((k) => k.domain)],
      );
      return new Map((r.rows as Row[]).map((x) => { const row = runFromDb(x); return [runKeyId(row), row]; }));
    });
  }

  listRuns(scope: { project: string; domain: string }, q: ListRunsQuery = {}): Promise<RunRow[]> {
    return this.#read(async (db) => {
      const args: unknown[] = [scope.project, scope.domain];
      const where = ["project = $1", "domain = $2"];
      const arg = (v: unknown) => `$${args.push(v)}`;
      if (q.phase) where.push(`phase = ${arg(q.phase)}`);
      if (q.task) where.push(`strpos(task_name, ${arg(q.task)}) > 0`);
      if (q.label) where.push(`(labels::jsonb ->> ${arg(q.label[0])}) = ${arg(q.label[1])}`);
      const r = await db.query(`SELECT * FROM runs WHERE ${where.join(" AND ")} ORDER BY created_at DESC LIMIT ${arg(q.limit ?? 20)}`, args);
      return (r.rows as Row[]).map(runFromDb);
    });
  }

  requestAbort(key: RunKey, reason: string): Promise<boolean> {
    return this.#read(async (db) => {
      const r = await db.query(
        `UPDATE runs SET abort_requested = $1 WHERE name = $2 AND project = $3 AND domain = $4 AND phase NOT IN ${TERMINAL_SQL}`,
        [reason, key.name, key.project, key.domain],
      );
      return (r.rowCount ?? 0) > 0;
    });
  }

  renewLease(key: RunKey, lease: Lease, ttlMs: number): Promise<{ lease: Lease; abortRequested: string | null } | undefined> {
    return this.#read(async (db) => {
      const now = Date.now();
      const renewed = { ...lease, expiresAt: now + ttlMs };
      const r = await db.query<{ abort_requested: string | null }>(
        "UPDATE runs SET lease_expires_at = $1, heartbeat_at = $2 WHERE name = $3 AND owner_id = $4 AND lease_epoch = $5 RETURNING abort_requested",
        [renewed.expiresAt, now, key.name, lease.owner, lease.epoch],
      );
      const row = r.rows[0];
      return row ? { lease: renewed, abortRequested: row.abort_requested ?? null } : undefined;
    });
  }

  expireQueued(runName: string, action: string, e: { attemptCount: number; phase: ActionPhase; error: ErrorRecord; at: number; owner: string }): Promise<boolean> {
    // The UPDATE locks the action's row: a worker's commit of the attempt's start (which locks it too, see
    // #commitOnce) goes either before (the action is running: nothing expires) or after (its claim is refused).
    return this.#read(() => this.#transaction(async (c) => {
      const error = JSON.stringify(e.error);
      const u = await c.query(
        "UPDATE actions SET phase = $1, error = $2, ended_at = $3, attempt_count = $4 WHERE run_name = $5 AND name = $6 AND phase = 'queued' AND attempt_count = $7",
        [e.phase, error, e.at, e.attemptCount + 1, runName, action, e.attemptCount],
      );
      if ((u.rowCount ?? 0) === 0) return false;
      await c.query(
        `INSERT INTO attempts (run_name, action, attempt, phase, started_at, ended_at, error, owner, lease_epoch) VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, 0)
           ON CONFLICT (run_name, action, attempt) DO UPDATE SET phase = EXCLUDED.phase, started_at = NULL, ended_at = EXCLUDED.ended_at, error = EXCLUDED.error, owner = EXCLUDED.owner`,
        [runName, action, e.attemptCount, e.phase, e.at, error, e.owner],
      );
      return true;
    }));
  }

  reapLostRuns(isLost: (r: OwnerProbe) => boolean, error: (run: string) => ErrorRecord): Promise<string[]> {
    return this.#read(async (db) => {
      const active = await db.query(`SELECT name, owner_id, owner_pid, owner_host, lease_expires_at FROM runs WHERE phase NOT IN ${TERMINAL_SQL}`);
      const lost = (active.rows as Row[]).filter((r) =>
        isLost({ name: r.name as string, ownerId: (r.owner_id as string | null) ?? null, ownerPid: num(r.owner_pid), ownerHost: (r.owner_host as string | null) ?? null, leaseExpiresAt: num(r.lease_expires_at) }),
      );
      if (lost.length === 0) return [];
      const now = Date.now();
      return this.#transaction(async (c) => {
        const reaped: string[] = [];
        for (const r of lost) {
          const name = r.name as string;
          const record = JSON.stringify(error(name));
          // Only if the run is still held by the owner that was judged lost: another reaper (or the owner's own
          // renewal) may have got there first. A new epoch and no owner: whatever the lost owner still tries to
          // write is refused (see WriteBatch).
          const u = await c.query(
            `UPDATE runs SET phase = 'failed', error = $1, ended_at = $2, owner_id = NULL, lease_epoch = lease_epoch + 1, lease_expires_at = NULL
               WHERE name = $3 AND phase NOT IN ${TERMINAL_SQL} AND owner_id IS NOT DISTINCT FROM $4 AND lease_expires_at IS NOT DISTINCT FROM $5`,
            [record, now, name, r.owner_id ?? null, r.lease_expires_at ?? null],
          );
          if ((u.rowCount ?? 0) === 0) continue;
          await c.query(`UPDATE actions SET phase = 'failed', error = $1, ended_at = $2 WHERE run_name = $3 AND phase NOT IN ${TERMINAL_SQL}`, [record, now, name]);
          await c.query(`UPDATE attempts SET phase = 'failed', error = $1, ended_at = $2 WHERE run_name = $3 AND phase NOT IN ${TERMINAL_SQL}`, [record, now, name]);
          reaped.push(name);
        }
        return reaped;
      });
    });
  }

  getAction(runName: string, name: string): Promise<ActionRow | undefined> {
    if (this.#closed) return Promise.reject(new StoreError(`The store ${this.location} is closed.`));
    return this.#actionLookups.get([runName, name]);
  }

  /** Actions by run and name, in one statement (see `#actionLookups`). */
  #fetchActions(keys: [string, string][]): Promise<Map<string, ActionRow>> {
    return this.#readRows(keys.some((k) => this.writes.writing(k[0], k[1])), async (db) => {
      const r = await db.query(
        "SELECT * FROM actions WHERE (run_name, name) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        [keys.map((k) => k[0]), keys.map((k) => k[1])],
      );
      return new Map((r.rows as Row[]).map((x) => { const row = actionFromDb(x); return [claimKey(row.runName, row.name), row]; }));
    });
  }

  listActions(runName: string): Promise<ActionRow[]> {
    return this.#read(async (db) => ((await db.query("SELECT * FROM actions WHERE run_name = $1 ORDER BY created_at, name", [runName])).rows as Row[]).map(actionFromDb));
  }

  listActionSummaries(runName: string): Promise<ActionSummary[]> {
    // Rows as arrays of column values (no object per row: a 10,000-action tree is read in about half the time).
    return this.#read(async (db) => {
      const r = await db.query({ text: `SELECT ${ACTION_SUMMARY_SQL} FROM actions WHERE run_name = $1 ORDER BY created_at, name`, values: [runName], rowMode: "array" });
      return (r.rows as unknown[][]).map(actionSummaryFromValues);
    });
  }

  listSucceeded(runName: string): Promise<Array<Pick<ActionRow, "name" | "inputsHash" | "outputs">>> {
    return this.#read(async (db) => {
      const r = await db.query("SELECT name, inputs_hash, outputs FROM actions WHERE run_name = $1 AND phase = 'succeeded'", [runName]);
      return (r.rows as Row[]).map((x) => ({ name: x.name as string, inputsHash: x.inputs_hash as string, outputs: bytes(x.outputs) }));
    });
  }

  listAttempts(runName: string, action?: string): Promise<AttemptRow[]> {
    return this.#read(async (db) => {
      if (action) return ((await db.query("SELECT * FROM attempts WHERE run_name = $1 AND action = $2 ORDER BY attempt", [runName, action])).rows as Row[]).map(attemptFromDb);
      const r = await db.query({ text: `SELECT ${ATTEMPT_VALUES_SQL} FROM attempts WHERE run_name = $1 ORDER BY action, attempt`, values: [runName], rowMode: "array" });
      return (r.rows as unknown[][]).map((v) => attemptFromValues(runName, v));
    });
  }

  readLogs(runName: string, q: { action?: string; attempt?: number; afterId?: number } = {}): Promise<Array<LogRow & { id: number }>> {
    return this.#read(async (db) => {
      const args: unknown[] = [runName, q.afterId ?? 0];
      const where = ["run_name = $1", "id > $2"];
      if (q.action !== undefined) where.push(`action = $${args.push(q.action)}`);
      if (q.attempt !== undefined) where.push(`attempt = $${args.push(q.attempt)}`);
      const r = await db.query(`SELECT * FROM logs WHERE ${where.join(" AND ")} ORDER BY id`, args);
      return (r.rows as Row[]).map((x) => ({
        id: x.id as number, runName: x.run_name as string, action: x.action as string, attempt: x.attempt as number,
        time: x.time as number, stream: x.stream as LogRow["stream"], message: x.message as string,
      }));
    });
  }

  getTrace(runName: string, action: string, key: string): Promise<TraceRow | undefined> {
    return this.#read(async (db) => {
      const x = (await db.query("SELECT * FROM traces WHERE run_name = $1 AND action = $2 AND key = $3", [runName, action, key])).rows[0] as Row | undefined;
      if (!x) return undefined;
      return {
        runName: x.run_name as string, action: x.action as string, key: x.key as string, name: x.name as string,
        output: bytes(x.output), error: parse<ErrorRecord>(x.error), durationMs: x.duration_ms as number,
      };
    });
  }

  getCache(key: string): Promise<CacheEntry | undefined> {
    return this.#read(async (db) => {
      const x = (await db.query("SELECT * FROM cache_entries WHERE key = $1", [key])).rows[0] as Row | undefined;
      if (!x) return undefined;
      return {
        key: x.key as string, taskName: x.task_name as string, outputs: x.outputs as Uint8Array, createdAt: x.created_at as number,
        runName: (x.run_name as string | null) ?? null, action: (x.action as string | null) ?? null,
      };
    });
  }

  /**
   * A session advisory lock on the key, held by this store's lock connection (one per store, outside the pool, so
   * that a thousand held keys cost one connection): PostgreSQL grants a key to one session at a time, and a process
   * that dies closes its session, which releases its keys. A key held elsewhere is tried again every
   * `CACHE_LOCK_RETRY_MS`; callers in this process queue in front of that (a session may take its own lock twice).
   */
  async lockCacheKey(key: string, signal?: AbortSignal): Promise<() => Promise<void>> {
    if (this.#closed) throw new StoreError(`The store ${this.location} is closed.`);
    const releaseHere = await this.#cacheLocks.lock(key, signal);
    const lockKey = `flyte-cache:${key}`;
    try {
      for (;;) {
        const c = await this.#lockSession();
        const r = await c.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok", [lockKey]);
        if (r.rows[0]!.ok) break;
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          }, CACHE_LOCK_RETRY_MS);
          const onAbort = (): void => {
            clearTimeout(t);
            reject(signal!.reason);
          };
          signal?.addEventListener("abort", onAbort, { once: true });
        });
      }
    } catch (e) {
      await releaseHere();
      if (signal?.aborted) throw signal.reason;
      throw storeError(this.location, e);
    }
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      // A session that broke meanwhile released the key with it.
      await (await this.#lockSession().catch(() => undefined))?.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [lockKey]).catch(() => undefined);
      await releaseHere();
    };
  }

  /** The connection that holds this store's cache-key locks (reconnected after it breaks). */
  #lockSession(): Promise<pg.Client> {
    if (this.#locks) return this.#locks;
    const c = new pg.Client(this.#pool.options);
    const session: Promise<pg.Client> = c.connect().then(() => c);
    const forget = (): void => {
      if (this.#locks === session) this.#locks = undefined;
    };
    c.on("error", forget);
    c.on("end", forget);
    session.catch(forget);
    return (this.#locks = session);
  }

  clearCache(taskName?: string): Promise<number> {
    return this.#read(async (db) => {
      const r = taskName === undefined ? await db.query("DELETE FROM cache_entries") : await db.query("DELETE FROM cache_entries WHERE task_name = $1", [taskName]);
      return r.rowCount ?? 0;
    });
  }

  putDeployment(d: DeploymentRow, tasks: TaskSpecRow[], triggers: TriggerRow[]): Promise<PutDeploymentResult> {
    return this.#read(() => this.#transaction(async (c): Promise<PutDeploymentResult> => {
      // Deployments to a project/domain take turns (a lock held until this transaction ends): of two processes
      // deploying one version at once, the second finds the first's row (unchanged or conflict) instead of failing
      // on its key, and deployments of different versions do not interleave their "latest" checks and trigger
      // replacements. Keyed by project and domain, not version: triggers and "latest" span versions.
      await c.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`flyte-ts deploy ${JSON.stringify([d.project, d.domain])}`]);
      const found = (await c.query("SELECT * FROM deployments WHERE project = $1 AND domain = $2 AND version = $3", [d.project, d.domain, d.version])).rows[0] as Row | undefined;
      if (found) {
        const existing = deploymentFromDb(found);
        if (existing.contentHash !== d.contentHash) return { status: "conflict", existing };
        // The same deployment: a no-op unless a later deployment made other versions of its tasks the latest.
        const stale: TaskSpecRow[] = [];
        for (const t of tasks) {
          const latest = (await c.query<{ version: string }>(LATEST_TASK, [t.project, t.domain, t.name])).rows[0];
          if (latest?.version !== t.version) stale.push(t);
        }
        if (stale.length === 0) return { status: "unchanged", promoted: false };
        for (const t of stale) {
          await c.query("UPDATE task_specs SET deployed_at = $1 WHERE project = $2 AND domain = $3 AND name = $4 AND version = $5", [d.createdAt, t.project, t.domain, t.name, t.version]);
        }
        await replaceTriggers(c, d, tasks, triggers);
        return { status: "unchanged", promoted: true };
      }
      await c.query(
        "INSERT INTO deployments (project, domain, version, content_hash, bundle_uri, bundle_digest, copy_style, environments, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [d.project, d.domain, d.version, d.contentHash, d.bundleUri, d.bundleDigest, d.copyStyle, JSON.stringify(d.environments), d.createdAt],
      );
      for (const t of tasks) {
        await c.query(
          `INSERT INTO task_specs (project, domain, name, version, environment, spec, created_at, deployed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (project, domain, name, version) DO UPDATE SET environment = EXCLUDED.environment, spec = EXCLUDED.spec,
               created_at = EXCLUDED.created_at, deployed_at = EXCLUDED.deployed_at`,
          [t.project, t.domain, t.name, t.version, t.environment, JSON.stringify(t.spec), t.createdAt, t.deployedAt],
        );
      }
      await replaceTriggers(c, d, tasks, triggers);
      return { status: "created" };
    }));
  }

  getDeployment(scope: { project: string; domain: string }, version: string): Promise<DeploymentRow | undefined> {
    return this.#read(async (db) => {
      const r = (await db.query("SELECT * FROM deployments WHERE project = $1 AND domain = $2 AND version = $3", [scope.project, scope.domain, version])).rows[0] as Row | undefined;
      return r ? deploymentFromDb(r) : undefined;
    });
  }

  listTasks(scope: { project: string; domain: string }, q: { name?: string; limit?: number } = {}): Promise<TaskSpecRow[]> {
    return this.#read(async (db) => {
      // LIMIT NULL is no limit.
      const r = q.name !== undefined
        ? await db.query("SELECT * FROM task_specs WHERE project = $1 AND domain = $2 AND name = $3 ORDER BY deployed_at DESC, version DESC LIMIT $4", [scope.project, scope.domain, q.name, q.limit ?? null])
        : await db.query(
          `SELECT * FROM (SELECT DISTINCT ON (name) * FROM task_specs WHERE project = $1 AND domain = $2 ORDER BY name, deployed_at DESC, version DESC) latest
             ORDER BY name LIMIT $3`,
          [scope.project, scope.domain, q.limit ?? null],
        );
      return (r.rows as Row[]).map(taskSpecFromDb);
    });
  }

  getTask(scope: { project: string; domain: string }, name: string, version?: string): Promise<TaskSpecRow | undefined> {
    return this.#read(async (db) => {
      const r = version !== undefined
        ? await db.query("SELECT * FROM task_specs WHERE project = $1 AND domain = $2 AND name = $3 AND version = $4", [scope.project, scope.domain, name, version])
        : await db.query(LATEST_TASK, [scope.project, scope.domain, name]);
      return r.rows[0] ? taskSpecFromDb(r.rows[0] as Row) : undefined;
    });
  }

  listTriggers(scope: { project: string; domain: string }, q: { task?: string } = {}): Promise<TriggerRow[]> {
    return this.#read(async (db) => {
      const r = q.task !== undefined
        ? await db.query("SELECT * FROM triggers WHERE project = $1 AND domain = $2 AND task_name = $3 ORDER BY task_name, name", [scope.project, scope.domain, q.task])
        : await db.query("SELECT * FROM triggers WHERE project = $1 AND domain = $2 ORDER BY task_name, name", [scope.project, scope.domain]);
      return (r.rows as Row[]).map(triggerFromDb);
    });
  }

  setTriggerActive(scope: { project: string; domain: string }, task: string, name: string, active: boolean, at: number): Promise<TriggerRow | undefined> {
    return this.#read(async (db) => {
      const r = await db.query(
        `UPDATE triggers SET active = $1, activated_at = CASE WHEN NOT $1 THEN NULL WHEN active THEN activated_at ELSE $2 END
           WHERE project = $3 AND domain = $4 AND task_name = $5 AND name = $6 RETURNING *`,
        [active, at, scope.project, scope.domain, task, name],
      );
      return r.rows[0] ? triggerFromDb(r.rows[0] as Row) : undefined;
    });
  }

  deleteTrigger(scope: { project: string; domain: string }, task: string, name: string): Promise<boolean> {
    return this.#read(async (db) =>
      ((await db.query("DELETE FROM triggers WHERE project = $1 AND domain = $2 AND task_name = $3 AND name = $4", [scope.project, scope.domain, task, name])).rowCount ?? 0) > 0);
  }

  recordFire(f: Omit<FireRow, "runName" | "state" | "error">, runNames: readonly string[]): Promise<string | undefined> {
    return this.#read(() => this.#transaction(async (c): Promise<string | undefined> => {
      // Schedulers of a project/domain record fires one at a time (a lock held until this transaction ends): of two
      // recording one fire time, the second finds the first's row, and two fires never pick the same free run name.
      await c.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [`flyte-ts fires ${JSON.stringify([f.project, f.domain])}`]);
      const seen = await c.query(
        "SELECT 1 FROM trigger_fires WHERE project = $1 AND domain = $2 AND task_name = $3 AND trigger_name = $4 AND fire_time = $5",
        [f.project, f.domain, f.taskName, f.triggerName, f.fireTime],
      );
      if (seen.rows.length > 0) return undefined;
      const used = await c.query<{ name: string }>(
        "SELECT name FROM runs WHERE name = ANY($1::text[]) UNION SELECT run_name FROM trigger_fires WHERE run_name = ANY($1::text[])", [runNames],
      );
      const taken = new Set(used.rows.map((r) => r.name));
      const name = runNames.find((n) => !taken.has(n));
      if (name === undefined) return undefined;
      await c.query(
        `INSERT INTO trigger_fires (project, domain, task_name, trigger_name, fire_time, version, run_name, state, error, claimed_by, claim_expires_at, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', NULL, $8, $9, $10)`,
        [f.project, f.domain, f.taskName, f.triggerName, f.fireTime, f.version, name, f.claimedBy, f.claimExpiresAt, f.recordedAt],
      );
      return name;
    }));
  }

  claimStaleFires(scope: { project: string; domain: string }, owner: string, now: number, until: number): Promise<FireRow[]> {
    return this.#read(async (db) => {
      const r = await db.query(
        `UPDATE trigger_fires SET claimed_by = $1, claim_expires_at = $2
           WHERE project = $3 AND domain = $4 AND state = 'pending' AND (claim_expires_at IS NULL OR claim_expires_at < $5) RETURNING *`,
        [owner, until, scope.project, scope.domain, now],
      );
      return (r.rows as Row[]).map(fireFromDb).sort((a, b) => a.fireTime - b.fireTime);
    });
  }

  finishFire(k: FireKey, owner: string, state: "created" | "failed", error: string | null): Promise<boolean> {
    return this.#read(async (db) => ((await db.query(
      `UPDATE trigger_fires SET state = $1, error = $2, claimed_by = NULL, claim_expires_at = NULL
         WHERE project = $3 AND domain = $4 AND task_name = $5 AND trigger_name = $6 AND fire_time = $7 AND state = 'pending' AND claimed_by = $8`,
      [state, error, k.project, k.domain, k.taskName, k.triggerName, k.fireTime, owner],
    )).rowCount ?? 0) > 0);
  }

  listFires(scope: { project: string; domain: string }, q: { task?: string; trigger?: string; limit?: number; latest?: boolean } = {}): Promise<FireRow[]> {
    return this.#read(async (db) => {
      const where = ["f.project = $1", "f.domain = $2"];
      const args: unknown[] = [scope.project, scope.domain];
      if (q.task !== undefined) (args.push(q.task), where.push(`f.task_name = $${args.length}`));
      if (q.trigger !== undefined) (args.push(q.trigger), where.push(`f.trigger_name = $${args.length}`));
      if (q.latest) {
        where.push(`f.fire_time = (SELECT max(l.fire_time) FROM trigger_fires l
          WHERE l.project = f.project AND l.domain = f.domain AND l.task_name = f.task_name AND l.trigger_name = f.trigger_name)`);
      }
      args.push(q.limit ?? null);
      const r = await db.query(`SELECT * FROM trigger_fires f WHERE ${where.join(" AND ")} ORDER BY f.fire_time DESC, f.task_name, f.trigger_name LIMIT $${args.length}`, args);
      return (r.rows as Row[]).map(fireFromDb);
    });
  }

  async recordFailedRun(key: RunKey, error: ErrorRecord, endedAt: number): Promise<boolean> {
    if (this.#closed) return false;
    const err = JSON.stringify(error);
    const run = "UPDATE runs SET phase = 'failed', error = $1, ended_at = $2, owner_id = NULL, lease_expires_at = NULL WHERE name = $3";
    try {
      await this.#transaction(async (c) => {
        await c.query(run, [err, endedAt, key.name]);
        await c.query(`UPDATE actions SET phase = 'failed', error = $1, ended_at = $2 WHERE run_name = $3 AND phase NOT IN ${TERMINAL_SQL}`, [err, endedAt, key.name]);
        await c.query(`UPDATE attempts SET phase = 'failed', error = $1, ended_at = $2 WHERE run_name = $3 AND phase NOT IN ${TERMINAL_SQL}`, [err, endedAt, key.name]);
      });
      return true;
    } catch {
      try {
        // The actions' rows may not fit; the run's own record matters most.
        await this.#pool.query(run, [err, endedAt, key.name]);
        return true;
      } catch {
        return false;
      }
    }
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      try {
        await this.writes.flush();
      } finally {
        const locks = this.#locks;
        this.#locks = undefined;
        await (await locks?.catch(() => undefined))?.end().catch(() => undefined);
        await this.#pool.end();
      }
    })();
    return this.#closed;
  }
}

/** Opens the PostgreSQL store at `url`: connects, migrates, and resolves once it is usable. */
export function openPostgresStore(url: string, o: PostgresStoreOptions = {}): Promise<PostgresStore> {
  return PostgresStore.open(url, o);
}

/** A run key as one string (lookups of the same run share one answer). */
function runKeyId(k: { name: string; project: string; domain: string }): string {
  return `${k.project}\u0000${k.domain}\u0000${k.name}`;
}
