/**
 * The worker-thread side of one sandbox attempt (see ./quickjs-runner.ts for the life cycle): the QuickJS
 * runtime and context, CPU-time accounting, and the steps. It never runs a task itself: the task calls a
 * step makes are handed to the host with the step's answer, and their results come back in `settle`.
 * Always disposes every handle it created.
 * @module
 * @internal
 */
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from "quickjs-emscripten";
import { PRELUDE, WITHHELD_GLOBALS } from "./prelude.ts";
import { violationError, type ErrorContext, type SandboxErrorInfo } from "./sandbox-errors.ts";
import {
  capErrorInfo, capText, MAX_LOG_LINE_CHARS, type EndReason, type HostMessage, type MapCall, type WorkerMessage,
} from "./sandbox-protocol.ts";

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

/**
 * Interpreter stack bytes granted per allowed call. Measured on the bundled QuickJS: a plain call takes
 * ~175 bytes, an async call ~380, a call made through a native (Array.prototype.map, a toString hook)
 * 450-1000, so about `maxStackDepth` plain calls fit.
 */
export const STACK_BYTES_PER_FRAME = 256;
/**
 * The wasm interpreter also recurses on the thread's native stack, and a native stack overflow aborts the
 * whole WebAssembly instance. Measured on the main thread: a 320 KiB interpreter budget already overflowed
 * Node's default native stack through template-literal toString recursion, 256 KiB did not; 512 calls
 * (128 KiB) keeps a 2.5x margin (worker threads get a larger native stack, 4 MiB).
 */
export const MAX_STACK_DEPTH = 512;
/** Console output kept per attempt; beyond it lines are dropped (an infinite logging loop must not fill the store). */
const LOG_LIMIT_BYTES = 1024 * 1024;

type Start = Extract<HostMessage, { t: "start" }>;

export class SandboxInterpreter {
  readonly #module: QuickJSWASMModule;
  readonly #msg: Start;
  readonly #send: (m: WorkerMessage) => void;
  readonly #errors: ErrorContext;
  readonly #stop: Int32Array;
  /** Shared with the host: [sandbox CPU ms so far, absolute time the current interpreter entry began or 0]. */
  readonly #clock: Float64Array;
  /** Task calls made in the current step (batches of three lines each) and flyteMap calls. */
  #calls: string[] = [];
  #maps: MapCall[] = [];
  /** Calls handed to the host and not yet settled. */
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

  /** @param send posts a message to the host; `end` is posted once, after the runtime is disposed. */
  constructor(module: QuickJSWASMModule, msg: Start, send: (m: WorkerMessage) => void) {
    this.#module = module;
    this.#msg = msg;
    this.#send = send;
    this.#stop = new Int32Array(msg.stop, 0, 1);
    this.#clock = new Float64Array(msg.stop, 8, 2);
    this.#errors = {
      label: msg.label, timeoutMs: msg.limits.timeoutMs, maxMemory: msg.limits.maxMemory, maxStackDepth: msg.limits.maxStackDepth,
      lineOffset: msg.lineOffset, taskNames: msg.taskNames,
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Boots the runtime and runs the first step. */
  start(): void {
    try {
      const failed = this.#boot();
      if (failed) return this.#end(failed);
    } catch (e) {
      return this.#crash(e);
    }
    this.#check();
  }

  /** Delivers settled task calls and runs the step they enable. */
  settle(batch: string, count: number): void {
    if (this.#closed) return;
    this.#inFlight -= count;
    const ctx = this.#ctx!;
    try {
      const r = this.#enter(() => {
        const h = ctx.newString(batch);
        try {
          return ctx.callFunction(this.#settleFn!, ctx.undefined, h);
        } finally {
          h.dispose();
        }
      });
      this.#unwrap(r)?.dispose();
    } catch (e) {
      return this.#crash(e);
    }
    this.#check();
  }

  /** The host gave up on the attempt: dispose without answering. */
  drop(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dispose();
  }

  /** Creates the runtime and context, installs the prelude, and starts the entry function; a reason if that failed. */
  #boot(): EndReason | undefined {
    const { limits, entry: source } = this.#msg;
    const rt = (this.#rt = this.#module.newRuntime());
    rt.setMemoryLimit(limits.maxMemory);
    rt.setMaxStackSize(limits.maxStackDepth * STACK_BYTES_PER_FRAME);
    rt.setInterruptHandler(() => this.#shouldInterrupt());
    const ctx = (this.#ctx = rt.newContext());

    const args = [
      ctx.newFunction("hostCalls", (b) => this.#hostCalls(ctx.getString(b))),
      ctx.newFunction("hostMap", (n, i, o, id) => {
        this.#inFlight++;
        this.#maps.push([ctx.getString(n), ctx.getString(i), this.#optString(o), ctx.getNumber(id)]);
      }),
      ctx.newFunction("hostDone", (ok, p) => void (this.#reported ??= { ok: ctx.dump(ok) === true, payload: this.#optString(p) })),
      ctx.newFunction("hostLog", (level, line) => this.#hostLog(ctx.getString(level), ctx.getString(line))),
      ctx.newFunction("hostViolation", (n) => {
        const name = ctx.getString(n);
        this.#violation ??= name;
        return ctx.newError({ name: "SandboxViolationError", message: violationError(this.#errors, name).message });
      }),
      ctx.newString(JSON.stringify(this.#msg.taskNames)),
      ctx.newString(JSON.stringify(WITHHELD_GLOBALS)),
      limits.typeCheck ? ctx.true : ctx.false,
    ];
    let fns: QuickJSHandle | undefined;
    let start: QuickJSHandle | undefined;
    let entry: QuickJSHandle | undefined;
    let inputs: QuickJSHandle | undefined;
    try {
      const prelude = this.#unwrap(this.#enter(() => ctx.evalCode(COMPACT_PRELUDE, "flyte-prelude.js", { type: "global" })));
      if (!prelude) return { kind: "failed", message: `the sandbox prelude failed to load: ${this.#lastError?.message}` };
      const installed = this.#enter(() => ctx.callFunction(prelude, ctx.undefined, args));
      prelude.dispose();
      fns = this.#unwrap(installed);
      if (!fns) return { kind: "failed", message: `the sandbox prelude failed to run: ${this.#lastError?.message}` };
      start = ctx.getProp(fns, 0);
      this.#settleFn = ctx.getProp(fns, 1);
      this.#vmMs = 0;
      this.#counting = true;
      entry = this.#unwrap(this.#enter(() => ctx.evalCode(source, "orchestrator.js", { type: "global" })));
      if (!entry) return this.#timedOut ? { kind: "timeout" } : { kind: "error", info: this.#lastError! };
      inputs = this.#msg.inputsJson === undefined ? ctx.undefined : ctx.newString(this.#msg.inputsJson);
      const [s, e, i] = [start, entry, inputs];
      this.#unwrap(this.#enter(() => ctx.callFunction(s, ctx.undefined, e, i)))?.dispose();
      return undefined;
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
    if (outer) {
      this.#enteredAt = performance.now();
      if (this.#counting) this.#clock[1] = performance.timeOrigin + this.#enteredAt;
    }
    try {
      return fn();
    } finally {
      if (outer) {
        this.#vmMs += performance.now() - this.#enteredAt;
        this.#enteredAt = 0;
        if (this.#counting) {
          this.#clock[0] = this.#vmMs;
          this.#clock[1] = 0;
        }
        // A native operation (a huge BigInt, a sort) runs without interrupt checks: time it afterwards too.
        if (this.#counting && this.#vmMs > this.#msg.limits.timeoutMs) this.#timedOut = true;
      }
    }
  }

  #shouldInterrupt(): boolean {
    if (this.#violation !== undefined || this.#closed || Atomics.load(this.#stop, 0) !== 0) return true;
    if (this.#counting && this.#enteredAt !== 0 && this.#vmMs + (performance.now() - this.#enteredAt) > this.#msg.limits.timeoutMs) {
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

  /** Name, message and stack of an error value, cut to the caps (a 20 MiB message must not leave the worker). */
  #readError(h: QuickJSHandle): SandboxErrorInfo {
    const ctx = this.#ctx!;
    try {
      if (ctx.typeof(h) !== "object") return capErrorInfo({ name: "Error", message: String(ctx.dump(h)) });
      const field = (key: string) => {
        const v = ctx.getProp(h, key);
        try {
          return ctx.typeof(v) === "string" ? ctx.getString(v) : undefined;
        } finally {
          v.dispose();
        }
      };
      return capErrorInfo({ name: field("name") ?? "Error", message: field("message") ?? "", stack: field("stack") });
    } catch {
      return { name: "Error", message: "unreadable error" };
    }
  }

  /** The task calls the sandbox made in one step, handed to the host when the step ends. */
  #hostCalls(batch: string): void {
    let lines = 1;
    for (let i = batch.indexOf("\n"); i !== -1; i = batch.indexOf("\n", i + 1)) lines++;
    this.#inFlight += Math.floor(lines / 3);
    this.#calls.push(batch);
  }

  #hostLog(level: string, line: string): void {
    if (this.#logBytes > LOG_LIMIT_BYTES) return;
    line = capText(line, MAX_LOG_LINE_CHARS);
    this.#logBytes += line.length + 1;
    if (this.#logBytes > LOG_LIMIT_BYTES) line = `[sandbox] console output exceeded ${LOG_LIMIT_BYTES} bytes; further lines are dropped.`;
    this.#send({ t: "log", a: this.#msg.a, level, line });
  }

  /** Runs pending jobs, then ends the attempt if it is decided, or hands the step's calls to the host. */
  #check(): void {
    if (this.#closed) return;
    try {
      if (!this.#timedOut && this.#violation === undefined) {
        const r = this.#enter(() => this.#rt!.executePendingJobs(-1));
        if (r.error) {
          this.#lastError = this.#readError(r.error);
          r.error.dispose();
        }
      }
    } catch (e) {
      return this.#crash(e);
    }
    if (this.#violation !== undefined) return this.#end({ kind: "violation", name: this.#violation });
    if (this.#timedOut) return this.#end({ kind: "timeout" });
    if (Atomics.load(this.#stop, 0) !== 0) return this.#end({ kind: "stopped" });
    const reported = this.#reported;
    if (reported) {
      if (reported.ok) return this.#end({ kind: "ok", payload: reported.payload });
      return this.#end({ kind: "error", info: capErrorInfo(parseInfo(reported.payload)) });
    }
    if (this.#inFlight === 0 && !this.#rt!.hasPendingJob()) {
      // Nothing can make progress: either an uncatchable error unwound everything (memory, stack) or the code awaits forever.
      const last = this.#lastError;
      return this.#end(last ? { kind: "error", info: last } : { kind: "never-settles" });
    }
    const calls = this.#calls.length === 1 ? this.#calls[0]! : this.#calls.join("\n");
    const maps = this.#maps;
    this.#calls = [];
    this.#maps = [];
    this.#send({ t: "step", a: this.#msg.a, calls, maps, vmMs: this.#vmMs });
  }

  /** Anything thrown out of the interpreter (a wasm abort, a native stack overflow) leaves the instance unusable. */
  #crash(e: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    // Neither dispose into nor reuse an instance in an unknown state.
    this.#send({ t: "end", a: this.#msg.a, reason: { kind: "crash", message: capText((e as Error)?.message ?? String(e), 2000) }, broken: true });
  }

  #end(reason: EndReason): void {
    if (this.#closed) return;
    this.#closed = true;
    // A failed dispose (a leak assertion aborts the instance) leaves the outcome standing; the worker is replaced.
    this.#send(this.#dispose() ? { t: "end", a: this.#msg.a, reason } : { t: "end", a: this.#msg.a, reason, broken: true });
  }

  /** False when disposing failed (a leak assertion aborts the wasm instance). */
  #dispose(): boolean {
    try {
      if (this.#settleFn?.alive) this.#settleFn.dispose();
      this.#ctx?.dispose();
      this.#rt?.dispose();
      return true;
    } catch {
      return false;
    }
  }
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
