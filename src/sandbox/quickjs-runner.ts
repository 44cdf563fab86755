/**
 * Runs one sandbox attempt in QuickJS (WebAssembly): a fresh runtime + context per attempt on one compiled
 * module shared by the process, with memory, stack and CPU-time limits, and a bridge through which the
 * sandboxed code calls host tasks (which become child actions when the attempt runs inside a run).
 *
 * How an attempt proceeds: the prelude (./prelude.ts) is evaluated with the host functions as arguments, the
 * entry function is evaluated, `start(entry, inputs)` is called, and from then on the host drives the
 * interpreter. Task calls the code makes are started together on the next microtask; the calls that settle
 * before the next microtask are delivered back in one batch (`settle(batch)`), after which the pending jobs
 * run — one interpreter entry per host tick, however wide the fan-out. The attempt ends when the code
 * reports its outcome, a limit trips, or nothing can make progress.
 *
 * @example
 * ```ts
 * const out = await runInSandbox({ label: "env.pipeline", source: prepareFunctionSource(fn, "x"), inputs: { n: 2 },
 *   tasks: new Map([["add", add]]), limits: { timeoutMs: 30_000, maxMemory: 50 << 20, maxStackDepth: 256, typeCheck: true } });
 * ```
 * @module
 */
import { newQuickJSWASMModule, RELEASE_SYNC, type QuickJSWASMModule } from "quickjs-emscripten";
import { SandboxAttempt, type SandboxRunRequest } from "./sandbox-attempt.ts";
import { prepareCodeSource } from "./source.ts";

export { MAX_STACK_DEPTH, STACK_BYTES_PER_FRAME } from "./sandbox-attempt.ts";
export type { SandboxLimits, SandboxRunRequest } from "./sandbox-attempt.ts";

let modulePromise: Promise<QuickJSWASMModule> | undefined;

/** The compiled QuickJS module, loaded once per process (and again only after it crashed). */
export function loadSandboxModule(): Promise<QuickJSWASMModule> {
  if (!modulePromise) {
    const p = newQuickJSWASMModule(RELEASE_SYNC).then(warmUp);
    modulePromise = p;
    p.catch(() => {
      if (modulePromise === p) modulePromise = undefined;
    });
  }
  return modulePromise;
}

/**
 * V8 compiles wasm functions lazily, on first call: the first attempt on a new module would spend 100-400 ms
 * compiling the parser and interpreter paths, and could even trip a small timeoutMs. One throwaway attempt
 * at load time pays that once per process.
 */
async function warmUp(module: QuickJSWASMModule): Promise<QuickJSWASMModule> {
  const code = "const xs = [1, 2, 3].map((x) => ({ x, s: String(x) }));\nconst ys = await Promise.all(xs.map(async (o) => o.x * 2));\nJSON.parse(JSON.stringify({ ys, warm }))";
  const req: SandboxRunRequest = {
    label: "warm-up", source: prepareCodeSource(code, ["warm"], "warm-up"), inputs: { warm: [true] }, tasks: new Map(),
    limits: { timeoutMs: 60_000, maxMemory: 16 * 1024 * 1024, maxStackDepth: 256, typeCheck: true },
  };
  await new SandboxAttempt(module, req).run().catch(() => undefined);
  return module;
}

/** Forgets a module whose WebAssembly instance aborted, so the next attempt starts from a healthy one. */
function discardModule(module: QuickJSWASMModule): void {
  void modulePromise?.then((m) => {
    if (m === module) modulePromise = undefined;
  });
}

/** Runs the orchestrator once; resolves to its output or rejects with the mapped error. */
export async function runInSandbox(req: SandboxRunRequest): Promise<unknown> {
  const module = await loadSandboxModule();
  return new SandboxAttempt(module, req, discardModule).run();
}
