/**
 * The host side of one sandbox attempt (see ./quickjs-runner.ts for the life cycle): marshals the inputs,
 * starts the attempt in a worker thread, runs the task calls each step hands over (as child actions, in the
 * attempt's own async context), sends their results back in batches, and maps how the attempt ended to a
 * flyte-ts error.
 * @module
 * @internal
 */
import { AsyncResource } from "node:async_hooks";
import type { TaskTemplate } from "../authoring/task-template.ts";
import { checkKeys } from "../internal/validate.ts";
import { FlyteError, SandboxError } from "../errors.ts";
import { map, type MapOptions } from "../run/map.ts";
import { fromSandboxJson, IoHandles, toSandboxJson } from "./marshal.ts";
import {
  errorFromSandbox, settleError, timeoutError, violationError, type ErrorContext,
} from "./sandbox-errors.ts";
import type { EndReason, MapCall, WorkerMessage } from "./sandbox-protocol.ts";
import type { PreparedSource } from "./source.ts";
import { acquireWorker, GRACE_MS, type AttemptPort, type LostReason, type SandboxWorker } from "./worker-pool.ts";

export { MAX_STACK_DEPTH, STACK_BYTES_PER_FRAME } from "./sandbox-interpreter.ts";

export interface SandboxLimits {
  /** CPU time spent executing sandbox code, in ms (awaiting tasks does not count). */
  timeoutMs: number;
  /** Bytes the interpreter may allocate. */
  maxMemory: number;
  /** Nested calls, enforced as an interpreter stack budget of `STACK_BYTES_PER_FRAME` bytes per call. */
  maxStackDepth: number;
  /** Check that only plain values cross the boundary. */
  typeCheck: boolean;
}

export interface SandboxRunRequest {
  /** Task FQN, for messages. */
  label: string;
  source: PreparedSource;
  inputs: unknown;
  /** Callable tasks by bare task name. */
  tasks: ReadonlyMap<string, TaskTemplate>;
  limits: SandboxLimits;
  /** The attempt's abort signal: aborting stops the sandbox at once. */
  signal?: AbortSignal;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

let nextAttempt = 1;

export class SandboxAttempt implements AttemptPort {
  readonly #req: SandboxRunRequest;
  readonly #id = nextAttempt++;
  readonly #errors: ErrorContext;
  readonly #handles = new IoHandles();
  readonly #hostErrors = new Map<number, unknown>();
  /** Shared with the worker (see the start message): the stop flag, and the sandbox's CPU clock. */
  readonly #shared = new SharedArrayBuffer(24);
  /** Set to 1 to interrupt the interpreter from this thread (abort). */
  readonly #stop = new Int32Array(this.#shared, 0, 1);
  readonly #clock = new Float64Array(this.#shared, 8, 2);
  /** Settled host calls as `[id,state,value]` JSON fragments, sent together when the worker is not running a step of ours. */
  #settled: string[] = [];
  #flushQueued = false;
  /** A step of this attempt was asked for and not answered yet. */
  #busy = false;
  /** Sandbox CPU time so far, as the worker last reported it. */
  #vmMs = 0;
  #worker: SandboxWorker | undefined;
  #closed = false;
  #resolve!: (o: Outcome) => void;
  /** Worker messages arrive outside the attempt's async context: these re-enter it (task calls, logs). */
  #receive!: (m: WorkerMessage) => void;
  #lost!: (r: LostReason) => void;

  readonly #onAbort = () => {
    Atomics.store(this.#stop, 0, 1);
    this.#finish({ ok: false, error: abortError(this.#req) });
  };

  constructor(req: SandboxRunRequest) {
    this.#req = req;
    this.#errors = {
      label: req.label, timeoutMs: req.limits.timeoutMs, maxMemory: req.limits.maxMemory, maxStackDepth: req.limits.maxStackDepth,
      lineOffset: req.source.lineOffset, taskNames: [...req.tasks.keys()],
    };
  }

  get label(): string {
    return this.#req.label;
  }

  get timeoutMs(): number {
    return this.#req.limits.timeoutMs;
  }

  /** Sandbox CPU time so far, the step running now included, read from the worker's shared clock. */
  cpuMs(): number {
    const enteredAt = this.#clock[1]!;
    return this.#clock[0]! + (enteredAt === 0 ? 0 : performance.timeOrigin + performance.now() - enteredAt);
  }

  receive(m: WorkerMessage): void {
    this.#receive(m);
  }

  lost(reason: LostReason): void {
    this.#lost(reason);
  }

  async run(): Promise<unknown> {
    const { signal, limits } = this.#req;
    if (signal?.aborted) throw abortError(this.#req);
    const inputsJson = toSandboxJson(this.#req.inputs, this.#handles, "the inputs", limits.typeCheck);
    let worker: SandboxWorker;
    try {
      worker = await acquireWorker();
    } catch (e) {
      throw new SandboxError(`Sandbox "${this.#req.label}" could not start its worker thread: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
    if (signal?.aborted) {
      worker.parkIfIdle();
      throw abortError(this.#req);
    }
    this.#worker = worker;
    this.#receive = AsyncResource.bind((m: WorkerMessage) => this.#onMessage(m));
    this.#lost = AsyncResource.bind((r: LostReason) => this.#onLost(r));
    const outcome = await new Promise<Outcome>((resolve) => {
      this.#resolve = resolve;
      signal?.addEventListener("abort", this.#onAbort, { once: true });
      this.#busy = true;
      worker.start(
        this,
        {
          t: "start", a: this.#id, label: this.#req.label, entry: this.#req.source.entry, lineOffset: this.#req.source.lineOffset,
          inputsJson, taskNames: this.#errors.taskNames as string[], limits: { ...limits }, stop: this.#shared,
        },
        limits.timeoutMs + GRACE_MS,
      );
    });
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  #onMessage(m: WorkerMessage): void {
    if (this.#closed) return;
    switch (m.t) {
      case "log":
        if (m.level === "warn" || m.level === "error") console.error(m.line);
        else console.log(m.line);
        return;
      case "step":
        this.#busy = false;
        this.#vmMs = m.vmMs;
        if (m.calls !== "") this.#startCalls(m.calls);
        for (const call of m.maps) this.#startMap(call);
        if (this.#settled.length > 0) this.#flush();
        return;
      case "end":
        this.#busy = false;
        this.#finish(this.#outcome(m.reason));
        return;
      default:
        return;
    }
  }

  #onLost(reason: LostReason): void {
    if (reason.kind === "deadline") return this.#finish({ ok: false, error: timeoutError(this.#errors) });
    const why =
      reason.kind === "shared"
        ? `it shared a worker thread with sandbox "${reason.label}", which overran its timeoutMs and was terminated with it. Retry the task (retries: 1), or run fewer sandboxed orchestrators at once`
        : reason.message;
    this.#finish({ ok: false, error: new SandboxError(`Sandbox "${this.#req.label}" was stopped: ${why}.`, { code: "SandboxWorkerLost" }) });
  }

  #outcome(reason: EndReason): Outcome {
    switch (reason.kind) {
      case "ok":
        try {
          return { ok: true, value: fromSandboxJson(reason.payload, this.#handles, "the output") };
        } catch (e) {
          return { ok: false, error: e };
        }
      case "error": {
        const host = reason.info.id !== undefined ? this.#hostErrors.get(reason.info.id) : undefined;
        return { ok: false, error: host ?? errorFromSandbox(reason.info, this.#errors) };
      }
      case "timeout":
        return { ok: false, error: timeoutError(this.#errors) };
      case "violation":
        return { ok: false, error: violationError(this.#errors, reason.name) };
      case "stopped":
        return { ok: false, error: abortError(this.#req) };
      case "never-settles":
        return { ok: false, error: settleError(this.#errors) };
      case "failed":
        return { ok: false, error: new SandboxError(`Sandbox "${this.#req.label}": ${reason.message}.`) };
      case "crash":
        return { ok: false, error: new SandboxError(`Sandbox "${this.#req.label}": the QuickJS interpreter failed: ${reason.message}`) };
    }
  }

  /** The task calls of one step: three lines each (name as JSON, id, inputs JSON or empty). */
  #startCalls(batch: string): void {
    const lines = batch.split("\n");
    for (let i = 0; i + 2 < lines.length; i += 3) {
      const json = lines[i + 2]!;
      this.#startCall(this.#taskName(lines[i]!), json === "" ? undefined : json, Number(lines[i + 1]));
    }
  }

  /** Task names arrive as JSON strings; the few distinct ones are decoded once. */
  readonly #names = new Map<string, string>();
  #taskName(json: string): string {
    let name = this.#names.get(json);
    if (name === undefined) {
      try {
        name = String(JSON.parse(json));
      } catch {
        name = json;
      }
      this.#names.set(json, name);
    }
    return name;
  }

  /** A task call from the sandbox; its outcome is delivered to the sandbox's `waiting[id]` later. */
  #startCall(name: string, json: string | undefined, id: number): void {
    const task = this.#req.tasks.get(name) as ((i: unknown) => Promise<unknown>) & { name: string } | undefined;
    let result: Promise<unknown>;
    try {
      if (!task) throw new SandboxError(`Sandbox "${this.#req.label}": no task named "${name}" is callable here.`);
      result = task(fromSandboxJson(json, this.#handles, `the inputs of task "${name}"`));
    } catch (e) {
      result = Promise.reject(e);
    }
    result.then(
      (out) => {
        let j: string | undefined;
        try {
          j = toSandboxJson(out, this.#handles, `the output of task "${task!.name}"`, this.#req.limits.typeCheck);
        } catch (e) {
          return this.#deliver(`${id},0,${JSON.stringify(this.#errorRecord(e))}`);
        }
        this.#deliver(`${id},${j === undefined ? "2,null" : `1,${j}`}`);
      },
      (e: unknown) => this.#deliver(`${id},0,${JSON.stringify(this.#errorRecord(e))}`),
    );
  }

  /** flyteMap: one child action per item through `map()` (§11.3: order, grouping, concurrency). */
  #startMap([name, itemsJson, optionsJson, id]: MapCall): void {
    const task = this.#req.tasks.get(name);
    const work = async () => {
      if (!task) throw new SandboxError(`Sandbox "${this.#req.label}": no task named "${name}" is callable here.`);
      const items = fromSandboxJson(itemsJson, this.#handles, `the items of flyteMap("${name}")`) as unknown[];
      const options = (fromSandboxJson(optionsJson, this.#handles, "the options of flyteMap") ?? {}) as MapOptions;
      checkKeys(options, ["concurrency", "returnExceptions"], "flyteMap");
      const results = await map(task, items, { concurrency: options.concurrency, returnExceptions: options.returnExceptions }).collect();
      const wrapped = results.map((r) => (r instanceof Error ? { err: this.#errorRecord(r) } : { ok: r }));
      return toSandboxJson(wrapped, this.#handles, `the results of flyteMap("${name}")`, this.#req.limits.typeCheck)!;
    };
    work().then(
      (json) => this.#deliver(`${id},${json === undefined ? "2,null" : `1,${json}`}`),
      (e: unknown) => this.#deliver(`${id},0,${JSON.stringify(this.#errorRecord(e))}`),
    );
  }

  /** What the sandbox sees of a host error; `id` lets an uncaught one fail the orchestrator with the original. */
  #errorRecord(e: unknown): { name: string; message: string; code?: string; id: number } {
    const id = this.#hostErrors.size + 1;
    this.#hostErrors.set(id, e);
    const err = e instanceof Error ? e : new Error(String(e));
    return { name: err.name, message: err.message, ...(err instanceof FlyteError ? { code: err.code } : {}), id };
  }

  /** Queues one settled call; everything settled before the next microtask goes to the worker at once. */
  #deliver(fragment: string): void {
    if (this.#closed) return;
    this.#settled.push(fragment);
    if (this.#flushQueued || this.#busy) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      if (!this.#busy) this.#flush();
    });
  }

  /** Sends the queued results as one step; the worker may run it for what is left of timeoutMs. */
  #flush(): void {
    if (this.#closed || this.#settled.length === 0) return;
    const batch = this.#settled;
    this.#settled = [];
    this.#busy = true;
    this.#worker!.step(
      { t: "settle", a: this.#id, batch: `[${batch.join(",")}]`, n: batch.length },
      Math.max(0, this.#req.limits.timeoutMs - this.#vmMs) + GRACE_MS,
    );
  }

  #finish(outcome: Outcome): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#req.signal?.removeEventListener("abort", this.#onAbort);
    // Still running there (an abort): stop it; the worker goes back to the pool once it is free.
    this.#worker?.drop(this.#id);
    this.#resolve(outcome);
  }
}

function abortError(req: SandboxRunRequest): unknown {
  const reason: unknown = req.signal?.reason;
  return reason instanceof Error ? reason : new SandboxError(`Sandbox "${req.label}" was aborted: ${String(reason ?? "the attempt ended")}.`);
}
