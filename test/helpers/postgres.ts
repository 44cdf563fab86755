/**
 * A real PostgreSQL server for tests, started through `startLocalPostgres()` (src/dev/postgres.ts, the same code as
 * `flyte dev cluster` and the cluster benchmarks; its binaries ship in node_modules): nothing assumes a server is
 * already running. `usePostgres()` starts one per test file (in `beforeAll`) and stops it in `afterAll`, whatever
 * the tests did; each `createDatabase()` is a fresh, empty database on it.
 *
 * PostgreSQL refuses to run as root. Under root (CI containers) the server runs as a `postgres` system user,
 * created when missing (`useradd`), and the data dir under /tmp is made reachable and owned by it.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { freePort, startLocalPostgres } from "../../src/dev/postgres.ts";

export { freePort };

export interface PgServer {
  host: string;
  port: number;
  user: string;
  password: string;
  /** A new, empty database; returns its URL (with the password). */
  createDatabase(): Promise<string>;
  /** The URL of `database` (with the password). */
  url(database: string): string;
  stop(): Promise<void>;
}

const PASSWORD = "flyte-test";

/** Starts a PostgreSQL server on a free port with its data under /tmp (deleted when it stops; no fsync). */
export async function startPostgres(): Promise<PgServer> {
  const base = mkdtempSync(join(tmpdir(), "flyte-pg-"));
  // The server's user (postgres, when we are root) must reach the data dir inside this root-owned 0700 directory.
  chmodSync(base, 0o755);
  let server;
  try {
    server = await startLocalPostgres({ dataDir: join(base, "data"), port: 0, password: PASSWORD, ephemeral: true, fsync: false });
  } catch (e) {
    rmSync(base, { recursive: true, force: true });
    throw e;
  }
  let n = 0;
  let stopped: Promise<void> | undefined;
  return {
    host: server.host, port: server.port, user: server.user, password: PASSWORD, url: server.url,
    createDatabase: () => server.ensureDatabase(`flyte_test_${process.pid}_${++n}`),
    stop() {
      stopped ??= (async () => {
        await server.stop();
        rmSync(base, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/**
 * One server for the test file that calls it: started before its tests, stopped after them (even when they
 * fail). The returned getter gives the server once `beforeAll` has run.
 */
export function usePostgres(): () => PgServer {
  let server: PgServer | undefined;
  beforeAll(async () => {
    server = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  }, 30_000);
  return () => {
    if (!server) throw new Error("usePostgres(): the server is not started (use it inside tests, after beforeAll).");
    return server;
  };
}
