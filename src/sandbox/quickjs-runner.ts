/**
 * Runs one sandbox attempt in QuickJS (WebAssembly) on a worker thread: a fresh runtime + context per
 * attempt on a compiled module each worker loads once, with memory, stack and CPU-time limits, and a bridge
 * through which the sandboxed code calls host tasks (which become child actions when the attempt runs
 * inside a run).
 *
 * How an attempt proceeds: the host (./sandbox-attempt.ts) takes a warm worker (./worker-pool.ts) and sends
 * it the entry and the inputs; the worker (./sandbox-worker.ts, ./sandbox-interpreter.ts) evaluates the
 * prelude (./prelude.ts), the entry function, and runs the pending jobs. Each such step ends with one answer
 * to the host carrying every task call the code made in it; the host starts them as child actions, and the
 * results that settle before the next microtask go back in one batch, which runs the next step — one
 * interpreter entry per host tick, however wide the fan-out. The attempt ends when the code reports its
 * outcome, a limit trips, or nothing can make progress. A step that overruns the CPU budget (a native
 * operation that never checks for interrupts) gets its worker terminated.
 *
 * @example
 * ```ts
 * const out = await runInSandbox({ label: "env.pipeline", source: prepareFunctionSource(fn, "x"), inputs: { n: 2 },
 *   tasks: new Map([["add", add]]), limits: { timeoutMs: 30_000, maxMemory: 50 << 20, maxStackDepth: 256, typeCheck: true } });
 * ```
 * @module
 */
import { SandboxAttempt, type SandboxRunRequest } from "./sandbox-attempt.ts";
import { prewarmWorker } from "./worker-pool.ts";

export { MAX_STACK_DEPTH, STACK_BYTES_PER_FRAME } from "./sandbox-attempt.ts";
export type { SandboxLimits, SandboxRunRequest } from "./sandbox-attempt.ts";

/** Starts a warm worker (QuickJS compiled and warmed) unless one is idle; resolves when it is ready. */
export function loadSandboxModule(): Promise<void> {
  return prewarmWorker();
}

/** Runs the orchestrator once; resolves to its output or rejects with the mapped error. */
export function runInSandbox(req: SandboxRunRequest): Promise<unknown> {
  return new SandboxAttempt(req).run();
}
