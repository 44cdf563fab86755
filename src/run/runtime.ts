/**
 * The process-wide runtime: resolved configuration, the open stores and the controller. `init()` replaces
 * it; `run()` and the CLI call `getRuntime()`, which initialises from the config file or embedded defaults.
 */
import type { Controller } from "../controller/controller.ts";
import { sweepSecretDirs } from "../controller/secrets.ts";
import { InitializationError } from "../errors.ts";
import type { BlobStore } from "../io/blob-store.ts";
import { openBlobStore } from "../io/storage.ts";
import { setImageConfig } from "../images/config.ts";
import { EnvSecretStore, LocalSecretStore, type SecretStore } from "../secrets/secret-store.ts";
import type { RunStore } from "../store/store.ts";
import { openBackend } from "./backends.ts";
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

function open(config: ResolvedConfig): Runtime {
  let blobStore: BlobStore;
  try {
    blobStore = openBlobStore(config.storage, config.s3, { fsync: config.durability === "full" });
  } catch (e) {
    throw new InitializationError(`Cannot open the blob store ${config.storage}: ${(e as Error).message}`, { cause: e });
  }
  const secrets: SecretStore = config.secretsBackend === "env" ? new EnvSecretStore() : new LocalSecretStore(config.stateDir);
  setImageConfig({ builder: config.imageBuilder, registry: config.imageRegistry, images: config.images });
  const { store, controller } = openBackend(config, { blobStore, secrets });
  // Secret files mounted for attempts of a process that was killed would otherwise stay in the temp dir.
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
  const previous = holder[KEY];
  holder[KEY] = open(config);
  if (previous) {
    await previous.controller.close();
    await previous.store.close();
  }
}

export function getRuntime(): Runtime {
  return (holder[KEY] ??= open(resolveConfig()));
}

/** Closes the stores (tests, CLI exit). */
export async function shutdown(): Promise<void> {
  const rt = holder[KEY];
  if (!rt) return;
  holder[KEY] = undefined;
  await rt.controller.close();
  await rt.store.close();
}
