/**
 * The one `AsyncLocalStorage` of the package. What an attempt carries through its awaits (the action scope
 * through which task calls find their run, the I/O scope, the log sink) lives in a single frame.
 *
 * One storage instead of one per concern because, on Node 20, every enabled AsyncLocalStorage adds a property
 * to every promise created anywhere in the process; a run of 100,000 actions creates millions of promises.
 * Stored under a `Symbol.for` key so two copies of the package in one process share the same storage.
 */
import { AsyncLocalStorage } from "node:async_hooks";

/**
 * What a frame holds. Each owner adds its own optional slot by declaration merging, so this file knows none
 * of them: the action scope (internal/action-scope.ts), the I/O scope (io/io-scope.ts), the log sink
 * (controller/log-capture.ts). The augmentations name this module "async-frame.js", which TypeScript
 * resolves to this file here and to async-frame.d.ts in dist/.
 */
export interface AsyncFrame {}

const KEY = Symbol.for("flyte-ts.async-frame");
const holder = globalThis as unknown as { [KEY]?: AsyncLocalStorage<AsyncFrame> };
const storage: AsyncLocalStorage<AsyncFrame> = (holder[KEY] ??= new AsyncLocalStorage<AsyncFrame>());

/** The frame of the code running now (undefined outside any). */
export function currentFrame(): AsyncFrame | undefined {
  return storage.getStore();
}

/** Runs `fn` (and everything it awaits or starts) in the current frame with `patch` applied. */
export function runInFrame<T>(patch: AsyncFrame, fn: () => T): T {
  const current = storage.getStore();
  return storage.run(current ? { ...current, ...patch } : patch, fn);
}
