/**
 * One sandbox attempt (see ./quickjs-runner.ts for the life cycle): the QuickJS runtime and context, CPU-time
 * accounting, the bridge that starts host task calls and delivers their results in batches, and the mapping
 * of how the attempt ended to a flyte-ts error. Always disposes every handle it created.
 * @module
 * @internal
 */
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from "quickjs-emscripten";
import type { TaskTemplate } from "../authoring/task-template.ts";
import { checkKeys } from "../authoring/options.ts";
import { FlyteError, SandboxError } from "../errors.ts";
import { map, type MapOptions } from "../run/map.ts";
import { fromSandboxJson, IoHandles, toSandboxJson } from "./marshal.ts";
import { PRELUDE, WITHHELD_GLOBALS } from "./prelude.ts";
import {
  errorFromSandbox, settleError, timeoutError, violationError, type ErrorContext, type SandboxErrorInfo,
} from "./sandbox-errors.ts";
import type { PreparedSource } from "./source.ts";

/**
 * The prelude without comment lines and indentation: it is compiled for every attempt, and this makes that
 * faster (measured with a fresh runtime and context: 1.39-1.50 ms → 1.29-1.31 ms). Line numbers stay as in prelude.ts.
 */
const COMPACT_PRELUDE = PRELUDE.split("\n")
  .map((line) => {
    const t = line.trim();
    return t.startsWith("//") ? "" : t;
  })
  .join("\n");

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
  /** The attempt's abort signal: aborting stops the sandbox at its next step. */
  signal?: AbortSignal;
}

/**
 * Interpreter stack bytes granted per allowed call. Measured on the bundled QuickJS: a plain call takes
 * ~175 bytes, an async call ~380, a call made through a native (Array.prototype.map, a toString hook)
 * 450-1000, so about `maxStackDepth` plain calls fit.
 */
export const STACK_BYTES_PER_FRAME = 256;
/**
 * The wasm interpreter also recurses on the host's native stack, and a native stack overflow aborts the
 * whole WebAssembly instance. Measured: a 320 KiB interpreter budget already overflowed Node's default
 * native stack through template-literal toString recursion, 256 KiB did not; 512 calls (128 KiB) keeps a
 * 2.5x margin.
 */
export const MAX_STACK_DEPTH = 512;
/** Console output kept per attempt; beyond it lines are dropped (an infinite logging loop must not fill the store). */
const LOG_LIMIT_BYTES = 1024 * 1024;

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** @param onCrash called when the WebAssembly instance aborted, so the caller can replace the module. */
export class SandboxAttempt {
  readonly #module: QuickJSWASMModule;
  readonly #req: SandboxRunRequest;
  readonly #errors: ErrorContext;
  readonly #handles = new IoHandles();
  readonly #hostErrors = new Map<number, unknown>();
  /** Task calls requested by the sandbox, started together on the next microtask. */
  #toStart: Array<() => void> = [];
  /** Settled host calls as `[id,state,value]` JSON fragments, delivered together on the next microtask. */
  #settled: string[] = [];
  /** Host calls started and not yet delivered back into the sandbox. */
  #inFlight = 0;
  #settleFn: QuickJSHandle | undefined;
  #rt: QuickJSRuntime | undefined;
  #ctx: QuickJSContext | undefined;
  #vmMs = 0;
  #enteredAt = 0;
  /** Off while the prelude installs itself: only the orchestrator's own code counts toward timeoutMs. */
  #counting = false;
  #timedOut = false;
  #violation: string | undefined;
  #reported: { ok: boolean; payload: string | undefined } | undefined;
  #lastError: SandboxErrorInfo | undefined;
  #logBytes = 0;
  #closed = false;
  #aborted = false;
  #resolve!: (o: Outcome) => void;
  readonly #onAbort = () => {
    this.#aborted = true;
    // Inside the interpreter the interrupt handler stops it; between steps, end the attempt now.
    if (this.#enteredAt === 0) this.#check();
  };

  readonly #onCrash: (module: QuickJSWASMModule) => void;

  constructor(module: QuickJSWASMModule, req: SandboxRunRequest, onCrash: (module: QuickJSWASMModule) => void = () => {}) {
    this.#module = module;
    this.#onCrash = onCrash;
    this.#req = req;
    this.#errors = {
      label: req.label, timeoutMs: req.limits.timeoutMs, maxMemory: req.limits.maxMemory, maxStackDepth: req.limits.maxStackDepth,
      lineOffset: req.source.lineOffset, taskNames: [...req.tasks.keys()],
    };
  }

  async run(): Promise<unknown> {
    const outcome = await new Promise<Outcome>((resolve) => {
      this.#resolve = resolve;
      if (this.#req.signal?.aborted) return resolve({ ok: false, error: abortError(this.#req) });
      this.#req.signal?.addEventListener("abort", this.#onAbort, { once: true });
      try {
        this.#boot();
      } catch (e) {
        if (e instanceof FlyteError) this.#finish({ ok: false, error: e });
        else this.#crash(e);
        return;
      }
      this.#check();
    });
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  /** Creates the runtime and context, installs the prelude, and starts the entry function. */
  #boot(): void {
    const { limits, source } = this.#req;
    const rt = (this.#rt = this.#module.newRuntime());
    rt.setMemoryLimit(limits.maxMemory);
    rt.setMaxStackSize(limits.maxStackDepth * STACK_BYTES_PER_FRAME);
    rt.setInterruptHandler(() => this.#shouldInterrupt());
    const ctx = (this.#ctx = rt.newContext());
    const inputsJson = toSandboxJson(this.#req.inputs, this.#handles, "the inputs", limits.typeCheck);

    const args = [
      ctx.newFunction("hostCalls", (b) => this.#hostCalls(ctx.getString(b))),
      ctx.newFunction("hostMap", (n, i, o, id) => this.#hostMap(ctx.getString(n), ctx.getString(i), this.#optString(o), ctx.getNumber(id))),
      ctx.newFunction("hostDone", (ok, p) => void (this.#reported ??= { ok: ctx.dump(ok) === true, payload: this.#optString(p) })),
      ctx.newFunction("hostLog", (level, line) => this.#hostLog(ctx.getString(level), ctx.getString(line))),
      ctx.newFunction("hostViolation", (n) => {
        const name = ctx.getString(n);
        this.#violation ??= name;
        return ctx.newError({ name: "SandboxViolationError", message: violationError(this.#errors, name).message });
      }),
      ctx.newString(JSON.stringify([...this.#req.tasks.keys()])),
      ctx.newString(JSON.stringify(WITHHELD_GLOBALS)),
      limits.typeCheck ? ctx.true : ctx.false,
    ];
    let fns: QuickJSHandle | undefined;
    let start: QuickJSHandle | undefined;
    let entry: QuickJSHandle | undefined;
    let inputs: QuickJSHandle | undefined;
    try {
      const prelude = this.#unwrap(this.#enter(() => ctx.evalCode(COMPACT_PRELUDE, "flyte-prelude.js", { type: "global" })));
      if (!prelude) throw new SandboxError(`Sandbox "${this.#req.label}": the sandbox prelude failed to load: ${this.#lastError?.message}.`);
      const installed = this.#enter(() => ctx.callFunction(prelude, ctx.undefined, args));
      prelude.dispose();
      fns = this.#unwrap(installed);
      if (!fns) throw new SandboxError(`Sandbox "${this.#req.label}": the sandbox prelude failed to run: ${this.#lastError?.message}.`);
      start = ctx.getProp(fns, 0);
      this.#settleFn = ctx.getProp(fns, 1);
      this.#vmMs = 0;
      this.#counting = true;
      entry = this.#unwrap(this.#enter(() => ctx.evalCode(source.entry, "orchestrator.js", { type: "global" })));
      if (!entry) throw errorFromSandbox(this.#lastError!, this.#errors);
      inputs = inputsJson === undefined ? ctx.undefined : ctx.newString(inputsJson);
      const [s, e, i] = [start, entry, inputs];
      this.#unwrap(this.#enter(() => ctx.callFunction(s, ctx.undefined, e, i)))?.dispose();
    } finally {
      for (const h of [...args, fns, start, entry, inputs]) if (h?.alive) h.dispose();
    }
  }

  #optString(h: QuickJSHandle | undefined): string | undefined {
    return h !== undefined && this.#ctx!.typeof(h) === "string" ? this.#ctx!.getString(h) : undefined;
  }

  /** Runs `fn` as sandbox time: only time inside the interpreter counts toward timeoutMs. */
  #enter<T>(fn: () => T): T {
    const outer = this.#enteredAt === 0;
    if (outer) this.#enteredAt = performance.now();
    try {
      return fn();
    } finally {
      if (outer) {
        this.#vmMs += performance.now() - this.#enteredAt;
        this.#enteredAt = 0;
      }
    }
  }

  #shouldInterrupt(): boolean {
    if (this.#violation !== undefined || this.#closed || this.#aborted) return true;
    if (this.#counting && this.#enteredAt !== 0 && this.#vmMs + (performance.now() - this.#enteredAt) > this.#req.limits.timeoutMs) {
      this.#timedOut = true;
      return true;
    }
    return false;
  }

  /** The value of a call result, or undefined after recording its error. */
  #unwrap(r: { value?: QuickJSHandle; error?: QuickJSHandle }): QuickJSHandle | undefined {
    if (!r.error) return r.value;
    this.#lastError = this.#readError(r.error);
    r.error.dispose();
    return undefined;
  }

  #readError(h: QuickJSHandle): SandboxErrorInfo {
    try {
      const d = this.#ctx!.dump(h) as unknown;
      if (d !== null && typeof d === "object") {
        const o = d as Record<string, unknown>;
        return { name: String(o.name ?? "Error"), message: String(o.message ?? ""), stack: typeof o.stack === "string" ? o.stack : undefined };
      }
      return { name: "Error", message: String(d) };
    } catch {
      return { name: "Error", message: "unreadable error" };
    }
  }

  /** The task calls the sandbox made in one step: three lines each (name as JSON, id, inputs JSON or empty). */
  #hostCalls(batch: string): void {
    const lines = batch.split("\n");
    const count = Math.floor(lines.length / 3);
    this.#inFlight += count;
    // Started on the next microtask, never while the interpreter is on the stack (a child may be a sandbox too).
    queueMicrotask(() => {
      if (this.#closed) return;
      for (let i = 0; i + 2 < lines.length; i += 3) {
        const json = lines[i + 2]!;
        this.#startCall(this.#taskName(lines[i]!), json === "" ? undefined : json, Number(lines[i + 1]));
      }
    });
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
  #hostMap(name: string, itemsJson: string, optionsJson: string | undefined, id: number): void {
    const task = this.#req.tasks.get(name);
    this.#startHostCall(id, async () => {
      if (!task) throw new SandboxError(`Sandbox "${this.#req.label}": no task named "${name}" is callable here.`);
      const items = fromSandboxJson(itemsJson, this.#handles, `the items of flyteMap("${name}")`) as unknown[];
      const options = (fromSandboxJson(optionsJson, this.#handles, "the options of flyteMap") ?? {}) as MapOptions;
      checkKeys(options, ["concurrency", "returnExceptions"], "flyteMap");
      const results = await map(task, items, { concurrency: options.concurrency, returnExceptions: options.returnExceptions }).collect();
      const wrapped = results.map((r) => (r instanceof Error ? { err: this.#errorRecord(r) } : { ok: r }));
      return toSandboxJson(wrapped, this.#handles, `the results of flyteMap("${name}")`, this.#req.limits.typeCheck)!;
    });
  }

  /**
   * Queues `work` to start on the next microtask (never while the interpreter is on the stack), together
   * with every other call the sandbox made in the same step; its outcome is queued for delivery.
   */
  #startHostCall(id: number, work: () => Promise<string | undefined>): void {
    this.#inFlight++;
    this.#toStart.push(() => {
      work().then(
        (json) => this.#deliver(`${id},${json === undefined ? "2,null" : `1,${json}`}`),
        (e: unknown) => this.#deliver(`${id},0,${JSON.stringify(this.#errorRecord(e))}`),
      );
    });
    if (this.#toStart.length === 1) {
      queueMicrotask(() => {
        const batch = this.#toStart;
        this.#toStart = [];
        if (!this.#closed) for (const start of batch) start();
      });
    }
  }

  /** What the sandbox sees of a host error; `id` lets an uncaught one fail the orchestrator with the original. */
  #errorRecord(e: unknown): { name: string; message: string; code?: string; id: number } {
    const id = this.#hostErrors.size + 1;
    this.#hostErrors.set(id, e);
    const err = e instanceof Error ? e : new Error(String(e));
    return { name: err.name, message: err.message, ...(err instanceof FlyteError ? { code: err.code } : {}), id };
  }

  /** Queues one settled call; everything settled before the next microtask enters the sandbox at once. */
  #deliver(fragment: string): void {
    if (this.#closed) return;
    this.#settled.push(fragment);
    if (this.#settled.length > 1) return;
    queueMicrotask(() => {
      if (this.#closed) return;
      const batch = this.#settled;
      this.#settled = [];
      this.#inFlight -= batch.length;
      const ctx = this.#ctx!;
      try {
        const r = this.#enter(() => {
          const h = ctx.newString(`[${batch.join(",")}]`);
          try {
            return ctx.callFunction(this.#settleFn!, ctx.undefined, h);
          } finally {
            h.dispose();
          }
        });
        this.#unwrap(r)?.dispose();
      } catch (e) {
        this.#crash(e);
        return;
      }
      this.#check();
    });
  }

  #hostLog(level: string, line: string): void {
    if (this.#logBytes > LOG_LIMIT_BYTES) return;
    this.#logBytes += line.length + 1;
    if (this.#logBytes > LOG_LIMIT_BYTES) line = `[sandbox] console output exceeded ${LOG_LIMIT_BYTES} bytes; further lines are dropped.`;
    if (level === "warn" || level === "error") console.error(line);
    else console.log(line);
  }

  /** Runs pending jobs, then ends the attempt if it is decided. */
  #check(): void {
    if (this.#closed) return;
    if (this.#aborted) return this.#finish({ ok: false, error: abortError(this.#req) });
    try {
      if (!this.#timedOut && this.#violation === undefined) {
        const r = this.#enter(() => this.#rt!.executePendingJobs(-1));
        if (r.error) {
          this.#lastError = this.#readError(r.error);
          r.error.dispose();
        }
      }
    } catch (e) {
      this.#crash(e);
      return;
    }
    if (this.#violation !== undefined) return this.#finish({ ok: false, error: violationError(this.#errors, this.#violation) });
    if (this.#timedOut) return this.#finish({ ok: false, error: timeoutError(this.#errors) });
    const reported = this.#reported;
    if (reported) {
      if (reported.ok) {
        try {
          return this.#finish({ ok: true, value: fromSandboxJson(reported.payload, this.#handles, "the output") });
        } catch (e) {
          return this.#finish({ ok: false, error: e });
        }
      }
      const info = parseInfo(reported.payload);
      const host = info.id !== undefined ? this.#hostErrors.get(info.id) : undefined;
      return this.#finish({ ok: false, error: host ?? errorFromSandbox(info, this.#errors) });
    }
    if (this.#inFlight === 0 && !this.#rt!.hasPendingJob()) {
      // Nothing can make progress: either an uncatchable error unwound everything (memory, stack) or the code awaits forever.
      const last = this.#lastError;
      return this.#finish({ ok: false, error: last ? errorFromSandbox(last, this.#errors) : settleError(this.#errors) });
    }
  }

  /** The host side of a step failed; when the WebAssembly instance aborted, the next attempt gets a fresh module. */
  #crash(e: unknown): void {
    // Anything but a flyte error escaping the interpreter (a wasm abort, or a host stack overflow in the
    // middle of C code) leaves the instance in an unknown state: neither dispose into it nor reuse it.
    const broken = !(e instanceof FlyteError);
    if (broken) this.#onCrash(this.#module);
    const error = e instanceof FlyteError ? e : new SandboxError(`Sandbox "${this.#req.label}": the QuickJS interpreter failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    this.#finish({ ok: false, error }, broken);
  }

  #finish(outcome: Outcome, crashed = false): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#req.signal?.removeEventListener("abort", this.#onAbort);
    if (!crashed) {
      try {
        if (this.#settleFn?.alive) this.#settleFn.dispose();
        this.#ctx?.dispose();
        this.#rt?.dispose();
      } catch {
        // A leak assertion aborts the wasm instance; the attempt's outcome stands, the module is replaced.
        this.#onCrash(this.#module);
      }
    }
    this.#resolve(outcome);
  }
}

function abortError(req: SandboxRunRequest): unknown {
  const reason: unknown = req.signal?.reason;
  return reason instanceof Error ? reason : new SandboxError(`Sandbox "${req.label}" was aborted: ${String(reason ?? "the attempt ended")}.`);
}

function parseInfo(payload: string | undefined): SandboxErrorInfo {
  try {
    const o = JSON.parse(payload ?? "null") as Partial<SandboxErrorInfo> | null;
    if (o && typeof o.name === "string") return { name: o.name, message: String(o.message ?? ""), stack: o.stack, code: o.code, id: o.id };
  } catch {
    // fall through
  }
  return { name: "Error", message: String(payload) };
}
