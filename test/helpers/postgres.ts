/**
 * A real PostgreSQL server per test file (see pg-server.ts): `usePostgres()` starts one in `beforeAll` and stops it
 * in `afterAll`, whatever the tests did.
 */
import { afterAll, beforeAll } from "vitest";
import { startPostgres, type PgServer } from "./pg-server.ts";

export { freePort, startPostgres, type PgServer } from "./pg-server.ts";

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
