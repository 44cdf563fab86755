/**
 * The embedded metadata store: one SQLite file in WAL mode, implementing the `RunStore` port synchronously
 * under its promises (better-sqlite3 is synchronous, and a local file answers in microseconds).
 *
 * Runs write through the write batch (`writes`, see ../write-batch.ts), which this store commits in one
 * transaction per event-loop turn; every read commits the batch first, so a process always reads its own
 * writes. A crash loses at most the current turn.
 */
import Database from "better-sqlite3";
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { FlyteError, RunAlreadyExistsError, StoreError, type ErrorRecord } from "../../errors.ts";
import { MIGRATIONS } from "./migrations.ts";
import { KeyLocks } from "../key-locks.ts";
import { RelativeUris } from "./relative-uris.ts";
import { WalCheckpointer } from "./wal-checkpointer.ts";
import {
  TERMINAL_SQL, isTerminal, type ActionPhase, type ActionRow, type ActionSummary, type AttemptRow, type CacheEntry, type DeploymentRow, type Lease, type ListRunsQuery, type LogRow,
  type FireKey, type FireRow, type OwnerProbe, type PutDeploymentResult, type RunKey, type RunRow, type RunStore, type TaskSpecRow, type TraceRow, type TriggerRow,
} from "../store.ts";
import { WriteBatch, claimHolds, claimKey, lowestAttemptsWritten, type Durability, type PendingWrites } from "../write-batch.ts";
import {
  ACTION_COLS, ACTION_JSON, ACTION_KEYS, ACTION_SUMMARY_SQL, ATTEMPT_VALUES_SQL, RUN_COLS, RUN_JSON, actionFromDb, actionJsonValue,
  actionSummaryFromValues, attemptFromDb, attemptFromValues, bytes, json, num, parse, runFromDb, taskSpecFromDb, fireFromDb, type Row } from "../rows.ts";



const UPSERT_ACTION_SQL = `INSERT OR REPLACE INTO actions (${ACTION_KEYS.map((k) => ACTION_COLS[k]).join(",")}) VALUES (${ACTION_KEYS.map(() => "?").join(",")})`;

/** An action field as SQLite stores it (booleans as 0/1). */
function actionValue(k: keyof ActionRow, v: unknown): unknown {
  return ACTION_JSON.has(k) ? actionJsonValue(k, v) : toDb(k, v);
}

function toDb(key: string, v: unknown): unknown {
  if (RUN_JSON.has(key)) return json(v);
  if (typeof v === "boolean") return v ? 1 : 0;
  return v ?? null;
}

/** Translates SQLite failures into messages that say which file and what to do. */
function storeError(file: string, e: unknown): StoreError {
  const code = (e as { code?: string }).code ?? "";
  const msg = e instanceof Error ? e.message : String(e);
  if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") {
    return new StoreError(`The store ${file} is locked by another process (${msg}). Wait for it to finish, or stop the other flyte process using this state dir.`, { cause: e });
  }
  if (code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB") {
    return new StoreError(`The store ${file} is corrupted or not a flyte database (${msg}). Move it aside (e.g. mv ${file} ${file}.bad) to start a fresh store; nothing has been deleted.`, { cause: e });
  }
  if (code === "SQLITE_FULL" || (e as { code?: string }).code === "ENOSPC") {
    return new StoreError(`The store ${file} is full (${msg}): the disk or its quota has no space left. Free some space, or move the state dir (store.stateDir) to a larger disk, then recover the run.`, { cause: e, code: "StoreFull" });
  }
  if (code === "SQLITE_READONLY" || code === "SQLITE_CANTOPEN" || code === "SQLITE_IOERR") {
    return new StoreError(`The store ${file} cannot be written (${msg}). Check that the directory exists, is writable and the disk is not full.`, { cause: e });
  }
  return new StoreError(`The store ${file} failed: ${msg}`, { cause: e });
}

/**
 * A `flyte.db` of 0 bytes beside a WAL or blobs was truncated or lost: opening it would silently start an
 * empty store (and forget every run), so it is reported instead.
 */
function refuseEmptiedStore(file: string): void {
  const size = statSync(file, { throwIfNoEntry: false })?.size;
  if (size !== 0) return;
  const wal = statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0;
  const blobs = join(dirname(file), "blobs");
  const hasBlobs = existsSync(blobs) && readdirSync(blobs).length > 0;
  if (wal === 0 && !hasBlobs) return;
  const beside = [...(wal > 0 ? [`${file}-wal (${wal} bytes)`] : []), ...(hasBlobs ? [`${blobs}/`] : [])].join(" and ");
  throw new StoreError(
    `The store ${file} is empty (0 bytes) although ${beside} exist${wal > 0 && hasBlobs ? "" : "s"}: the database was truncated or lost. ` +
      `Restore it from a backup, or move it aside (mv ${file} ${file}.bad) to start a fresh store; nothing has been changed.`,
    { code: "StoreEmptied" },
  );
}

/** A state dir (or a folder above it) that exists as a file: said in one line instead of ENOTDIR from deep inside. */
function refuseFileAsStateDir(dir: string): void {
  for (let p = dir; ; p = dirname(p)) {
    let isFile = false;
    try {
      const st = statSync(p, { throwIfNoEntry: false });
      if (st?.isDirectory()) return;
      isFile = st !== undefined;
    } catch {
      // ENOTDIR: something above is a file; keep walking up to it.
    }
    if (isFile) {
      throw new StoreError(
        `The state dir ${dir} cannot be used: ${p} is a file, not a directory. Move it aside (mv ${p} ${p}.bak), or point store.stateDir in the config at another folder.`,
        { code: "StateDirNotADirectory" },
      );
    }
    if (dirname(p) === p) return;
  }
}

/** Whether `dir` can be written by this process (false on a read-only mount, or without permission). */
function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Serialized cache keys held in this process, by store file and key (see `lockCacheKey`). */
const cacheLocks = new KeyLocks();

export class SqliteStore implements RunStore {
  readonly location: string;
  readonly writes: WriteBatch;
  readonly #db: Database.Database;
  /**
   * Set when the state dir cannot be written: the store is a read-only snapshot (a copy in a temp dir, since
   * SQLite cannot open a WAL database read-only without writing its shared-memory file beside it).
   */
  readonly readOnly: boolean = false;
  #snapshotDir: string | undefined;
  readonly #uris: RelativeUris;
  readonly #stmts = new Map<string, Database.Statement>();
  readonly #rawStmts = new Map<string, Database.Statement>();
  /** Checkpoints the WAL from a worker thread, so that no commit on this thread pays for one (see wal-checkpointer.ts). */
  readonly checkpointer: WalCheckpointer | undefined;
  /**
   * The connection's `synchronous` setting outside a batch commit (direct writes: createRun, abort requests,
   * leases): FULL fsyncs the WAL at every commit, NORMAL only at checkpoints. A batch of another level switches
   * it for its own transaction.
   */
  readonly #synchronous: "FULL" | "NORMAL";

  /** @param durability what a commit promises by default (see `Durability`); a run may ask for its own level */
  constructor(file: string, { durability = "full" }: { durability?: Durability } = {}) {
    this.location = file;
    this.#synchronous = durability === "full" ? "FULL" : "NORMAL";
    this.#uris = new RelativeUris(dirname(file));
    this.writes = new WriteBatch((w) => this.#commit(w), (e) => storeError(file, e), () => {
      if (this.readOnly) throw this.#readOnlyError();
    }, durability);
    refuseFileAsStateDir(dirname(file));
    refuseEmptiedStore(file);
    if (existsSync(file) && !writable(dirname(file))) {
      this.readOnly = true;
      this.#db = this.#openSnapshot(file);
      return;
    }
    try {
      mkdirSync(dirname(file), { recursive: true });
      this.#db = new Database(file, { timeout: 5000 });
      this.#db.pragma("journal_mode = WAL");
      this.#db.pragma(`synchronous = ${this.#synchronous}`);
      this.#db.pragma("foreign_keys = ON");
      // Caps the file's size in pages: lets tests (and cautious operators) see what a full disk does.
      const maxPages = Number(process.env.FLYTE_STORE_MAX_PAGES);
      if (maxPages > 0) this.#db.pragma(`max_page_count = ${Math.floor(maxPages)}`);
      this.#migrate();
      this.checkpointer = new WalCheckpointer(file, { setAutocheckpoint: (pages) => this.#db.pragma(`wal_autocheckpoint = ${pages}`) });
    } catch (e) {
      throw e instanceof StoreError ? e : storeError(file, e);
    }
  }

  /** Opens a read-only copy of the database (and its WAL) for reading a state dir that cannot be written. */
  #openSnapshot(file: string): Database.Database {
    const dir = mkdtempSync(join(tmpdir(), "flyte-readonly-store-"));
    this.#snapshotDir = dir;
    try {
      copyFileSync(file, join(dir, "flyte.db"));
      if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, join(dir, "flyte.db-wal"));
      const db = new Database(join(dir, "flyte.db"), { readonly: true, fileMustExist: true });
      const current = db.pragma("user_version", { simple: true }) as number;
      const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
      if (current !== latest) {
        db.close();
        throw new StoreError(`The store ${file} has schema ${current} and this flyte-ts needs ${latest}, but its directory is read-only. Open it once from a writable location to upgrade it.`);
      }
      return db;
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e instanceof StoreError ? e : storeError(file, e);
    }
  }

  #readOnlyError(): StoreError {
    return new StoreError(
      `The state dir ${dirname(this.location)} is read-only: commands that read (get runs, get logs, ...) work, but this one writes. Make the directory writable, or use another stateDir.`,
      { code: "StoreReadOnly" },
    );
  }

  /** Applies migrations newer than the file's `user_version`. */
  #migrate(): void {
    const current = this.#db.pragma("user_version", { simple: true }) as number;
    const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    if (current > latest) {
      throw new StoreError(`The store ${this.location} was written by a newer flyte-ts (schema ${current}, this version knows ${latest}). Upgrade flyte-ts or use another stateDir.`);
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.#db.transaction(() => {
        this.#db.exec(m.sql);
        this.#db.pragma(`user_version = ${m.version}`);
      })();
    }
  }

  /** The schema version of the open file. */
  get schemaVersion(): number {
    return this.#db.pragma("user_version", { simple: true }) as number;
  }

  /** A statement that returns rows as arrays of column values (`raw`), cached apart from `#stmt`'s. */
  #rawStmt(sql: string): Database.Statement {
    let s = this.#rawStmts.get(sql);
    if (!s) {
      s = this.#db.prepare(sql).raw(true);
      this.#rawStmts.set(sql, s);
    }
    return s;
  }

  #stmt(sql: string): Database.Statement {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  /** Applies one batch of the write batch in one transaction; returns the runs refused by their lease. */
  #commit(w: PendingWrites): ReadonlySet<string> {
    const synchronous = w.durable ? "FULL" : "NORMAL";
    if (synchronous === this.#synchronous) return this.#apply(w);
    this.#db.pragma(`synchronous = ${synchronous}`);
    try {
      return this.#apply(w);
    } finally {
      this.#db.pragma(`synchronous = ${this.#synchronous}`);
    }
  }

  #apply(w: PendingWrites): ReadonlySet<string> {
    const refused = new Set<string>();
    this.#db.transaction(() => {
      for (const [run, lease] of w.runs) {
        if (!lease) continue;
        const r = this.#stmt("SELECT owner_id, lease_epoch FROM runs WHERE name = ?").get(run) as Row | undefined;
        if (!r || r.owner_id !== lease.owner || r.lease_epoch !== lease.epoch) refused.add(run);
      }
      const lowest = lowestAttemptsWritten(w);
      for (const [key, claim] of w.claims) {
        const a = this.#stmt("SELECT phase FROM actions WHERE run_name = ? AND name = ?").get(claim.runName, claim.action) as Row | undefined;
        const t = this.#stmt("SELECT attempt, owner, phase FROM attempts WHERE run_name = ? AND action = ? ORDER BY attempt DESC LIMIT 1").get(claim.runName, claim.action) as Row | undefined;
        const latest = t && { attempt: t.attempt as number, owner: (t.owner as string | null) ?? null, ended: isTerminal(t.phase as ActionPhase) };
        if (!claimHolds(claim, a !== undefined && isTerminal(a.phase as ActionPhase), latest, lowest.get(key))) refused.add(key);
      }
      const ok = refused.size === 0 ? () => true : (run: string) => !refused.has(run);
      // Writes of an action whose claim no longer holds are dropped with it.
      const okAction = refused.size === 0 ? () => true : (run: string, action: string | null) => ok(run) && (action === null || !refused.has(claimKey(run, action)));
      for (const { key, patch } of w.runPatches.values()) {
        if (!ok(key.name)) continue;
        const keys = Object.keys(patch) as (keyof RunRow)[];
        if (keys.length === 0) continue;
        const values = keys.map((k) => toDb(k, k === "inputs" || k === "outputs" ? this.#uris.toStored(patch[k] as Uint8Array | null) : patch[k]));
        this.#stmt(`UPDATE runs SET ${keys.map((k) => `${RUN_COLS[k]} = ?`).join(", ")} WHERE name = ?`).run(...values, key.name);
      }
      for (const a of w.actions.values()) {
        if (!okAction(a.runName, a.name)) continue;
        if (a.full) {
          const row = a.full;
          this.#stmt(UPSERT_ACTION_SQL).run(ACTION_KEYS.map((k) => actionValue(k, k === "inputs" || k === "outputs" ? this.#uris.toStored(row[k]) : row[k])));
        } else if (a.patch) {
          const patch = a.patch;
          const keys = Object.keys(patch) as (keyof ActionRow)[];
          if (keys.length === 0) continue;
          const values = keys.map((k) => actionValue(k, k === "inputs" || k === "outputs" ? this.#uris.toStored(patch[k] as Uint8Array | null) : patch[k]));
          this.#stmt(`UPDATE actions SET ${keys.map((k) => `${ACTION_COLS[k]} = ?`).join(", ")} WHERE run_name = ? AND name = ?`).run(...values, a.runName, a.name);
        }
      }
      if (w.attempts.size > 0) {
        const s = this.#stmt("INSERT OR REPLACE INTO attempts (run_name, action, attempt, phase, started_at, ended_at, error, owner, lease_epoch) VALUES (?,?,?,?,?,?,?,?,?)");
        for (const r of w.attempts.values()) {
          if (okAction(r.runName, r.action)) s.run(r.runName, r.action, r.attempt, r.phase, r.startedAt, r.endedAt, json(r.error), r.owner, r.leaseEpoch);
        }
      }
      if (w.logs.length > 0) {
        const s = this.#stmt("INSERT INTO logs (run_name, action, attempt, time, stream, message) VALUES (?,?,?,?,?,?)");
        for (const r of w.logs) if (okAction(r.runName, r.action)) s.run(r.runName, r.action, r.attempt, r.time, r.stream, r.message);
      }
      for (const r of w.traces) {
        if (!okAction(r.runName, r.action)) continue;
        this.#stmt("INSERT OR REPLACE INTO traces (run_name, action, key, name, output, error, duration_ms) VALUES (?,?,?,?,?,?,?)")
          .run(r.runName, r.action, r.key, r.name, this.#uris.toStored(r.output), json(r.error), r.durationMs);
      }
      for (const e of w.cache) {
        if (e.runName !== null && !ok(e.runName)) continue;
        this.#stmt("INSERT OR REPLACE INTO cache_entries (key, task_name, outputs, created_at, run_name, action) VALUES (?,?,?,?,?,?)")
          .run(e.key, e.taskName, this.#uris.toStored(e.outputs), e.createdAt, e.runName, e.action);
      }
    })();
    this.checkpointer?.committed();
    return refused;
  }

  /** Reads after committing the queued writes (a failed commit is the writing runs' business, not the reader's). */
  #read<T>(fn: () => T): Promise<T> {
    try {
      if (!this.readOnly) void this.writes.flushNow();
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(e instanceof FlyteError ? e : storeError(this.location, e));
    }
  }

  /** A write that cannot wait for the batch (its result is needed now). */
  #now<T>(fn: () => T): Promise<T> {
    if (this.readOnly) return Promise.reject(this.#readOnlyError());
    return this.#read(fn);
  }

  createRun(row: RunRow, recoveryClaim?: string): Promise<string | undefined> {
    // Inserted at once, so a duplicate name (or a held claim) fails at the caller, not in a later batch.
    return this.#now(() => this.#insertRun(row, recoveryClaim));
  }

  #insertRun(row: RunRow, recoveryClaim: string | undefined): string | undefined {
    const keys = Object.keys(RUN_COLS) as (keyof RunRow)[];
    const cols = [...keys.map((k) => RUN_COLS[k]), "recovery_claim"];
    const sql = `INSERT INTO runs (${cols.join(",")}) VALUES (${cols.map(() => "?").join(",")})`;
    try {
      this.#stmt(sql).run(...keys.map((k) => toDb(k, k === "inputs" || k === "outputs" ? this.#uris.toStored(row[k]) : row[k])), recoveryClaim ?? null);
      return undefined;
    } catch (e) {
      const msg = String((e as Error).message);
      if (recoveryClaim !== undefined && /UNIQUE constraint failed: runs\.recovery_claim/.test(msg)) {
        const holder = this.#stmt(`SELECT name FROM runs WHERE recovery_claim = ? AND phase NOT IN ${TERMINAL_SQL}`).get(recoveryClaim) as { name: string } | undefined;
        // The holder ended between the failed insert and this read: the claim is free now.
        return holder ? holder.name : this.#insertRun(row, recoveryClaim);
      }
      if (/UNIQUE constraint failed: runs\.name/.test(msg)) {
        const other = this.#stmt("SELECT project, domain FROM runs WHERE name = ?").get(row.name) as Row | undefined;
        throw new RunAlreadyExistsError(
          `A run named "${row.name}" already exists in ${String(other?.project ?? row.project)}/${String(other?.domain ?? row.domain)}. Choose another name, or omit it to get a generated one.`,
        );
      }
      throw e;
    }
  }

  getRun(key: RunKey): Promise<RunRow | undefined> {
    return this.#read(() => {
      const r = this.#stmt("SELECT * FROM runs WHERE name = ? AND project = ? AND domain = ?").get(key.name, key.project, key.domain) as Row | undefined;
      return r ? this.#runIn(runFromDb(r)) : undefined;
    });
  }

  listRuns(scope: { project: string; domain: string }, q: ListRunsQuery = {}): Promise<RunRow[]> {
    return this.#read(() => {
      const where = ["project = ?", "domain = ?"];
      const args: unknown[] = [scope.project, scope.domain];
      if (q.phase) (where.push("phase = ?"), args.push(q.phase));
      if (q.task) (where.push("task_name LIKE ?"), args.push(`%${q.task}%`));
      if (q.label) (where.push("json_extract(labels, ?) = ?"), args.push(`$."${q.label[0]}"`, q.label[1]));
      const sql = `SELECT * FROM runs WHERE ${where.join(" AND ")} ORDER BY created_at DESC LIMIT ?`;
      return (this.#db.prepare(sql).all(...args, q.limit ?? 20) as Row[]).map((r) => this.#runIn(runFromDb(r)));
    });
  }

  requestAbort(key: RunKey, reason: string): Promise<boolean> {
    return this.#now(() =>
      this.#stmt(`UPDATE runs SET abort_requested = ? WHERE name = ? AND project = ? AND domain = ? AND phase NOT IN ${TERMINAL_SQL}`)
        .run(reason, key.name, key.project, key.domain).changes > 0,
    );
  }

  renewLease(key: RunKey, lease: Lease, ttlMs: number): Promise<{ lease: Lease; abortRequested: string | null } | undefined> {
    return this.#now(() => {
      const now = Date.now();
      const renewed = { ...lease, expiresAt: now + ttlMs };
      const changed = this.#stmt("UPDATE runs SET lease_expires_at = ?, heartbeat_at = ? WHERE name = ? AND owner_id = ? AND lease_epoch = ?")
        .run(renewed.expiresAt, now, key.name, lease.owner, lease.epoch).changes;
      if (changed === 0) return undefined;
      const r = this.#stmt("SELECT abort_requested FROM runs WHERE name = ?").get(key.name) as Row;
      return { lease: renewed, abortRequested: (r.abort_requested as string | null) ?? null };
    });
  }

  reapLostRuns(isLost: (r: OwnerProbe) => boolean, error: (run: string) => ErrorRecord): Promise<string[]> {
    // A read-only snapshot cannot record anything; the next writable open reaps.
    if (this.readOnly) return Promise.resolve([]);
    return this.#read(() => {
      const active = this.#stmt(`SELECT name, owner_id, owner_pid, owner_host, lease_expires_at FROM runs WHERE phase NOT IN ${TERMINAL_SQL}`).all() as Row[];
      const lost = active.filter((r) =>
        isLost({ name: r.name as string, ownerId: (r.owner_id as string | null) ?? null, ownerPid: num(r.owner_pid), ownerHost: (r.owner_host as string | null) ?? null, leaseExpiresAt: num(r.lease_expires_at) }),
      );
      if (lost.length === 0) return [];
      const now = Date.now();
      this.#db.transaction(() => {
        for (const r of lost) {
          const record = JSON.stringify(error(r.name as string));
          // A new epoch and no owner: whatever the lost owner still tries to write is refused (see WriteBatch).
          this.#stmt(`UPDATE runs SET phase = 'failed', error = ?, ended_at = ?, owner_id = NULL, lease_epoch = lease_epoch + 1, lease_expires_at = NULL WHERE name = ? AND phase NOT IN ${TERMINAL_SQL}`)
            .run(record, now, r.name);
          this.#stmt(`UPDATE actions SET phase = 'failed', error = ?, ended_at = ? WHERE run_name = ? AND phase NOT IN ${TERMINAL_SQL}`).run(record, now, r.name);
          this.#stmt(`UPDATE attempts SET phase = 'failed', error = ?, ended_at = ? WHERE run_name = ? AND phase NOT IN ${TERMINAL_SQL}`).run(record, now, r.name);
        }
      })();
      return lost.map((r) => r.name as string);
    });
  }

  expireQueued(runName: string, action: string, e: { attemptCount: number; phase: ActionPhase; error: ErrorRecord; at: number; owner: string }): Promise<boolean> {
    if (this.readOnly) return Promise.resolve(false);
    return this.#read(() => this.#db.transaction(() => {
      const error = JSON.stringify(e.error);
      const u = this.#stmt("UPDATE actions SET phase = ?, error = ?, ended_at = ?, attempt_count = ? WHERE run_name = ? AND name = ? AND phase = 'queued' AND attempt_count = ?")
        .run(e.phase, error, e.at, e.attemptCount + 1, runName, action, e.attemptCount);
      if (u.changes === 0) return false;
      this.#stmt("INSERT OR REPLACE INTO attempts (run_name, action, attempt, phase, started_at, ended_at, error, owner, lease_epoch) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, 0)")
        .run(runName, action, e.attemptCount, e.phase, e.at, error, e.owner);
      return true;
    })());
  }

  #runIn(r: RunRow): RunRow {
    r.inputs = this.#uris.fromStored(r.inputs);
    r.outputs = this.#uris.fromStored(r.outputs);
    return r;
  }

  #actionIn(a: ActionRow): ActionRow {
    a.inputs = this.#uris.fromStored(a.inputs);
    a.outputs = this.#uris.fromStored(a.outputs);
    return a;
  }

  getAction(runName: string, name: string): Promise<ActionRow | undefined> {
    return this.#read(() => {
      const r = this.#stmt("SELECT * FROM actions WHERE run_name = ? AND name = ?").get(runName, name) as Row | undefined;
      return r ? this.#actionIn(actionFromDb(r)) : undefined;
    });
  }

  listActions(runName: string): Promise<ActionRow[]> {
    return this.#read(() => (this.#stmt("SELECT * FROM actions WHERE run_name = ? ORDER BY created_at, name").all(runName) as Row[]).map((r) => this.#actionIn(actionFromDb(r))));
  }

  listActionSummaries(runName: string): Promise<ActionSummary[]> {
    return this.#read(() =>
      (this.#rawStmt(`SELECT ${ACTION_SUMMARY_SQL} FROM actions WHERE run_name = ? ORDER BY created_at, name`).all(runName) as unknown[][]).map(actionSummaryFromValues),
    );
  }

  listSucceeded(runName: string): Promise<Array<Pick<ActionRow, "name" | "inputsHash" | "outputs">>> {
    return this.#read(() =>
      (this.#stmt("SELECT name, inputs_hash, outputs FROM actions WHERE run_name = ? AND phase = 'succeeded'").all(runName) as Row[]).map((r) => ({
        name: r.name as string, inputsHash: r.inputs_hash as string, outputs: this.#uris.fromStored(bytes(r.outputs)),
      })),
    );
  }

  listAttempts(runName: string, action?: string): Promise<AttemptRow[]> {
    return this.#read(() => {
      const rows = action
        ? this.#stmt("SELECT * FROM attempts WHERE run_name = ? AND action = ? ORDER BY attempt").all(runName, action)
        : undefined;
      if (rows) return (rows as Row[]).map(attemptFromDb);
      // A whole run's attempts (a tree of 10,000 actions has as many): read raw, without an object per row from the driver.
      const raw = this.#rawStmt(`SELECT ${ATTEMPT_VALUES_SQL} FROM attempts WHERE run_name = ? ORDER BY action, attempt`).all(runName) as unknown[][];
      return raw.map((v) => attemptFromValues(runName, v));
    });
  }

  readLogs(runName: string, q: { action?: string; attempt?: number; afterId?: number } = {}): Promise<Array<LogRow & { id: number }>> {
    return this.#read(() => {
      const where = ["run_name = ?", "id > ?"];
      const args: unknown[] = [runName, q.afterId ?? 0];
      if (q.action !== undefined) (where.push("action = ?"), args.push(q.action));
      if (q.attempt !== undefined) (where.push("attempt = ?"), args.push(q.attempt));
      const rows = this.#db.prepare(`SELECT * FROM logs WHERE ${where.join(" AND ")} ORDER BY id`).all(...args) as Row[];
      return rows.map((r) => ({
        id: r.id as number, runName: r.run_name as string, action: r.action as string, attempt: r.attempt as number,
        time: r.time as number, stream: r.stream as LogRow["stream"], message: r.message as string,
      }));
    });
  }

  getTrace(runName: string, action: string, key: string): Promise<TraceRow | undefined> {
    return this.#read(() => {
      const r = this.#stmt("SELECT * FROM traces WHERE run_name = ? AND action = ? AND key = ?").get(runName, action, key) as Row | undefined;
      if (!r) return undefined;
      return {
        runName: r.run_name as string, action: r.action as string, key: r.key as string, name: r.name as string,
        output: this.#uris.fromStored(bytes(r.output)), error: parse<ErrorRecord>(r.error), durationMs: r.duration_ms as number,
      };
    });
  }

  getCache(key: string): Promise<CacheEntry | undefined> {
    return this.#read(() => {
      const r = this.#stmt("SELECT * FROM cache_entries WHERE key = ?").get(key) as Row | undefined;
      if (!r) return undefined;
      return {
        key: r.key as string, taskName: r.task_name as string, outputs: this.#uris.fromStored(r.outputs as Uint8Array)!, createdAt: r.created_at as number,
        runName: (r.run_name as string | null) ?? null, action: (r.action as string | null) ?? null,
      };
    });
  }

  /**
   * Serialized cache keys are held in this process: an embedded store executes its runs here. (Two processes that
   * share one SQLite file can each execute a key once; the cluster backend's store locks across processes.)
   */
  lockCacheKey(key: string, signal?: AbortSignal): Promise<() => Promise<void>> {
    return cacheLocks.lock(`${this.location}\0${key}`, signal);
  }

  clearCache(taskName?: string): Promise<number> {
    return this.#now(() => {
      const r = taskName === undefined ? this.#stmt("DELETE FROM cache_entries").run() : this.#stmt("DELETE FROM cache_entries WHERE task_name = ?").run(taskName);
      return r.changes;
    });
  }

  putDeployment(d: DeploymentRow, tasks: TaskSpecRow[], triggers: TriggerRow[]): Promise<PutDeploymentResult> {
    return this.#now(() =>
      // IMMEDIATE: the check and the insert hold the write lock together, so two deploys of one version cannot both insert.
      this.#db.transaction((): PutDeploymentResult => {
        const found = this.#stmt("SELECT * FROM deployments WHERE project = ? AND domain = ? AND version = ?").get(d.project, d.domain, d.version) as Row | undefined;
        if (found) {
          const existing = this.#deploymentFromDb(found);
          if (existing.contentHash !== d.contentHash) return { status: "conflict", existing };
          // The same deployment: a no-op unless a later deployment made other versions of its tasks the latest.
          const stale = tasks.filter((t) => this.#latestVersion(t.project, t.domain, t.name) !== t.version);
          if (stale.length === 0) return { status: "unchanged", promoted: false };
          const bump = this.#stmt("UPDATE task_specs SET deployed_at = ? WHERE project = ? AND domain = ? AND name = ? AND version = ?");
          for (const t of stale) bump.run(d.createdAt, t.project, t.domain, t.name, t.version);
          this.#replaceTriggers(d, tasks, triggers);
          return { status: "unchanged", promoted: true };
        }
        this.#stmt(
          "INSERT INTO deployments (project, domain, version, content_hash, bundle_uri, bundle_digest, copy_style, environments, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
        ).run(d.project, d.domain, d.version, d.contentHash, d.bundleUri === null ? null : this.#uris.uriToStored(d.bundleUri), d.bundleDigest, d.copyStyle,
          JSON.stringify(d.environments), d.createdAt);
        const put = this.#stmt(
          "INSERT OR REPLACE INTO task_specs (project, domain, name, version, environment, spec, created_at, deployed_at) VALUES (?,?,?,?,?,?,?,?)",
        );
        for (const t of tasks) put.run(t.project, t.domain, t.name, t.version, t.environment, JSON.stringify(t.spec), t.createdAt, t.deployedAt);
        this.#replaceTriggers(d, tasks, triggers);
        return { status: "created" };
      }).immediate(),
    );
  }

  #latestVersion(project: string, domain: string, name: string): string | undefined {
    const r = this.#stmt("SELECT version FROM task_specs WHERE project = ? AND domain = ? AND name = ? ORDER BY deployed_at DESC, version DESC LIMIT 1")
      .get(project, domain, name) as Row | undefined;
    return r?.version as string | undefined;
  }

  /**
   * Replaces the triggers of each deployed task by `triggers`, keeping the activation state of those it had
   * (what `flyte update trigger` set survives a redeploy), and removes the triggers of tasks that the deployed
   * environments held before but no longer declare.
   */
  #replaceTriggers(d: DeploymentRow, tasks: TaskSpecRow[], triggers: TriggerRow[]): void {
    const kept = new Map<string, Row>();
    const get = this.#stmt("SELECT * FROM triggers WHERE project = ? AND domain = ? AND task_name = ?");
    for (const t of tasks) for (const r of get.all(t.project, t.domain, t.name) as Row[]) kept.set(`${r.task_name as string}\0${r.name as string}`, r);
    const drop = this.#stmt("DELETE FROM triggers WHERE project = ? AND domain = ? AND task_name = ?");
    for (const t of tasks) drop.run(t.project, t.domain, t.name);
    for (const e of d.environments) {
      const before = this.#stmt("SELECT DISTINCT name FROM task_specs WHERE project = ? AND domain = ? AND environment = ?").all(d.project, d.domain, e.name) as Row[];
      for (const r of before) if (!e.tasks.includes(r.name as string)) drop.run(d.project, d.domain, r.name);
    }
    const put = this.#stmt("INSERT OR REPLACE INTO triggers (project, domain, task_name, name, version, spec, active, activated_at, created_at) VALUES (?,?,?,?,?,?,?,?,?)");
    for (const g of triggers) {
      const old = kept.get(`${g.taskName}\0${g.name}`);
      const active = old ? old.active === 1 : g.active;
      const activatedAt = old ? (old.activated_at as number | null) : g.activatedAt;
      put.run(g.project, g.domain, g.taskName, g.name, g.version, JSON.stringify(g.spec), active ? 1 : 0, activatedAt, old ? (old.created_at as number) : g.createdAt);
    }
  }

  #deploymentFromDb(r: Row): DeploymentRow {
    return {
      project: r.project as string, domain: r.domain as string, version: r.version as string, contentHash: r.content_hash as string,
      bundleUri: typeof r.bundle_uri === "string" ? this.#uris.uriFromStored(r.bundle_uri) : null, bundleDigest: (r.bundle_digest as string | null) ?? null,
      copyStyle: r.copy_style as DeploymentRow["copyStyle"], environments: JSON.parse(r.environments as string) as DeploymentRow["environments"],
      createdAt: r.created_at as number,
    };
  }

  getDeployment(scope: { project: string; domain: string }, version: string): Promise<DeploymentRow | undefined> {
    return this.#read(() => {
      const r = this.#stmt("SELECT * FROM deployments WHERE project = ? AND domain = ? AND version = ?").get(scope.project, scope.domain, version) as Row | undefined;
      return r ? this.#deploymentFromDb(r) : undefined;
    });
  }

  listTasks(scope: { project: string; domain: string }, q: { name?: string; limit?: number } = {}): Promise<TaskSpecRow[]> {
    return this.#read(() => {
      const rows = q.name !== undefined
        ? this.#stmt("SELECT * FROM task_specs WHERE project = ? AND domain = ? AND name = ? ORDER BY deployed_at DESC, version DESC LIMIT ?")
          .all(scope.project, scope.domain, q.name, q.limit ?? -1)
        : this.#stmt(
          `SELECT * FROM task_specs t WHERE project = ? AND domain = ? AND version = (
             SELECT version FROM task_specs l WHERE l.project = t.project AND l.domain = t.domain AND l.name = t.name ORDER BY deployed_at DESC, version DESC LIMIT 1
           ) ORDER BY name LIMIT ?`,
        ).all(scope.project, scope.domain, q.limit ?? -1);
      return (rows as Row[]).map(taskSpecFromDb);
    });
  }

  getTask(scope: { project: string; domain: string }, name: string, version?: string): Promise<TaskSpecRow | undefined> {
    return this.#read(() => {
      const r = version !== undefined
        ? this.#stmt("SELECT * FROM task_specs WHERE project = ? AND domain = ? AND name = ? AND version = ?").get(scope.project, scope.domain, name, version)
        : this.#stmt("SELECT * FROM task_specs WHERE project = ? AND domain = ? AND name = ? ORDER BY deployed_at DESC, version DESC LIMIT 1").get(scope.project, scope.domain, name);
      return r ? taskSpecFromDb(r as Row) : undefined;
    });
  }

  listTriggers(scope: { project: string; domain: string }, q: { task?: string } = {}): Promise<TriggerRow[]> {
    return this.#read(() => {
      const rows = q.task !== undefined
        ? this.#stmt("SELECT * FROM triggers WHERE project = ? AND domain = ? AND task_name = ? ORDER BY task_name, name").all(scope.project, scope.domain, q.task)
        : this.#stmt("SELECT * FROM triggers WHERE project = ? AND domain = ? ORDER BY task_name, name").all(scope.project, scope.domain);
      return (rows as Row[]).map(triggerFromDb);
    });
  }

  setTriggerActive(scope: { project: string; domain: string }, task: string, name: string, active: boolean, at: number): Promise<TriggerRow | undefined> {
    return this.#now(() => {
      this.#stmt(
        "UPDATE triggers SET active = ?, activated_at = CASE WHEN ? = 0 THEN NULL WHEN active = 1 THEN activated_at ELSE ? END WHERE project = ? AND domain = ? AND task_name = ? AND name = ?",
      ).run(active ? 1 : 0, active ? 1 : 0, at, scope.project, scope.domain, task, name);
      const r = this.#stmt("SELECT * FROM triggers WHERE project = ? AND domain = ? AND task_name = ? AND name = ?").get(scope.project, scope.domain, task, name) as Row | undefined;
      return r ? triggerFromDb(r) : undefined;
    });
  }

  deleteTrigger(scope: { project: string; domain: string }, task: string, name: string): Promise<boolean> {
    return this.#now(() => this.#stmt("DELETE FROM triggers WHERE project = ? AND domain = ? AND task_name = ? AND name = ?").run(scope.project, scope.domain, task, name).changes > 0);
  }

  recordFire(f: Omit<FireRow, "runName" | "state" | "error">, runNames: readonly string[]): Promise<string | undefined> {
    return this.#now(() =>
      // IMMEDIATE: the checks and the insert hold the write lock together, so two schedulers (processes sharing the
      // file) cannot both record the fire time, nor both take one run name.
      this.#db.transaction((): string | undefined => {
        const seen = this.#stmt("SELECT 1 FROM trigger_fires WHERE project = ? AND domain = ? AND task_name = ? AND trigger_name = ? AND fire_time = ?")
          .get(f.project, f.domain, f.taskName, f.triggerName, f.fireTime);
        if (seen) return undefined;
        const used = this.#stmt("SELECT (SELECT count(*) FROM runs WHERE name = ?) + (SELECT count(*) FROM trigger_fires WHERE run_name = ?) AS n");
        const name = runNames.find((n) => (used.get(n, n) as Row).n === 0);
        if (name === undefined) return undefined;
        this.#stmt(
          `INSERT INTO trigger_fires (project, domain, task_name, trigger_name, fire_time, version, run_name, state, error, claimed_by, claim_expires_at, recorded_at)
             VALUES (?,?,?,?,?,?,?,'pending',NULL,?,?,?)`,
        ).run(f.project, f.domain, f.taskName, f.triggerName, f.fireTime, f.version, name, f.claimedBy, f.claimExpiresAt, f.recordedAt);
        return name;
      }).immediate(),
    );
  }

  claimStaleFires(scope: { project: string; domain: string }, owner: string, now: number, until: number): Promise<FireRow[]> {
    return this.#now(() => {
      const rows = this.#stmt(
        `UPDATE trigger_fires SET claimed_by = ?, claim_expires_at = ?
           WHERE project = ? AND domain = ? AND state = 'pending' AND (claim_expires_at IS NULL OR claim_expires_at < ?) RETURNING *`,
      ).all(owner, until, scope.project, scope.domain, now) as Row[];
      return rows.map(fireFromDb).sort((a, b) => a.fireTime - b.fireTime);
    });
  }

  finishFire(k: FireKey, owner: string, state: "created" | "failed", error: string | null): Promise<boolean> {
    return this.#now(() => this.#stmt(
      `UPDATE trigger_fires SET state = ?, error = ?, claimed_by = NULL, claim_expires_at = NULL
         WHERE project = ? AND domain = ? AND task_name = ? AND trigger_name = ? AND fire_time = ? AND state = 'pending' AND claimed_by = ?`,
    ).run(state, error, k.project, k.domain, k.taskName, k.triggerName, k.fireTime, owner).changes > 0);
  }

  listFires(scope: { project: string; domain: string }, q: { task?: string; trigger?: string; limit?: number; latest?: boolean } = {}): Promise<FireRow[]> {
    return this.#read(() => {
      const where = ["f.project = ?", "f.domain = ?"];
      const args: unknown[] = [scope.project, scope.domain];
      if (q.task !== undefined) (where.push("f.task_name = ?"), args.push(q.task));
      if (q.trigger !== undefined) (where.push("f.trigger_name = ?"), args.push(q.trigger));
      if (q.latest) {
        where.push(`f.fire_time = (SELECT max(l.fire_time) FROM trigger_fires l
          WHERE l.project = f.project AND l.domain = f.domain AND l.task_name = f.task_name AND l.trigger_name = f.trigger_name)`);
      }
      const rows = this.#stmt(`SELECT * FROM trigger_fires f WHERE ${where.join(" AND ")} ORDER BY f.fire_time DESC, f.task_name, f.trigger_name LIMIT ?`)
        .all(...args, q.limit ?? -1) as Row[];
      return rows.map(fireFromDb);
    });
  }

  recordFailedRun(key: RunKey, error: ErrorRecord, endedAt: number): Promise<boolean> {
    if (this.readOnly || !this.#db.open) return Promise.resolve(false);
    const err = JSON.stringify(error);
    const end = "owner_id = NULL, lease_expires_at = NULL";
    try {
      this.#db.transaction(() => {
        this.#db.prepare(`UPDATE runs SET phase = 'failed', error = ?, ended_at = ?, ${end} WHERE name = ?`).run(err, endedAt, key.name);
        this.#db.prepare(`UPDATE actions SET phase = 'failed', error = ?, ended_at = ? WHERE run_name = ? AND phase NOT IN ${TERMINAL_SQL}`).run(err, endedAt, key.name);
        this.#db.prepare(`UPDATE attempts SET phase = 'failed', error = ?, ended_at = ? WHERE run_name = ? AND phase NOT IN ${TERMINAL_SQL}`).run(err, endedAt, key.name);
      })();
      return Promise.resolve(true);
    } catch {
      try {
        // The actions' rows may not fit; the run's own record matters most.
        this.#db.prepare(`UPDATE runs SET phase = 'failed', error = ?, ended_at = ?, ${end} WHERE name = ?`).run(err, endedAt, key.name);
      } catch {
        return Promise.resolve(false);
      }
      try {
        // Then the unfinished actions and attempts end too, without the error's text (the run has it): a phase and
        // an end time grow a row by a few bytes, which a full store can often still take.
        this.#db.transaction(() => {
          this.#db.prepare(`UPDATE actions SET phase = 'failed', ended_at = ? WHERE run_name = ? AND phase NOT IN ${TERMINAL_SQL}`).run(endedAt, key.name);
          this.#db.prepare(`UPDATE attempts SET phase = 'failed', ended_at = ? WHERE run_name = ? AND phase NOT IN ${TERMINAL_SQL}`).run(endedAt, key.name);
        })();
      } catch {
        // Left running: `flyte get run` shows the run failed with why.
      }
      return Promise.resolve(true);
    }
  }

  close(): Promise<void> {
    try {
      if (!this.readOnly && this.#db.open) void this.writes.flushNow();
    } finally {
      this.checkpointer?.close();
      if (this.#db.open) this.#db.close();
      if (this.#snapshotDir) rmSync(this.#snapshotDir, { recursive: true, force: true });
    }
    return Promise.resolve();
  }
}

function triggerFromDb(r: Row): TriggerRow {
  return {
    project: r.project as string, domain: r.domain as string, taskName: r.task_name as string, name: r.name as string, version: r.version as string,
    spec: JSON.parse(r.spec as string) as Record<string, unknown>, active: r.active === 1, activatedAt: (r.activated_at as number | null) ?? null,
    createdAt: r.created_at as number,
  };
}

/** Opens the SQLite store at `location` (how the store conformance suite opens it from another process). */
export function openSqliteStore(location: string): SqliteStore {
  return new SqliteStore(location);
}
