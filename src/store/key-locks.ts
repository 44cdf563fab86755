/**
 * Mutexes by key, in this process: `lock(key)` resolves once the caller holds `key` (first come, first served),
 * with the function that releases it. What the embedded store uses for `RunStore.lockCacheKey`.
 */
export class KeyLocks {
  /** Per held key: the callers waiting for it, in order. */
  readonly #held = new Map<string, Array<() => void>>();

  lock(key: string, signal?: AbortSignal): Promise<() => Promise<void>> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const release = (): Promise<void> => {
      const next = this.#held.get(key)?.shift();
      if (next) next();
      else this.#held.delete(key);
      return Promise.resolve();
    };
    const waiting = this.#held.get(key);
    if (!waiting) {
      this.#held.set(key, []);
      return Promise.resolve(once(release));
    }
    return new Promise((resolve, reject) => {
      const granted = (): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve(once(release));
      };
      const onAbort = (): void => {
        const i = waiting.indexOf(granted);
        if (i >= 0) waiting.splice(i, 1);
        reject(signal!.reason);
      };
      waiting.push(granted);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/** A release called twice releases once. */
function once(release: () => Promise<void>): () => Promise<void> {
  let done = false;
  return () => {
    if (done) return Promise.resolve();
    done = true;
    return release();
  };
}
