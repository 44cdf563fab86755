/**
 * A real PostgreSQL server for tests and the chaos harness (`npm run chaos -- --backend cluster`, which runs outside
 * vitest, hence no vitest import here: `usePostgres()` is in postgres.ts), started through `startLocalPostgres()`
 * (src/dev/postgres.ts, the same code as `flyte dev cluster` and the cluster benchmarks): nothing assumes a server
 * is already running. Each `createDatabase()` is a fresh, empty database on it. Under root the server runs as a
 * `postgres` system user (PostgreSQL refuses root), with its data dir under /tmp made reachable by it.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startLocalPostgres, type LocalPostgres } from "../../src/dev/postgres.ts";

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
  /**
   * Stops the server (a fast shutdown: every connection is cut), runs `whileDown` (or waits `whileDown` ms), then
   * starts it again on the same port and data dir: a database restart as its clients see it.
   */
  restart(whileDown?: number | (() => Promise<unknown>)): Promise<void>;
  stop(): Promise<void>;
}

const PASSWORD = "flyte-test";

/** Starts a PostgreSQL server on a free port with its data under /tmp (deleted when it stops; no fsync). */
export async function startPostgres(): Promise<PgServer> {
  const base = mkdtempSync(join(tmpdir(), "flyte-pg-"));
  // The server's user (postgres, when we are root) must reach the data dir inside this root-owned 0700 directory.
  chmodSync(base, 0o755);
  const dataDir = join(base, "data");
  // Not ephemeral: the data dir outlives a stop, so restart() starts the server on it again; stop() removes it.
  const start = (port: number) => startLocalPostgres({ dataDir, port, password: PASSWORD, fsync: false });
  let server: LocalPostgres;
  try {
    server = await start(0);
  } catch (e) {
    rmSync(base, { recursive: true, force: true });
    throw e;
  }
  const port = server.port;
  let n = 0;
  let stopped: Promise<void> | undefined;
  return {
    host: server.host, port, user: server.user, password: PASSWORD, url: (database) => server.url(database),
    createDatabase: () => server.ensureDatabase(`flyte_test_${process.pid}_${++n}`),
    async restart(whileDown = 0) {
      await server.stop();
      if (typeof whileDown === "number") await new Promise((r) => setTimeout(r, whileDown));
      else await whileDown();
      server = await start(port);
    },
    stop() {
      stopped ??= (async () => {
        await server.stop().catch(() => undefined);
        rmSync(base, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
