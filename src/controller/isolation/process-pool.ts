/**
 * Processes for isolated attempts. Each runs exactly one attempt and exits; spawning one (Node, tsx, the
 * runtime's modules) costs far more than a trivial attempt, so a few are started ahead of need and wait, ready,
 * for an attempt: a pool of pre-started, not-yet-used processes per V8 heap limit (the one `--max-old-space-size`
 * a process is started with). A heap limit is pre-started for once it has been asked for; spares do not keep
 * this process alive, and are killed when it exits.
 *
 * CPU requests bound how many isolated attempts run at once (`CpuSlots`): capacity is the machine's cores (or
 * `FLYTE_ISOLATION_CPUS`), an attempt takes its `resources.cpu` request (1 when unset).
 */
import { fork, type ChildProcess } from "node:child_process";
import { availableParallelism } from "node:os";
import { extname, join } from "node:path";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { nodeFlagsForUserCode } from "../../internal/user-code-flags.ts";
import type { ToOwner } from "./protocol.ts";

const here = fileURLToPath(import.meta.url);
const ENTRY = join(here, "..", `attempt-entry${extname(here)}`);

/** A started process, ready for its attempt (its `ready` message arrived). */
export interface AttemptProcess {
  readonly child: ChildProcess;
  /** Heap limit it was started with, in MiB (0 = Node's default). */
  readonly heapMb: number;
  /** Milliseconds from spawn to ready. */
  readonly startMs: number;
}

const live = new Set<ChildProcess>();
let exitHook = false;

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on("exit", () => {
    for (const c of live) c.kill("SIGKILL");
  });
}

export function setRef(child: ChildProcess, ref: boolean): void {
  const f = ref ? "ref" : "unref";
  child[f]();
  (child.channel as { ref?(): void; unref?(): void } | undefined)?.[f]?.();
  (child.stdout as Socket | null)?.[f]?.();
  (child.stderr as Socket | null)?.[f]?.();
}

/** Starts a process and resolves once it is ready for an attempt (rejects if it dies first). */
export function spawnAttemptProcess(heapMb: number, o: { replica?: boolean } = {}): Promise<AttemptProcess> {
  installExitHook();
  const t0 = performance.now();
  const child = fork(ENTRY, [], {
    execArgv: [...nodeFlagsForUserCode(), ...(heapMb > 0 ? [`--max-old-space-size=${heapMb}`] : [])],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    serialization: "advanced",
    env: o.replica ? { ...process.env, FLYTE_ISOLATION_REPLICA: "1" } : process.env,
  });
  live.add(child);
  child.once("exit", () => live.delete(child));
  let early = "";
  const onErr = (b: Buffer) => void (early = (early + b.toString()).slice(-4000));
  child.stderr?.on("data", onErr);
  return new Promise((resolve, reject) => {
    const onMessage = (m: ToOwner) => {
      if (m.t !== "ready") return;
      cleanup();
      child.stderr?.off("data", onErr);
      resolve({ child, heapMb, startMs: performance.now() - t0 });
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      cleanup();
      reject(new Error(`The process for an isolated attempt exited before it was ready (${signal ?? `code ${code}`}).${early ? ` Its stderr:\n${early.trim()}` : ""}`));
    };
    const cleanup = () => {
      child.off("message", onMessage);
      child.off("exit", onExit);
      child.off("error", onExit as never);
    };
    child.on("message", onMessage);
    child.once("exit", onExit);
    child.once("error", (e) => {
      cleanup();
      reject(e);
    });
  });
}

/** How many ready processes are kept per heap limit. `FLYTE_ISOLATION_SPARES` (0 turns pre-starting off). */
export function sparesWanted(): number {
  const v = Number(process.env.FLYTE_ISOLATION_SPARES);
  return Number.isInteger(v) && v >= 0 ? v : 2;
}

const spares = new Map<number, Promise<AttemptProcess>[]>();

function prestart(heapMb: number): void {
  const list = spares.get(heapMb) ?? [];
  spares.set(heapMb, list);
  while (list.length < sparesWanted()) {
    const p = spawnAttemptProcess(heapMb).then((proc) => {
      setRef(proc.child, false);
      // A spare that dies while it waits leaves the pool.
      proc.child.once("exit", () => {
        const i = list.indexOf(p);
        if (i >= 0) list.splice(i, 1);
      });
      return proc;
    });
    p.catch(() => {
      const i = list.indexOf(p);
      if (i >= 0) list.splice(i, 1);
    });
    list.push(p);
  }
}

/**
 * A process for one attempt: a pre-started one when a spare with that heap limit is ready (or about to be), else
 * a fresh spawn; either way, spares for that heap limit are topped up behind it.
 */
export async function takeAttemptProcess(heapMb: number): Promise<AttemptProcess & { warm: boolean }> {
  const list = spares.get(heapMb);
  const next = list?.shift();
  if (sparesWanted() > 0) prestart(heapMb);
  if (next) {
    try {
      const proc = await next;
      if (proc.child.exitCode === null && proc.child.signalCode === null && proc.child.connected) {
        setRef(proc.child, true);
        return { ...proc, warm: true };
      }
    } catch {
      // A spare that failed to start: start one now, and report that one's failure if it fails too.
    }
  }
  return { ...(await spawnAttemptProcess(heapMb)), warm: false };
}

/** Kills the spares (tests, benchmarks, a worker that stops). */
export function drainSpares(): void {
  for (const list of spares.values()) {
    for (const p of list.splice(0)) void p.then((proc) => proc.child.kill("SIGKILL"), () => undefined);
  }
}

/** Resolves once every spare started so far is ready (benchmarks: measure warm starts, not spawns). */
export async function sparesReady(): Promise<void> {
  await Promise.allSettled([...spares.values()].flat());
}

/** Pre-starts spares for a heap limit now (a worker about to run isolated attempts). */
export function warmUp(heapMb: number): void {
  if (sparesWanted() > 0) prestart(heapMb);
}

/**
 * The CPU cores isolated attempts may use at once, in millicores. `acquire` waits (abortably) in order;
 * an attempt blocked on its children gives its share back meanwhile (`lend`/`reclaim`), so a parent never
 * starves its own children.
 */
export class CpuSlots {
  #free: number;
  readonly #waiters: { need: number; go: () => void }[] = [];
  constructor(readonly capacity: number) {
    this.#free = capacity;
  }
  acquire(need: number, signal: AbortSignal): Promise<number> {
    const n = Math.min(need, this.capacity);
    if (this.#waiters.length === 0 && this.#free >= n) {
      this.#free -= n;
      return Promise.resolve(n);
    }
    return new Promise<number>((resolve, reject) => {
      const w = { need: n, go: () => {
        signal.removeEventListener("abort", onAbort);
        resolve(n);
      } };
      const onAbort = () => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal.reason);
        this.#pump();
      };
      if (signal.aborted) return reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(w);
    });
  }
  release(n: number): void {
    this.#free += n;
    this.#pump();
  }
  /** Takes `n` back without waiting (the attempt resumed; the pool may be over capacity for a while). */
  reclaim(n: number): void {
    this.#free -= n;
  }
  #pump(): void {
    while (this.#waiters.length > 0 && this.#free >= this.#waiters[0]!.need) {
      const w = this.#waiters.shift()!;
      this.#free -= w.need;
      w.go();
    }
  }
}

let slots: CpuSlots | undefined;
/** The process-wide CPU slots of isolated attempts. */
export function cpuSlots(): CpuSlots {
  if (!slots) {
    const env = Number(process.env.FLYTE_ISOLATION_CPUS);
    slots = new CpuSlots(Math.round((env > 0 ? env : availableParallelism()) * 1000));
  }
  return slots;
}
