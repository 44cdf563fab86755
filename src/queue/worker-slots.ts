/**
 * A worker's execution slots (`flyte worker --concurrency n`). An attempt holds a slot while it executes; while
 * it awaits children (every one of its task calls is parked in the queue dispatcher) it gives the slot back and
 * takes one again before it goes on. Without that, `n` parents waiting for children that need a slot on the same
 * worker would wait forever (a 3-level tree on `--concurrency 1`).
 */
import type { RunState } from "../controller/run-state.ts";
import { Semaphore } from "../internal/semaphore.ts";
import type { BlockingHooks } from "./queue-dispatcher.ts";

export class WorkerSlots implements BlockingHooks {
  readonly #slots: Semaphore;
  /** Attempts executing here (run/action) → how many of their child calls are parked; 0 = holds a slot. */
  readonly #attempts = new Map<string, number>();
  #running = 0;

  constructor(concurrency: number) {
    this.#slots = new Semaphore(concurrency);
  }

  /** Attempts holding a slot now. */
  get running(): number {
    return this.#running;
  }

  async acquire(run: RunState, action: string): Promise<void> {
    await this.#take();
    this.#attempts.set(`${run.name}/${action}`, 0);
  }

  release(run: RunState, action: string): void {
    const key = `${run.name}/${action}`;
    const parked = this.#attempts.get(key);
    this.#attempts.delete(key);
    if (parked === 0) this.#give();
  }

  blocked(run: RunState, parent: string | null): void {
    const key = `${run.name}/${parent}`;
    const parked = this.#attempts.get(key);
    if (parked === undefined) return; // not an attempt of this worker (the root of a hybrid run, in its own process)
    this.#attempts.set(key, parked + 1);
    if (parked === 0) this.#give();
  }

  async unblocked(run: RunState, parent: string | null): Promise<void> {
    const key = `${run.name}/${parent}`;
    const parked = this.#attempts.get(key);
    if (parked === undefined || parked === 0) return;
    if (parked > 1) {
      this.#attempts.set(key, parked - 1);
      return;
    }
    // The last child came back: the parent goes on once it has a slot again.
    this.#attempts.set(key, -1);
    await this.#take();
    if (this.#attempts.get(key) === -1) this.#attempts.set(key, 0);
  }

  async #take(): Promise<void> {
    if (!this.#slots.tryAcquire()) await this.#slots.wait();
    this.#running++;
  }

  #give(): void {
    this.#running--;
    this.#slots.release();
  }
}
