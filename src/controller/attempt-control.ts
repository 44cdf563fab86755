/**
 * Abort handling of one attempt: its timeouts and the run's abort end it through here.
 *
 * The `AbortSignal` that `ctx().signal` exposes is made on first read. Most attempts of a wide fan-out never
 * read it, and an AbortController with its EventTarget, plus a listener per race, was the largest part of
 * what a trivial action allocated.
 */
export class AttemptControl {
  /** Links of the run's list of attempts in flight (see RunState.trackAttempt). */
  prev: AttemptControl | undefined;
  next: AttemptControl | undefined;
  #controller: AbortController | undefined;
  #reason: unknown;
  #aborted = false;
  /** Rejects the promise `race()` returned last, if it is still pending. */
  #rejectRace: ((reason: unknown) => void) | undefined;
  readonly #onListenerError: ((e: unknown) => void) | undefined;

  /** @param onListenerError told of an exception thrown by a listener of `signal` (see `guardListeners`) */
  constructor(onListenerError?: (e: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /** The signal user code sees; aborted with the same reason as the attempt. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      guardListeners(this.#controller.signal, (e) => this.#onListenerError?.(e));
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Ends the attempt: the pending race rejects with `reason` and the signal fires. The first reason wins. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    const reject = this.#rejectRace;
    this.#rejectRace = undefined;
    reject?.(reason);
  }

  /** Settles with `p`, or rejects as soon as the attempt is aborted (`p` keeps running; its result is dropped). */
  race<T>(p: Promise<T>): Promise<T> {
    if (this.#aborted) return Promise.reject(this.#reason);
    return new Promise<T>((resolve, reject) => {
      this.#rejectRace = reject;
      p.then(
        (v) => {
          if (this.#rejectRace === reject) this.#rejectRace = undefined;
          resolve(v);
        },
        (e: unknown) => {
          if (this.#rejectRace === reject) this.#rejectRace = undefined;
          reject(e);
        },
      );
    });
  }
}

type AbortListener = ((this: AbortSignal, ev: Event) => unknown) | { handleEvent(ev: Event): unknown };

/**
 * Makes the listeners of `signal` unable to crash the process: Node reports an exception thrown by an event
 * listener as an uncaught exception, so one task's faulty abort handler would end every run (and the worker)
 * this process executes. Here it is caught and handed to `report` (the attempt's stderr log).
 */
function guardListeners(signal: AbortSignal, report: (e: unknown) => void): void {
  const wrappers = new WeakMap<object, (this: AbortSignal, ev: Event) => void>();
  const wrap = (l: AbortListener) => {
    let w = wrappers.get(l);
    if (!w) {
      w = function (this: AbortSignal, ev: Event) {
        try {
          if (typeof l === "function") l.call(this, ev);
          else l.handleEvent(ev);
        } catch (e) {
          report(e);
        }
      };
      wrappers.set(l, w);
    }
    return w;
  };
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  type Options = Parameters<AbortSignal["addEventListener"]>[2];
  Object.defineProperties(signal, {
    addEventListener: {
      value: (type: string, l: AbortListener | null, o?: Options) => {
        if (l) add(type, wrap(l), o);
      },
    },
    removeEventListener: {
      value: (type: string, l: AbortListener | null, o?: Options) => {
        if (l) remove(type, wrappers.get(l) ?? l, o);
      },
    },
  });
  let onabort: ((this: AbortSignal, ev: Event) => unknown) | null = null;
  Object.defineProperty(signal, "onabort", {
    get: () => onabort,
    set: (l: ((this: AbortSignal, ev: Event) => unknown) | null) => {
      if (onabort) remove("abort", wrap(onabort));
      onabort = typeof l === "function" ? l : null;
      if (onabort) add("abort", wrap(onabort));
    },
  });
}
