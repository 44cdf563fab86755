/**
 * The process-wide runtime: resolved configuration, the open stores and the controller. `init()` replaces
 * it; `run()` and the other entry points call `ensureRuntime()`, which initialises from the config file or
 * embedded defaults on first use.
 */
import type { Controller } from "../controller/controller.ts";
import { sweepSecretDirs } from "../controller/secrets.ts";
import { InitializationError } from "../errors.ts";
import type { BlobStore } from "../io/blob-store.ts";
import { openBlobStore } from "../io/storage.ts";
import { setImageConfig } from "../images/config.ts";
import { EnvSecretStore, LocalSecretStore, type SecretStore } from "../secrets/secret-store.ts";
import type { RunStore } from "../store/store.ts";
import { openBackend, openEmbeddedBackend } from "./backends.ts";
import { resolveConfig, type InitOptions, type ResolvedConfig } from "./config.ts";

export interface Runtime {
  config: ResolvedConfig;
  store: RunStore;
  blobStore: BlobStore;
  secrets: SecretStore;
  controller: Controller;
}

const KEY = Symbol.for("flyte-ts.runtime");
const holder = globalThis as unknown as { [KEY]?: Runtime };

function parts(config: ResolvedConfig): { blobStore: BlobStore; secrets: SecretStore } {
  let blobStore: BlobStore;
  try {
    blobStore = openBlobStore(config.storage, config.s3, { fsync: config.durability === "full" });
  } catch (e) {
    throw new InitializationError(`Cannot open the blob store ${config.storage}: ${(e as Error).message}`, { cause: e });
  }
  const secrets: SecretStore = config.secretsBackend === "env" ? new EnvSecretStore() : new LocalSecretStore(config.stateDir);
  setImageConfig({ builder: config.imageBuilder, registry: config.imageRegistry, images: config.images });
  return { blobStore, secrets };
}

/** Opens the backend `config` selects: connected, migrated and with lost runs reaped when it resolves. */
async function open(config: ResolvedConfig): Promise<Runtime> {
  const { blobStore, secrets } = parts(config);
  const { store, controller } = await openBackend(config, { blobStore, secrets });
  // Secret files mounted for attempts of a process that was killed would otherwise stay in the temp dir.
  sweepSecretDirs();
  return { config, store, blobStore, secrets, controller };
}

/** The embedded backend opened synchronously: the first use of flyte-ts in a process that did not call init(). */
function openEmbedded(config: ResolvedConfig): Runtime {
  const { blobStore, secrets } = parts(config);
  const { store, controller } = openEmbeddedBackend(config, { blobStore, secrets });
  sweepSecretDirs();
  return { config, store, blobStore, secrets, controller };
}

/** Configures flyte-ts for this process (optional: `run()` initialises itself from the config file). */
export async function init(o: InitOptions = {}): Promise<void> {
  await replace(resolveConfig(o));
}

/** Initialises from a config file (§17 lookup when `path` is omitted), with `overrides` on top. */
export async function initFromConfig(path?: string, overrides: Partial<InitOptions> = {}): Promise<void> {
  await replace(resolveConfig(overrides, path));
}

async function replace(config: ResolvedConfig): Promise<void> {
  const next = await open(config);
  const previous = holder[KEY];
  holder[KEY] = next;
  if (previous) {
    await previous.controller.close();
    await previous.store.close();
  }
}

/** The configuration's backend opening, when the first use of flyte-ts in a process is asynchronous. */
let opening: Promise<Runtime> | undefined;

/**
 * The runtime, initialised from the config file (or embedded defaults) on first use. Every entry point that
 * can be the first use of flyte-ts (run(), getRun(), listRuns(), ...) awaits it: a cluster backend connects
 * to PostgreSQL before anything is read.
 */
export async function ensureRuntime(): Promise<Runtime> {
  const rt = holder[KEY];
  if (rt) return rt;
  opening ??= (async () => {
    try {
      const config = resolveConfig();
      if (config.backend === "embedded") return (holder[KEY] ??= openEmbedded(config));
      const opened = await open(config);
      holder[KEY] ??= opened;
      if (holder[KEY] !== opened) {
        // init() ran meanwhile: its runtime wins.
        await opened.controller.close();
        await opened.store.close();
      }
      return holder[KEY];
    } finally {
      opening = undefined;
    }
  })();
  return opening;
}

/**
 * The runtime, for code that runs once flyte-ts is in use (inside a run, a handle's methods). Opens the embedded
 * backend on first use; a cluster backend must have been opened by `init()` or an entry point (`ensureRuntime`).
 */
export function getRuntime(): Runtime {
  const rt = holder[KEY];
  if (rt) return rt;
  const config = resolveConfig();
  if (config.backend !== "embedded") {
    throw new InitializationError(
      `backend "${config.backend}" connects to its database asynchronously and is not open yet. Call await init() (or initFromConfig()) before using flyte-ts.`,
      { code: "NotInitialized" },
    );
  }
  return (holder[KEY] = openEmbedded(config));
}

/** Closes the stores (tests, CLI exit). */
export async function shutdown(): Promise<void> {
  const rt = holder[KEY];
  if (!rt) return;
  holder[KEY] = undefined;
  await rt.controller.close();
  await rt.store.close();
}
