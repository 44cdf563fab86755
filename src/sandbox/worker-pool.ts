/**
 * The worker threads sandbox attempts run in, and the hard deadline on each step.
 *
 * A worker loads and warms the QuickJS module once (~120 ms from compiled JavaScript, ~190 ms from the
 * TypeScript sources through tsx, measured on the development machine), so finished workers are kept warm
 * (at most `MAX_IDLE`) and reused: every attempt still gets a fresh QuickJS runtime and context. Each
 * running attempt gets a worker of its own while fewer than `MAX_WORKERS` exist; beyond that, attempts share
 * the least busy worker (they take turns step by step, as they would on one thread).
 *
 * Every step the host asks for is timed: a step still running `timeoutMs` minus the attempt's CPU time so far
 * plus `GRACE_MS` after it began (a native operation that never checks the interrupt flag, a wasm hang) gets
 * the worker terminated; the attempt fails with its timeout, any attempt sharing the worker fails as lost.
 * @module
 * @internal
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { HostMessage, WorkerMessage } from "./sandbox-protocol.ts";

/** What a worker tells an attempt that runs in it. */
export interface AttemptPort {
  readonly label: string;
  readonly timeoutMs: number;
  /** Sandbox CPU time so far, as the worker's shared clock shows it (the running step included). */
  cpuMs(): number;
  receive(m: WorkerMessage): void;
  /** The worker is gone before the attempt ended. */
  lost(reason: LostReason): void;
}

export type LostReason =
  /** This attempt's step overran its deadline and the worker was terminated. */
  | { kind: "deadline" }
  /** Another attempt sharing the worker overran its deadline. */
  | { kind: "shared"; label: string }
  /** The worker failed or exited. */
  | { kind: "died"; message: string };

/** Time a step may run past the attempt's remaining CPU budget before the worker is terminated. */
export const GRACE_MS = 100;
/** Workers at most; beyond it attempts share workers. */
const MAX_WORKERS = Math.max(4, 2 * availableParallelism());
/** Warm workers kept while no attempt needs them. */
const MAX_IDLE = 2;

/**
 * The worker's entry next to this module: compiled JavaScript as is; from the TypeScript sources (tsx, a test
 * runner) a worker does not inherit the loader its parent registered, and Node 20 ignores `--import` in a
 * worker's execArgv, so a small module registers tsx's loader (resolved from this package) and imports it.
 */
function workerEntry(): URL {
  if (!import.meta.url.endsWith(".ts")) return new URL("./sandbox-worker.js", import.meta.url);
  const target = new URL("./sandbox-worker.ts", import.meta.url).href;
  const boot = `import { register } from ${JSON.stringify(tsxEsmApi())}; register(); await import(${JSON.stringify(target)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(boot)}`);
}

/** tsx's ESM register API (require.resolve would give its CommonJS build, whose loader cannot start in a worker). */
function tsxEsmApi(): string {
  const pkgPath = createRequire(import.meta.url).resolve("tsx/package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as { exports: Record<string, { import?: { default?: string } }> };
  const rel = pkg.exports["./esm/api"]?.import?.default ?? "./dist/esm/api/index.mjs";
  return new URL(rel, pathToFileURL(pkgPath)).href;
}

let entry: URL | undefined;
const all = new Set<SandboxWorker>();
const idle: SandboxWorker[] = [];

export class SandboxWorker {
  readonly #worker: Worker;
  readonly ready: Promise<void>;
  readonly #attempts = new Map<number, AttemptPort>();
  /** Steps asked for and not yet answered, in order: the worker answers them in that order. */
  readonly #steps: { a: number; budgetMs: number }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #gone = false;

  constructor() {
    entry ??= workerEntry();
    this.#worker = new Worker(entry);
    all.add(this);
    this.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: WorkerMessage) => {
        if (m.t !== "ready") return;
        this.#worker.off("message", onMessage);
        this.#worker.on("message", (msg: WorkerMessage) => this.#onMessage(msg));
        resolve();
      };
      this.#worker.on("message", onMessage);
      this.#worker.once("error", (e: Error) => {
        reject(e);
        this.#die(`the sandbox worker failed: ${e.message}`);
      });
      this.#worker.once("exit", (code) => {
        reject(new Error(`the sandbox worker exited with code ${code} before it was ready`));
        this.#die(`the sandbox worker exited with code ${code}`);
      });
    });
    this.ready.catch(() => {});
  }

  get load(): number {
    return this.#attempts.size;
  }

  /** Keeps the process alive while an attempt runs here, not while the worker only waits to be reused. */
  #refresh(): void {
    if (this.#attempts.size > 0 || this.#steps.length > 0) this.#worker.ref();
    else this.#worker.unref();
  }

  /** Starts an attempt here. `budgetMs`: how long its first step may run. */
  start(port: AttemptPort, m: Extract<HostMessage, { t: "start" }>, budgetMs: number): void {
    if (this.#gone) return port.lost({ kind: "died", message: "the sandbox worker exited before the attempt started" });
    this.#attempts.set(m.a, port);
    this.step(m, budgetMs);
  }

  /** Asks for a step (start or settle) that may run `budgetMs` once the worker gets to it. */
  step(m: HostMessage & { t: "start" | "settle" }, budgetMs: number): void {
    if (this.#gone) return;
    this.#steps.push({ a: m.a, budgetMs });
    if (this.#steps.length === 1) this.#arm();
    this.#refresh();
    this.#worker.postMessage(m);
  }

  /** The host gives up on an attempt: stops it now when it runs alone here, or lets it wind down at its next check. */
  drop(a: number): void {
    if (!this.#attempts.delete(a)) return;
    const running = this.#steps.some((s) => s.a === a);
    if (running && this.#attempts.size === 0) return this.#terminate();
    if (!running) this.#worker.postMessage({ t: "drop", a } satisfies HostMessage);
    this.#settleIdle();
  }

  #arm(delayMs?: number): void {
    clearTimeout(this.#timer);
    const head = this.#steps[0];
    if (!head) return;
    this.#timer = setTimeout(() => {
      // An answer may already be waiting in the port while the event loop was busy: read it first.
      setImmediate(() => {
        if (this.#gone || this.#steps[0] !== head) return;
        // Judged on the worker's own clock (time inside the interpreter), so a step that waited for the thread
        // to be scheduled, or for the message to arrive, is not cut short on a loaded machine.
        const port = this.#attempts.get(head.a);
        const left = port ? port.timeoutMs + GRACE_MS - port.cpuMs() : 0;
        if (left > 0) return this.#arm(Math.max(5, left));
        this.#overran(head.a);
      });
    }, delayMs ?? head.budgetMs);
  }

  #onMessage(m: WorkerMessage): void {
    if (m.t === "ready") return;
    if (m.t === "step" || m.t === "end") {
      this.#steps.shift();
      this.#arm();
    }
    const port = this.#attempts.get(m.a);
    if (m.t === "end") this.#attempts.delete(m.a);
    port?.receive(m);
    if (m.t === "end" && m.broken) {
      // The WebAssembly instance is unusable: everything else on it is lost too.
      this.#die("the QuickJS interpreter failed in another attempt that shared its worker thread");
      return;
    }
    this.#settleIdle();
  }

  /** A step ran past its deadline: terminate the thread, whatever it is doing. */
  #overran(a: number): void {
    const ports = [...this.#attempts];
    this.#attempts.clear();
    const culprit = ports.find(([id]) => id === a)?.[1];
    this.#terminate();
    for (const [id, port] of ports) port.lost(id === a ? { kind: "deadline" } : { kind: "shared", label: culprit?.label ?? "another orchestrator" });
  }

  #terminate(replace = true): void {
    this.#gone = true;
    clearTimeout(this.#timer);
    all.delete(this);
    const i = idle.indexOf(this);
    if (i >= 0) idle.splice(i, 1);
    void this.#worker.terminate();
    // A worker stopped mid-attempt (deadline, abort, crash) is replaced ahead of the next attempt.
    if (replace && idle.length === 0) prewarmWorker().catch(() => {});
  }

  #die(message: string): void {
    if (this.#gone) return;
    const ports = [...this.#attempts.values()];
    this.#attempts.clear();
    this.#terminate();
    for (const port of ports) port.lost({ kind: "died", message });
  }

  /** Back to the warm pool once nothing runs here. */
  parkIfIdle(): void {
    this.#settleIdle();
  }

  #settleIdle(): void {
    this.#refresh();
    if (this.#gone || this.#attempts.size > 0 || this.#steps.length > 0 || idle.includes(this)) return;
    if (idle.length < MAX_IDLE) idle.push(this);
    else this.#terminate(false);
  }
}

/** A worker being started ahead of need, not yet claimed. */
let warming: SandboxWorker | undefined;

/** A ready worker for one more attempt: a warm idle one, the one warming up, a new one, or (at the maximum) the least busy. */
export async function acquireWorker(): Promise<SandboxWorker> {
  const warm = idle.pop() ?? warming;
  if (warm) {
    if (warm === warming) warming = undefined;
    await warm.ready;
    return warm;
  }
  if (all.size >= MAX_WORKERS) {
    let best: SandboxWorker | undefined;
    for (const w of all) if (!best || w.load < best.load) best = w;
    await best!.ready;
    return best!;
  }
  const w = new SandboxWorker();
  await w.ready;
  return w;
}

/** Starts one warm worker unless one is idle or starting; resolves when it is ready. */
export async function prewarmWorker(): Promise<void> {
  if (idle.length > 0) return;
  if (warming) return warming.ready;
  const w = (warming = new SandboxWorker());
  try {
    await w.ready;
  } finally {
    if (warming === w) {
      warming = undefined;
      w.parkIfIdle();
    }
  }
}
