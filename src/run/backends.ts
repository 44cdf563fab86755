/**
 * Backends: what `backend:` in the config selects. A backend is a store (the `RunStore` port) and a controller
 * (the `Controller` interface) that executes over it; everything above them (run(), the Run handle, the CLI)
 * uses only those two interfaces. `openBackend` resolves once the backend is usable: connected, migrated, and
 * with the runs whose owner died already reaped.
 *
 * - embedded: SQLite in the state dir plus the in-process controller (every run is `local`).
 * - cluster: the PostgreSQL store, the action queue (graphile-worker on the same database) and the same
 *   controller, whose `hybrid` runs send task calls to the queue and whose `remote` runs enqueue the root;
 *   `flyte worker` processes execute what is queued.
 */
import { join } from "node:path";
import type { Controller } from "../controller/controller.ts";
import { isOwnerLost, ownerLostError } from "../controller/leases.ts";
import { LocalController, type LocalControllerOptions } from "../controller/local-controller.ts";
import { InitializationError } from "../errors.ts";
import type { BlobStore } from "../io/blob-store.ts";
import type { ActionQueue } from "../queue/action-queue.ts";
import type { SecretStore } from "../secrets/secret-store.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";
import type { RunStore } from "../store/store.ts";
import type { ResolvedConfig } from "./config.ts";

export interface Backend {
  store: RunStore;
  controller: Controller;
  /** The cluster backend's action queue. */
  queue?: ActionQueue;
}

type With = { blobStore: BlobStore; secrets: SecretStore };

function localController(config: ResolvedConfig, store: RunStore, { blobStore, secrets }: With, more: Partial<LocalControllerOptions> = {}): LocalController {
  const rawDataPath = config.rawDataPath.includes("://") ? config.rawDataPath : blobStore.uriFor("raw");
  return new LocalController({ store, blobStore, secrets, rawDataPath, systemRetries: config.systemRetries, offload: config.offload, ...more });
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
  // Loaded only here: the embedded backend never pays for pg and graphile-worker.
  const { openPostgresStore, databaseUnreachable } = await import("../store/postgres/postgres-store.ts");
  const store = await openPostgresStore(config.databaseUrl, { durability: config.durability, ...(config.poolSize === undefined ? {} : { poolSize: config.poolSize }) });
  let queue: ActionQueue | undefined;
  try {
    await store.reapLostRuns(isOwnerLost, ownerLostError);
    const [{ ActionQueue, newPool }, { QueueDispatcher }, { HybridDispatcher }] = await Promise.all([
      import("../queue/action-queue.ts"), import("../queue/queue-dispatcher.ts"), import("../queue/hybrid-dispatcher.ts"),
    ]);
    // The queue's own pool: its LISTEN connection must not take a slot the store's statements wait for.
    queue = await ActionQueue.open(newPool(config.databaseUrl, Math.max(4, config.poolSize ?? 10)));
    const queued = new QueueDispatcher(queue);
    const controller = localController(config, store, with_, {
      dispatchers: { hybrid: (inline) => new HybridDispatcher(inline, queued) },
      enqueueRoot: async (run, req) => void (await queued.submit(run, req)),
      // The store's trigger notifies a run's end on the queue's channel, keyed `<project>/<domain>/<run>` (migration 006).
      awaitRunEnd: (key, check, signal) => queue!.whenDone(`${key.project}/${key.domain}/${key.name}`, check, signal, `run "${key.name}"`),
    });
    return { store, controller, queue };
  } catch (e) {
    await queue?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    // The database went away while the queue was being opened and did not come back: said as for the store.
    const { DatabaseOutageError } = await import("../store/postgres/reconnect.ts");
    if (e instanceof DatabaseOutageError) throw databaseUnreachable(config.databaseUrl, e.lastError);
    throw e;
  }
}

/** Opens the backend `config` selects; resolves once it is usable (see the module comment). */
export async function openBackend(config: ResolvedConfig, with_: With): Promise<Backend> {
  if (config.backend === "cluster") return openCluster(config, with_);
  const store = new SqliteStore(join(config.stateDir, "flyte.db"), { durability: config.durability });
  await store.reapLostRuns(isOwnerLost, ownerLostError);
  return { store, controller: localController(config, store, with_) };
}
