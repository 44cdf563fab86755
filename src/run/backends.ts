/**
 * Backends: what `backend:` in the config selects. A backend is a store (the `RunStore` port) and a controller
 * (the `Controller` interface) that executes over it; everything above them (run(), the Run handle, the CLI)
 * uses only those two interfaces. `openBackend` resolves once the backend is usable: connected, migrated, and
 * with the runs whose owner died already reaped.
 *
 * - embedded: SQLite in the state dir plus the in-process controller.
 * - cluster: the PostgreSQL store plus, until the queue dispatcher and workers exist, the same in-process
 *   controller: actions execute in the process that started the run, recorded in PostgreSQL.
 */
import { join } from "node:path";
import type { Controller } from "../controller/controller.ts";
import { isOwnerLost, ownerLostError } from "../controller/leases.ts";
import { LocalController } from "../controller/local-controller.ts";
import { InitializationError } from "../errors.ts";
import type { BlobStore } from "../io/blob-store.ts";
import type { SecretStore } from "../secrets/secret-store.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";
import type { RunStore } from "../store/store.ts";
import type { ResolvedConfig } from "./config.ts";

export interface Backend {
  store: RunStore;
  controller: Controller;
}

type With = { blobStore: BlobStore; secrets: SecretStore };

function localController(config: ResolvedConfig, store: RunStore, { blobStore, secrets }: With): Controller {
  const rawDataPath = config.rawDataPath.includes("://") ? config.rawDataPath : blobStore.uriFor("raw");
  return new LocalController({ store, blobStore, secrets, rawDataPath, systemRetries: config.systemRetries, offload: config.offload });
}

/**
 * The embedded backend, opened synchronously (SQLite answers at once): what the first `run()` of a process
 * without `init()` uses. Runs whose owner died (kill -9, power loss) are marked failed as soon as anyone opens
 * the store; the SQLite store's promise settles at once, so nothing is read before it.
 */
export function openEmbeddedBackend(config: ResolvedConfig, with_: With): Backend {
  const store = new SqliteStore(join(config.stateDir, "flyte.db"), { durability: config.durability });
  void store.reapLostRuns(isOwnerLost, ownerLostError);
  return { store, controller: localController(config, store, with_) };
}

async function openCluster(config: ResolvedConfig, with_: With): Promise<Backend> {
  if (!config.databaseUrl) {
    throw new InitializationError('backend "cluster" needs a databaseUrl (postgres://user:pass@host:5432/db). Set store.databaseUrl or FLYTE_DATABASE_URL.', { code: "BadConfig" });
  }
  // Loaded only here: the embedded backend never pays for pg.
  const { openPostgresStore } = await import("../store/postgres/postgres-store.ts");
  const store = await openPostgresStore(config.databaseUrl, { durability: config.durability, ...(config.poolSize === undefined ? {} : { poolSize: config.poolSize }) });
  try {
    await store.reapLostRuns(isOwnerLost, ownerLostError);
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
  return { store, controller: localController(config, store, with_) };
}

/** Opens the backend `config` selects; resolves once it is usable (see the module comment). */
export async function openBackend(config: ResolvedConfig, with_: With): Promise<Backend> {
  if (config.backend === "cluster") return openCluster(config, with_);
  const store = new SqliteStore(join(config.stateDir, "flyte.db"), { durability: config.durability });
  await store.reapLostRuns(isOwnerLost, ownerLostError);
  return { store, controller: localController(config, store, with_) };
}
