/**
 * A counting semaphore whose `release` hands the slot straight to the oldest waiter, so waiters start in
 * the order they asked. A size of 0 (or less) means no limit. Bounds a run's attempts in flight
 * (`maxActionConcurrency`) and a `map()`'s children in flight (`concurrency`).
 */
export class Semaphore {
  #free: number;
  readonly #waiters: Array<() => void> = [];
  constructor(readonly size: number) {
    this.#free = size;
  }
  /** Takes a slot if one is free (always, without a limit). */
  tryAcquire(): boolean {
    if (this.size <= 0) return true;
    if (this.#free > 0) {
      this.#free--;
      return true;
    }
    return false;
  }
  /** Resolves once a slot is handed over by `release`; rejects (leaving the queue) when `signal` aborts. */
  wait(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const go = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(go);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(go);
    });
  }
  release(): void {
    if (this.size <= 0) return;
    const next = this.#waiters.shift();
    if (next) next();
    else this.#free++;
  }
}
