/**
 * The cluster backend's action queue, on graphile-worker (PostgreSQL's `SKIP LOCKED` job table with LISTEN/NOTIFY
 * wake-ups): an action to execute is a job whose key is the action's deterministic name, so it is enqueued once
 * however many times its parent replays the call. One task identifier per environment (and per `queue` option)
 * lets `flyte worker --env X` claim only X's actions.
 *
 * Completions travel the other way as notifications on one channel: the worker that ends an action commits its
 * row, then notifies `<project>/<domain>/<run>/<action>`; whoever awaits it reads the row. Notifications can be
 * missed (a reconnect), so every waiter also re-checks the store now and then: the row is the truth.
 */
import type { PoolStats } from "../controller/isolation/reuse-pool.ts";
import type { JobOverrides } from "../authoring/task-overrides.ts";
import { hostname } from "node:os";
import { Logger, makeWorkerUtils, type WorkerUtils } from "graphile-worker";
import { RETRYABLE_ERROR_CODES } from "graphile-worker/dist/lib.js";
import { isProcessAlive, isProcessStopped } from "../internal/process-alive.ts";
import { LookupBatcher } from "../internal/lookup-batcher.ts";
import { DatabaseOutageError, isConnectionLoss, outageBudgetMs, whileReachable } from "../store/postgres/reconnect.ts";
import { StoreError } from "../errors.ts";
import { AbortFanout } from "./abort-fanout.ts";
import pg from "pg";

/** What a worker needs to find an action and its code. Everything else is in the store. */
export interface ActionJob {
  project: string;
  domain: string;
  run: string;
  action: string;
  /** Task FQN (`env.task`). */
  task: string;
  /** The deployed version whose code bundle holds the task. */
  version: string;
  /** The attempt this job is for, when it is a retry scheduled after a backoff (absent: the action's first job). */
  attempt?: number;
  /** What `task.override()` changed at the call site that the attempt loop reads (absent: the task as declared). */
  overrides?: JobOverrides;
}


export { taskIdentifier } from "../internal/task-identifier.ts";
export type { JobOverrides } from "../authoring/task-overrides.ts";

export const DONE_CHANNEL = "flyte_action_done";
/** The graphile-worker schema; the store's tables live in the default schema beside it. */
export const QUEUE_SCHEMA = "flyte_queue";
/** A worker that has not renewed its registration for this long is lost: its claimed actions are released. */
export const WORKER_TTL_MS = Number(process.env.FLYTE_WORKER_TTL_MS) > 0 ? Number(process.env.FLYTE_WORKER_TTL_MS) : 15_000;

/** A registered worker (`flyte get workers`). */
export interface WorkerRow {
  id: string;
  envs: string[];
  queue: string | null;
  pid: number;
  host: string;
  concurrency: number;
  running: number;
  startedAt: number;
  heartbeatAt: number;
  /** Warm pools of reusable environments this worker runs (`flyte worker --isolate`): size and use. */
  pools?: WorkerPoolRow[];
}

/** One warm pool of a worker, as its last heartbeat reported it. */
export type WorkerPoolRow = PoolStats;

/**
 * The engine counts a claim lost with its worker as an attempt: the budget for those is ours
 * (execution.systemRetries, see worker.ts), so the engine's own is out of the way.
 */
const MAX_ENGINE_ATTEMPTS = 1_000;

/** How often a waiter re-checks the store when no notification came (a missed NOTIFY costs at most this). */
const RECHECK_MS = 2_000;

export function actionKey(j: Pick<ActionJob, "project" | "domain" | "run" | "action">): string {
  return `${j.project}/${j.domain}/${j.run}/${j.action}`;
}

/**
 * `checking`: a check is in flight; `again`: a notification came meanwhile, so check once more after it.
 * `failingSince`/`pause`: its checks have failed with transient store errors since then; the next try is that long after.
 */
type Waiter = {
  check: () => Promise<boolean>; resolve: () => void; reject: (e: unknown) => void; what?: string; checking?: boolean; again?: boolean;
  failingSince?: number; pause?: number; retry?: NodeJS.Timeout;
};

/** SQLSTATEs of a statement that may well succeed if simply tried again (besides a broken connection). */
const TRANSIENT_CODES = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "53300", // too_many_connections
  "53400", // configuration_limit_exceeded
  "55P03", // lock_not_available
  "57014", // query_canceled (a statement timeout, or a cancel by an operator)
]);

/** Whether `e` (or an error it wraps) is a store failure that a moment later may not recur: worth another try. */
export function isTransientStoreError(e: unknown): boolean {
  for (let x = e, depth = 0; x && depth < 5; x = (x as { cause?: unknown }).cause, depth++) {
    if (isConnectionLoss(x) || x instanceof DatabaseOutageError) return true;
    const code = (x as { code?: unknown }).code;
    if (typeof code === "string" && (TRANSIENT_CODES.has(code) || code === "StoreUnavailable")) return true;
  }
  return false;
}

export class ActionQueue {
  readonly #pool: pg.Pool;
  readonly #utils: WorkerUtils;
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #aborts = new AbortFanout();
  readonly #subscribers = new Map<string, Set<(key: string) => void>>();
  #listener: pg.PoolClient | undefined;
  #listening: Promise<void> | undefined;
  #recheck: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #adds = new LookupBatcher<{ identifier: string; job: ActionJob }, undefined>((a) => this.#addJobs(a), (a) => actionKey(a.job), undefined);
  readonly #notifies = new LookupBatcher<string, undefined>((k) => this.#notify(k), (k) => k, undefined);

  private constructor(pool: pg.Pool, utils: WorkerUtils) {
    this.#pool = pool;
    this.#utils = utils;
  }

  /** Opens the queue on `pool`, installing or upgrading graphile-worker's schema. */
  static async open(pool: pg.Pool): Promise<ActionQueue> {
    // The store connected a moment ago: a connection lost now is a database restart, waited out like any other.
    const utils = await whileReachable(() => makeWorkerUtils({ pgPool: pool, schema: QUEUE_SCHEMA, logger: quietLogger }));
    await whileReachable(() => utils.migrate());
    // The worker registry lives beside graphile-worker's tables, in the queue's schema (the engine owns the
    // rest of that schema and migrates it itself).
    await whileReachable(() => pool.query(`CREATE TABLE IF NOT EXISTS ${QUEUE_SCHEMA}.flyte_workers (
      id TEXT PRIMARY KEY, envs TEXT[] NOT NULL, queue TEXT, pid INTEGER NOT NULL, host TEXT NOT NULL,
      concurrency INTEGER NOT NULL, running INTEGER NOT NULL DEFAULT 0, engine_ids TEXT[] NOT NULL DEFAULT '{}',
      started_at BIGINT NOT NULL, heartbeat_at BIGINT NOT NULL)`).catch(async (e: { code?: string }) => {
      // Two processes creating it at once: one wins, the other sees a duplicate type or key.
      if (e.code !== "23505" && e.code !== "42P07") throw e;
    }));
    // Added after the table first shipped: registries created before it gain the column here.
    await whileReachable(() => pool.query(`ALTER TABLE ${QUEUE_SCHEMA}.flyte_workers ADD COLUMN IF NOT EXISTS pools JSONB NOT NULL DEFAULT '[]'::jsonb`)
      .catch((e: { code?: string }) => {
        if (e.code !== "42701" && e.code !== "23505") throw e;
      }));
    return new ActionQueue(pool, utils);
  }

  /** Registers (or renews) a worker; `engineIds` are the ids graphile-worker locks its jobs under. */
  async heartbeat(w: Omit<WorkerRow, "heartbeatAt">, engineIds: readonly string[]): Promise<void> {
    await this.#pool.query(
      `INSERT INTO ${QUEUE_SCHEMA}.flyte_workers (id, envs, queue, pid, host, concurrency, running, engine_ids, started_at, heartbeat_at, pools)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (id) DO UPDATE SET running = EXCLUDED.running, engine_ids = EXCLUDED.engine_ids, heartbeat_at = EXCLUDED.heartbeat_at, pools = EXCLUDED.pools`,
      [w.id, w.envs, w.queue, w.pid, w.host, w.concurrency, w.running, [...engineIds], w.startedAt, Date.now(), JSON.stringify(w.pools ?? [])],
    );
  }

  /** Removes a worker that stopped cleanly. */
  async unregister(id: string): Promise<void> {
    await this.#pool.query(`DELETE FROM ${QUEUE_SCHEMA}.flyte_workers WHERE id = $1`, [id]);
  }

  /** Registered workers, newest heartbeat first. */
  async listWorkers(): Promise<WorkerRow[]> {
    const r = await this.#pool.query(`SELECT * FROM ${QUEUE_SCHEMA}.flyte_workers ORDER BY heartbeat_at DESC, id`);
    return r.rows.map((x: Record<string, unknown>) => ({
      id: x.id as string, envs: x.envs as string[], queue: (x.queue as string | null) ?? null, pid: x.pid as number, host: x.host as string,
      concurrency: x.concurrency as number, running: x.running as number, startedAt: Number(x.started_at), heartbeatAt: Number(x.heartbeat_at),
      pools: (x.pools as WorkerPoolRow[] | null | undefined) ?? [],
    }));
  }

  /**
   * Releases the actions claimed by workers that stopped renewing their registration (killed, partitioned):
   * another worker claims them again, as a system retry. Returns the lost workers' ids.
   */
  async releaseLostWorkers(now = Date.now()): Promise<string[]> {
    const stale = await this.#pool.query(`SELECT id, pid, host FROM ${QUEUE_SCHEMA}.flyte_workers WHERE heartbeat_at < $1`, [now - WORKER_TTL_MS]);
    // A worker on this host whose process is running is only late (a long synchronous task blocked its timers):
    // its actions are still running, so they are not taken from it. A stopped one (SIGSTOP) runs nothing.
    const lost = (stale.rows as { id: string; pid: number; host: string }[])
      .filter((w) => w.host !== hostname() || !isProcessAlive(w.pid) || isProcessStopped(w.pid)).map((w) => w.id);
    if (lost.length === 0) return [];
    const gone = await this.#pool.query(`DELETE FROM ${QUEUE_SCHEMA}.flyte_workers WHERE id = ANY($1::text[]) AND heartbeat_at < $2 RETURNING id, engine_ids`, [lost, now - WORKER_TTL_MS]);
    const engineIds = gone.rows.flatMap((r: { engine_ids: string[] }) => r.engine_ids);
    if (engineIds.length > 0) await this.#utils.forceUnlockWorkers(engineIds);
    return gone.rows.map((r: { id: string }) => r.id);
  }

  /**
   * Releases jobs locked for longer than the TTL under an id that no registered worker lists: their worker was
   * lost before its registration named them (killed between claiming and its first heartbeat), so no lost-worker
   * sweep would ever find them, and the engine itself would hold them for its 4-hour lock timeout. A live worker
   * names its ids within moments of claiming (its first heartbeat follows its start at once), so an id still
   * unnamed a whole TTL after its lock is a lost worker's. To be sure, an id is released only when it was found
   * unnamed by the caller's previous look too (`suspects`, a TTL earlier): a registration missing for a moment
   * (deleted by a sweep while its worker was stopped, then renewed) costs nothing. Returns the ids found unnamed
   * now (the suspects of the next look).
   */
  async releaseOrphanedJobs(suspects: ReadonlySet<string>): Promise<Set<string>> {
    const r = await this.#pool.query(
      `SELECT DISTINCT j.locked_by FROM ${QUEUE_SCHEMA}._private_jobs j
       WHERE j.locked_by IS NOT NULL AND j.locked_at < now() - make_interval(secs => $1::double precision / 1000)
         AND NOT EXISTS (SELECT 1 FROM ${QUEUE_SCHEMA}.flyte_workers w WHERE j.locked_by = ANY(w.engine_ids))`,
      [WORKER_TTL_MS],
    );
    const ids = new Set(r.rows.map((x: { locked_by: string }) => x.locked_by));
    const lost = [...ids].filter((id) => suspects.has(id));
    if (lost.length > 0) await this.#utils.forceUnlockWorkers(lost);
    return ids;
  }

  /** Unregisters worker `id` and releases the actions it holds, at once (a worker giving them up). */
  async releaseWorker(id: string, engineIds: readonly string[]): Promise<void> {
    await this.#pool.query(`DELETE FROM ${QUEUE_SCHEMA}.flyte_workers WHERE id = $1`, [id]);
    if (engineIds.length > 0) await this.#utils.forceUnlockWorkers([...engineIds]);
  }

  get pool(): pg.Pool {
    return this.#pool;
  }

  /**
   * Enqueues `job` for the workers of `identifier`, unless a job for that action is already queued or running.
   * With `retry`, the action's job is replaced instead: a retry due at `runAt` is the action's job from now on
   * (the engine strips the key from a job that is running, and that job's worker is the one scheduling this).
   */
  async enqueue(identifier: string, job: ActionJob, o: { runAt?: Date; retry?: boolean } = {}): Promise<void> {
    if (!o.runAt && !o.retry) return this.#adds.get({ identifier, job });
    // Across a database restart: the job key makes a second try of an enqueue that did reach the server a no-op
    // (or, for a retry, the same replacement again).
    await whileReachable(() => this.#utils.addJob(identifier, job, {
      jobKey: actionKey(job), jobKeyMode: o.retry ? "replace" : "unsafe_dedupe", maxAttempts: MAX_ENGINE_ATTEMPTS, ...(o.runAt ? { runAt: o.runAt } : {}),
    }), { stop: () => this.#closed });
  }

  /**
   * First enqueues of actions, many per statement (a fan-out enqueues its children together): each through the
   * engine's own `add_job` in `unsafe_dedupe` mode, so an action already queued or running is left as it is.
   */
  async #addJobs(adds: { identifier: string; job: ActionJob }[]): Promise<Map<string, undefined>> {
    await whileReachable(() => this.#pool.query(
      `SELECT 1 FROM unnest($1::text[], $2::json[], $3::text[]) AS x(identifier, payload, job_key),
         LATERAL ${QUEUE_SCHEMA}.add_job(identifier => x.identifier, payload => x.payload, job_key => x.job_key, job_key_mode => 'unsafe_dedupe', max_attempts => $4::int)`,
      [adds.map((a) => a.identifier), adds.map((a) => JSON.stringify(a.job)), adds.map((a) => actionKey(a.job)), MAX_ENGINE_ATTEMPTS],
    ), { stop: () => this.#closed });
    return new Map();
  }

  /** Tells every waiter of `key` that its action's row is committed. */
  notifyDone(key: string): Promise<void> {
    return this.#notifies.get(key);
  }

  /** Notifications of ended actions, many per statement (see `notifyDone`). */
  async #notify(keys: string[]): Promise<Map<string, undefined>> {
    try {
      await this.#pool.query("SELECT pg_notify($1, k) FROM unnest($2::text[]) AS k", [DONE_CHANNEL, keys]);
    } catch (e) {
      // The database went away after the rows were committed: waiters find them on their next re-check.
      if (!isConnectionLoss(e)) throw e;
    }
    return new Map();
  }

  /**
   * Resolves once `check()` (reading the action's row) says the action ended: after a notification for `key`,
   * or a periodic re-check. `check` is also called once at the start, for an action that ended already.
   * A check failing with a transient store error (see `isTransientStoreError`) is tried again with a growing
   * pause; the wait fails on any other error, or once checks have failed for longer than the database outage
   * budget (`FLYTE_DB_OUTAGE_MS`), with an error naming `what` (e.g. the awaited action).
   */
  async whenDone(key: string, check: () => Promise<boolean>, signal?: AbortSignal, what = key): Promise<void> {
    await this.#listen();
    // An abort listener added to a signal that already fired would never run.
    signal?.throwIfAborted();
    const done = new Promise<void>((resolve, reject) => {
      // Every waiter of a run shares one listener on its signal (see abort-fanout.ts).
      let unsubscribe: (() => void) | undefined;
      const w: Waiter = {
        check,
        what,
        resolve: () => {
          unsubscribe?.();
          resolve();
        },
        reject: (e) => {
          unsubscribe?.();
          reject(e);
        },
      };
      let set = this.#waiters.get(key);
      if (!set) this.#waiters.set(key, (set = new Set()));
      set.add(w);
      if (signal) {
        unsubscribe = this.#aborts.on(signal, () => {
          this.#drop(key, w);
          reject(signal.reason);
        });
      }
      void this.#check(key, w);
    });
    return done;
  }

  /**
   * Calls `fn` with the key of every action (or run) end notified whose key starts with `prefix` (a progress
   * display re-reading a run when one of its actions ends). Notifications can be missed: not a substitute for
   * reading the store now and then. Returns the unsubscribe.
   */
  async onDone(prefix: string, fn: (key: string) => void): Promise<() => void> {
    await this.#listen();
    let fns = this.#subscribers.get(prefix);
    if (!fns) this.#subscribers.set(prefix, (fns = new Set()));
    fns.add(fn);
    return () => {
      fns.delete(fn);
      if (fns.size === 0 && this.#subscribers.get(prefix) === fns) this.#subscribers.delete(prefix);
    };
  }

  #drop(key: string, w: Waiter): void {
    if (w.retry) clearTimeout(w.retry);
    const set = this.#waiters.get(key);
    set?.delete(w);
    if (set?.size === 0) this.#waiters.delete(key);
  }

  /**
   * One check at a time per waiter: with thousands of waiters (a wide fan-out) the periodic re-check would
   * otherwise start a new read for every waiter whose last one is still queued for a connection, piling reads
   * up faster than the pool serves them (and, during a database outage, pile up behind the store's retries).
   */
  async #check(key: string, w: Waiter): Promise<void> {
    if (w.checking) {
      w.again = true;
      return;
    }
    w.checking = true;
    try {
      do {
        w.again = false;
        if (await w.check()) {
          this.#drop(key, w);
          w.resolve();
          return;
        }
      } while (w.again);
      w.failingSince = undefined;
    } catch (e) {
      const now = Date.now();
      w.failingSince ??= now;
      if (isTransientStoreError(e) && !this.#closed && now - w.failingSince < outageBudgetMs()) {
        // Tried again after a pause (growing to 2 s); a notification or the periodic re-check may come first.
        w.pause = Math.min(2_000, Math.round((w.pause ?? 100) * 1.6));
        if (w.retry) clearTimeout(w.retry);
        w.retry = setTimeout(() => {
          w.retry = undefined;
          void this.#check(key, w);
        }, w.pause);
        w.retry.unref();
        return;
      }
      this.#drop(key, w);
      const msg = e instanceof Error ? e.message : String(e);
      w.reject(new StoreError(
        isTransientStoreError(e)
          ? `Could not read the state of ${w.what} for ${Math.round((now - w.failingSince) / 100) / 10} s while waiting for it to end (${msg}). Check that the database is up; the run can be recovered once it is.`
          : `Could not read the state of ${w.what} while waiting for it to end: ${msg}`,
        { cause: e, code: e instanceof StoreError ? e.code : "StoreError" },
      ));
    } finally {
      w.checking = false;
    }
  }

  #listen(): Promise<void> {
    if (this.#listening) return this.#listening;
    this.#listening = (async () => {
      const client = await this.#pool.connect();
      client.on("notification", (m) => {
        if (m.channel !== DONE_CHANNEL || !m.payload) return;
        for (const [prefix, fns] of this.#subscribers) if (m.payload.startsWith(prefix)) for (const fn of fns) fn(m.payload);
        for (const w of [...(this.#waiters.get(m.payload) ?? [])]) void this.#check(m.payload, w);
      });
      client.on("error", () => this.#reconnect(client));
      try {
        await client.query(`LISTEN ${DONE_CHANNEL}`);
      } catch (e) {
        // The server went away between connect and LISTEN: this connection goes back broken (else the pool
        // keeps it checked out for ever, and ending the pool at exit waits for it).
        client.release(true);
        throw e;
      }
      this.#listener = client;
      this.#recheck ??= setInterval(() => {
        for (const [key, set] of this.#waiters) for (const w of [...set]) void this.#check(key, w);
      }, RECHECK_MS);
      this.#recheck.unref();
    })();
    this.#listening.catch(() => (this.#listening = undefined));
    return this.#listening;
  }

  /** The listening connection broke (a database restart): listen again, and re-check everyone meanwhile. */
  #reconnect(client: pg.PoolClient): void {
    if (this.#listener !== client) return;
    this.#listener = undefined;
    this.#listening = undefined;
    client.release(true);
    if (this.#closed) return;
    const retry = () => {
      if (this.#closed) return;
      this.#listen().catch(() => setTimeout(retry, 500).unref());
    };
    retry();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#recheck) clearInterval(this.#recheck);
    const client = this.#listener;
    this.#listener = undefined;
    if (client) {
      await client.query(`UNLISTEN ${DONE_CHANNEL}`).catch(() => undefined);
      client.release();
    }
    await this.#utils.release();
  }
}

/**
 * A pool for the queue: a connection that breaks while idle or in use (a database restart) is dropped and the
 * next query reconnects, instead of an unhandled 'error' event ending the process. A query cut off with the
 * connection fails with a connection-exception SQLSTATE even when pg gives none ("Connection terminated"), so
 * that graphile-worker retries it (below) instead of failing the job's completion.
 */
export function newPool(connectionString: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString, max });
  pool.on("error", () => undefined);
  pool.on("connect", (client) => {
    client.on("error", () => undefined);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const r = query(...args);
      return r instanceof Promise ? r.catch((e: unknown) => Promise.reject(tagConnectionLoss(e))) : r;
    };
  });
  return pool;
}

function tagConnectionLoss(e: unknown): unknown {
  if (e instanceof Error && !(e as { code?: unknown }).code && isConnectionLoss(e)) Object.assign(e, { code: "08006" });
  return e;
}

// graphile-worker 0.17 retries its own statements (claiming, completing and failing jobs) only on a few codes, and a
// job completion that fails otherwise is an unhandled rejection that ends the worker process. A database restart
// (the server stopping, refusing connections, starting) is retried too, for as long as it takes the server to come back.
// "The database system is starting up" (57P03) is retried from 3 s on by default: a worker would claim nothing for
// seconds after the server is back, so it is retried as promptly as the rest.
for (const code of ["57P01", "57P02", "57P03", "08000", "08001", "08003", "08006", "ECONNREFUSED", "ECONNRESET", "EPIPE"]) {
  RETRYABLE_ERROR_CODES[code] = { minDelay: 200, maxDelay: 2_000 };
}

/** graphile-worker logs every job at info level; only its warnings and errors are worth a user's terminal. */
export const quietLogger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") process.stderr.write(`[flyte worker queue] ${message}\n`);
});
