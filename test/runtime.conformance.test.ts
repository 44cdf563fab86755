/**
 * The runtime conformance suite (test/helpers/runtime.conformance.ts) on the embedded backend: SQLite, local
 * mode, every action in this process. test/cluster.conformance.test.ts runs the same suite on the cluster backend.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll } from "vitest";
import { init } from "flyte-ts";
import { SECRET_KEY } from "./fixtures/conformance.ts";
import { LocalSecretStore } from "../src/secrets/secret-store.ts";
import { runtimeConformance } from "./helpers/runtime.conformance.ts";

const SECRET = "conformance-secret-embedded";
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "flyte-conf-embedded-"));
  // The fixture's tasks record what they executed under $FLYTE_CONF_DIR (they run in this process here).
  process.env.FLYTE_CONF_DIR = dir;
  await init({ root: dir });
  new LocalSecretStore(join(dir, ".flyte")).set({ key: SECRET_KEY }, SECRET);
});

runtimeConformance({
  prefix: "emb",
  mode: "local",
  dir: () => dir,
  context: (name) => ({ name, mode: "local" }),
  rootPids: () => [process.pid],
  childPids: () => [process.pid],
  secretValue: SECRET,
});
