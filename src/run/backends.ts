/**
 * Backends: what `backend:` in the config selects. A backend is a store (the `RunStore` port) and a controller
 * (the `Controller` interface) that executes over it; everything above them (run(), the Run handle, the CLI)
 * uses only those two interfaces. The embedded backend is SQLite in the state dir plus the in-process
 * controller; a cluster backend plugs in here with a PostgreSQL store and a queue dispatcher.
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

type OpenBackend = (config: ResolvedConfig, with_: { blobStore: BlobStore; secrets: SecretStore }) => Backend;

const embedded: OpenBackend = (config, { blobStore, secrets }) => {
  const store = new SqliteStore(join(config.stateDir, "flyte.db"), { durability: config.durability });
  // Runs whose owner died (kill -9, power loss) are marked failed as soon as anyone opens the store. Its
  // promise settles at once (SQLite): nothing is read before it.
  void store.reapLostRuns(isOwnerLost, ownerLostError);
  const rawDataPath = config.rawDataPath.includes("://") ? config.rawDataPath : blobStore.uriFor("raw");
  const controller = new LocalController({ store, blobStore, secrets, rawDataPath, systemRetries: config.systemRetries, offload: config.offload });
  return { store, controller };
};

const BACKENDS: Record<ResolvedConfig["backend"], OpenBackend | undefined> = { embedded, cluster: undefined };

export function openBackend(config: ResolvedConfig, with_: { blobStore: BlobStore; secrets: SecretStore }): Backend {
  const open = BACKENDS[config.backend];
  if (!open) {
    throw new InitializationError(
      `backend "${config.backend}" (PostgreSQL + workers) is not available in this version of flyte-ts. Use backend: embedded (the default).`,
      { code: "BackendNotAvailable" },
    );
  }
  return open(config, with_);
}
