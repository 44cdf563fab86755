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
