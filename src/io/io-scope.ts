/**
 * Which blob store I/O values are written to, carried with `AsyncLocalStorage`.
 *
 * The runtime wraps each attempt in `withIoScope({ blobStore, rawDataPrefix }, fn)`; `File.fromLocal`,
 * `DataFrame` writes and offloaded literals inside `fn` then go to that store, under that prefix. Outside
 * any scope (a task called directly, outside a run) a default scope writes to a local store under
 * `os.tmpdir()/flyte-ts-local-blobs`.
 *
 * @example
 * ```ts
 * await withIoScope({ blobStore: store, rawDataPrefix: store.uriFor("raw/r1/a0") }, () => attempt());
 * ```
 * @module
 */
import { currentFrame, runInFrame } from "../internal/async-frame.ts";
import os from "node:os";
import path from "node:path";
import type { BlobStore } from "./blob-store.ts";
import { LocalBlobStore } from "./local-blob-store.ts";
import type { S3Options } from "./s3-blob-store.ts";

declare module "../internal/async-frame.js" {
  interface AsyncFrame {
    readonly io?: IoScope | undefined;
  }
}

export interface IoScopeOptions {
  blobStore: BlobStore;
  /** URI prefix for this attempt's raw data (uploaded files, data frames). */
  rawDataPrefix: string;
  /** Settings used to open other S3 buckets referenced by URIs (e.g. `File.fromExisting("s3://other/x")`). */
  s3?: S3Options;
}

export interface IoScope extends Readonly<IoScopeOptions> {
  /** False for the default scope used outside any run. */
  readonly inRun: boolean;
}

// Keyed by Symbol.for so that two copies of this module (two bundles) share one default scope.
const KEY = Symbol.for("flyte-ts.io-scope");
type Holder = { fallback?: IoScope };
const g = globalThis as unknown as Record<symbol, Holder | undefined>;
const holder: Holder = (g[KEY] ??= {});

/** The scope `withIoScope` installs (exported for the runtime, which installs it with the rest of an attempt's frame). */
export function ioScope(scope: IoScopeOptions): IoScope {
  return { ...scope, rawDataPrefix: scope.rawDataPrefix.replace(/\/+$/, ""), inRun: true };
}

/** Runs `fn` with `scope` as the current I/O scope (for everything it awaits or starts). */
export function withIoScope<T>(scope: IoScopeOptions, fn: () => T): T {
  return runInFrame({ io: ioScope(scope) }, fn);
}

/** The current scope, or the default local scope outside any run. */
export function currentIoScope(): IoScope {
  return currentFrame()?.io ?? defaultIoScope();
}

/** The scope used outside any run: a local store under the OS temp dir. */
export function defaultIoScope(): IoScope {
  if (!holder.fallback) {
    const blobStore = new LocalBlobStore(path.join(os.tmpdir(), "flyte-ts-local-blobs"));
    holder.fallback = { blobStore, rawDataPrefix: blobStore.uriFor("raw"), inRun: false };
  }
  return holder.fallback;
}
