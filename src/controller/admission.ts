/**
 * Admission of child calls: at most ADMIT_PER_TICK per event-loop turn; later ones wait for a later turn. A
 * fan-out of quick tasks otherwise runs entirely in microtasks: the event loop would not turn until the run
 * ends (no heartbeat, abort polling or per-turn store commit), and every call would hold a full attempt
 * (context, signal, frames) at once.
 *
 * A call starts on a later microtask, never inside the code that made it, so that every call goes through the
 * same gates. Calls past this turn's budget wait as a promise reaction, not a suspended async frame: a
 * Promise.all of 100,000 calls holds all of them at once.
 */
import type { TaskTemplate } from "../authoring/task-template.ts";
import type { ActionScope } from "../internal/action-scope.ts";

/**
 * Child submissions admitted per event-loop turn. Every admitted action is in flight until the turn ends; with
 * 256 per turn, V8 saw whole turns of per-action records alive at its young-generation collections and started
 * allocating them straight into the old generation (allocation-site pretenuring), where only a full collection
 * frees them. Measured on one Promise.all of 100,000 calls: peak RSS 215-325 MB over runs with 256; with 64,
 * 207-226 MB in 20 of 21 runs (259 MB once).
 */
export const ADMIT_PER_TICK = 64;

/** The attempt that makes a task call: its action and its epoch (see RunState.nextEpoch). */
export interface Caller {
  readonly action: string;
  readonly epoch: number;
}

export type StartCall = (caller: Caller, scope: ActionScope, task: TaskTemplate, inputs: unknown) => Promise<unknown>;

/**
 * Up to ADMIT_PER_TICK calls waiting for the same turn. They share one promise and one handler: reactions run
 * in the order they were registered, so the handler takes the calls from the arrays in order. A waiting call
 * then costs its own promise, one reaction and four array slots; a Promise.all of 100,000 calls holds all of
 * them at once, and a closure and a second promise per call were most of the run's memory.
 */
class AdmissionGate {
  readonly #callers: Caller[] = [];
  readonly #scopes: (ActionScope | undefined)[] = [];
  readonly #tasks: (TaskTemplate | undefined)[] = [];
  readonly #inputs: unknown[] = [];
  #next = 0;
  readonly #opened: Promise<void>;
  open!: () => void;
  readonly #take: () => Promise<unknown>;

  constructor(start: StartCall) {
    this.#opened = new Promise((resolve) => (this.open = resolve));
    this.#take = () => {
      const i = this.#next++;
      const task = this.#tasks[i]!;
      const scope = this.#scopes[i]!;
      const inputs = this.#inputs[i];
      this.#tasks[i] = this.#scopes[i] = this.#inputs[i] = undefined;
      return start(this.#callers[i]!, scope, task, inputs);
    };
  }

  get size(): number {
    return this.#tasks.length;
  }

  add(caller: Caller, scope: ActionScope, task: TaskTemplate, inputs: unknown): Promise<unknown> {
    this.#callers.push(caller);
    this.#scopes.push(scope);
    this.#tasks.push(task);
    this.#inputs.push(inputs);
    return this.#opened.then(this.#take);
  }
}

/** The admission queue of one run; `start` runs a call once it is admitted. */
export class Admission {
  #admitted = 0;
  readonly #gates: AdmissionGate[] = [];
  #turnScheduled = false;
  #drainQueued = false;

  constructor(private readonly start: StartCall) {}

  /** Queues a call; resolves to what `start` resolves to once the call is admitted and has run. */
  admit(caller: Caller, scope: ActionScope, task: TaskTemplate, inputs: unknown): Promise<unknown> {
    let gate = this.#gates[this.#gates.length - 1];
    if (!gate || gate.size === ADMIT_PER_TICK) this.#gates.push((gate = new AdmissionGate(this.start)));
    const done = gate.add(caller, scope, task, inputs);
    this.#scheduleTurn();
    if (!this.#drainQueued) {
      this.#drainQueued = true;
      queueMicrotask(this.#drain);
    }
    return done;
  }

  /** Opens waiting gates while this turn's budget allows. */
  readonly #drain = (): void => {
    this.#drainQueued = false;
    while (this.#gates.length > 0 && this.#admitted + this.#gates[0]!.size <= ADMIT_PER_TICK) {
      const gate = this.#gates.shift()!;
      this.#admitted += gate.size;
      gate.open();
    }
  };

  /** A new turn: renews the budget and admits the next calls. */
  #scheduleTurn(): void {
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    setImmediate(() => {
      this.#turnScheduled = false;
      const used = this.#admitted;
      this.#admitted = 0;
      this.#drain();
      if (this.#gates.length > 0 || used > 0) this.#scheduleTurn();
    });
  }
}
