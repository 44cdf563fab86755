/**
 * One abort listener per signal, dispatching to every subscriber of it. A parent fanning out to thousands of
 * children awaits each on the same run signal: a listener per child would pile thousands of listeners onto that
 * signal (Node warns past 10, `MaxListenersExceededWarning`) and make each removal a scan of them all.
 */
export class AbortFanout {
  readonly #subs = new WeakMap<AbortSignal, { fns: Set<() => void>; listener: () => void }>();

  /** Calls `fn` once when `signal` aborts (never when it has already aborted). Returns the unsubscribe. */
  on(signal: AbortSignal, fn: () => void): () => void {
    let sub = this.#subs.get(signal);
    if (!sub) {
      const fns = new Set<() => void>();
      const listener = () => {
        this.#subs.delete(signal);
        for (const f of [...fns]) f();
      };
      sub = { fns, listener };
      this.#subs.set(signal, sub);
      signal.addEventListener("abort", listener, { once: true });
    }
    const { fns, listener } = sub;
    fns.add(fn);
    return () => {
      if (!fns.delete(fn) || fns.size > 0) return;
      signal.removeEventListener("abort", listener);
      if (this.#subs.get(signal)?.fns === fns) this.#subs.delete(signal);
    };
  }
}
