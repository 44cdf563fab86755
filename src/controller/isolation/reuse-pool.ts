/**
 * Warm pools of a reusable environment (`ReusePolicy`, API.md §7) for isolated execution: long-lived replica
 * processes that run the environment's attempts as they come, up to `concurrency` at once each, and keep their
 * module state between attempts (a model loaded once serves every later call).
 *
 * - `replicas: [min, max]`: `min` replicas are started with the pool and kept; another is started (up to `max`)
 *   when every replica is at its concurrency and an attempt waits; attempts wait in order beyond that.
 * - `scaledownTtl`: a replica idle that long exits, down to `min`.
 * - `idleTtl`: a pool with nothing running for that long shuts down entirely (its next attempt starts it again).
 * - `scope: "run"`: one pool per run, instead of one per environment for the process.
 * - A replica past its memory limit (V8 heap or resident memory, as for a process per attempt) is recycled:
 *   killed, and the attempts in flight on it fail with a system error (`ReplicaLost`), which the attempt loop
 *   retries from the system-retry budget, not the user's. An attempt that ignores its abort past the grace period
 *   takes its replica down the same way: no work of a timed-out attempt goes on.
 *
 * Replica output that belongs to an attempt reaches that attempt's log (`log` messages); anything else (V8's own
 * messages) goes to this process's stderr, prefixed with the replica.
 */
import { readFile } from "node:fs/promises";
import type { ChildProcess } from "node:child_process";
import type { ReusePolicy } from "../../authoring/reuse-policy.ts";
import { RuntimeSystemError, errorFromRecord, errorToRecord } from "../../errors.ts";
import { writeToSink } from "../log-capture.ts";
import { rawWrite } from "../../internal/terminal-output.ts";
import type { Literal } from "../../types/literal.ts";
import { answerCall, isolationGraceMs, runMessage, showMiB, type IsolatedAttempt } from "./attempt-io.ts";
import { setRef, spawnAttemptProcess } from "./process-pool.ts";
import type { ToChild, ToOwner } from "./protocol.ts";

interface InFlight {
  a: IsolatedAttempt;
  resolve: (lit: Literal) => void;
  reject: (e: unknown) => void;
}

class Replica {
  readonly inflight = new Map<number, InFlight>();
  idleTimer: NodeJS.Timeout | undefined;
  dead = false;
  why: string | undefined;
  readonly #watch: NodeJS.Timeout | undefined;

  constructor(readonly child: ChildProcess, private readonly pool: ReplicaPool) {
    setRef(child, false);
    child.on("message", (m: ToOwner) => this.#onMessage(m));
    for (const stream of ["stdout", "stderr"] as const) {
      child[stream]?.setEncoding("utf8");
      let partial = "";
      child[stream]?.on("data", (text: string) => {
        const lines = (partial + text).split("\n");
        partial = lines.pop()!;
        for (const l of lines) rawWrite("stderr", `[replica ${pool.name} pid ${child.pid}] ${l}\n`);
      });
    }
    child.once("exit", (code, signal) => this.#onExit(code, signal));
    if (pool.limit !== undefined && process.platform === "linux") {
      const limit = pool.limit;
      let reading = false;
      this.#watch = setInterval(() => {
        if (reading || this.dead) return;
        reading = true;
        readFile(`/proc/${child.pid}/statm`, "utf8").then((s) => {
          const f = s.split(" ");
          const rss = (Number(f[1]) - Number(f[2])) * 4096;
          if (rss > limit) this.recycle(`it used more memory than its limit of ${showMiB(limit)} (resident ${showMiB(rss)})`);
        }, () => undefined).finally(() => (reading = false));
      }, 50);
      this.#watch.unref();
    }
  }

  get free(): number {
    return this.dead ? 0 : this.pool.policy.concurrency - this.inflight.size;
  }

  send(m: ToChild): void {
    if (this.child.connected) this.child.send(m, (e) => void e);
  }

  /** Kills the replica; attempts in flight on it fail with `ReplicaLost` (system retries). */
  recycle(why: string): void {
    if (this.dead) return;
    this.why ??= why;
    this.child.kill("SIGKILL");
  }

  run(aid: number, f: InFlight): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.inflight.size === 0) setRef(this.child, true);
    this.inflight.set(aid, f);
    this.send(runMessage(f.a, aid, true));
  }

  #settled(aid: number): InFlight | undefined {
    const f = this.inflight.get(aid);
    this.inflight.delete(aid);
    if (f && this.inflight.size === 0) setRef(this.child, false);
    if (f) this.pool.released(this);
    return f;
  }

  #onMessage(m: ToOwner): void {
    if (m.t === "ready") return;
    const f = this.inflight.get(m.aid);
    if (!f) return;
    if (m.t === "call") void answerCall(f.a, m, (x) => this.send(x));
    else if (m.t === "log") writeToSink(f.a.sink, m.stream, `${m.line}\n`);
    else if (m.t === "done") {
      this.#settled(m.aid);
      if (f.a.control.aborted) f.reject(f.a.control.reason);
      else f.resolve(m.lit);
    } else if (m.t === "failed") {
      this.#settled(m.aid);
      f.reject(f.a.control.aborted ? f.a.control.reason : errorFromRecord(m.err));
    }
  }

  #onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.dead = true;
    clearInterval(this.#watch);
    clearTimeout(this.idleTimer);
    this.pool.removed(this);
    const how = this.why ?? (signal ? `it was killed by ${signal}` : `it exited with code ${code}`);
    for (const [aid, f] of [...this.inflight]) {
      this.inflight.delete(aid);
      if (f.a.control.aborted) {
        f.reject(f.a.control.reason);
        continue;
      }
      f.reject(new RuntimeSystemError(
        "ReplicaLost",
        `Task "${f.a.task.name}" attempt #${f.a.attempt}: its replica of reusable environment "${this.pool.name}" (pid ${this.child.pid}) was recycled because ${how}; the attempt is retried as a system retry.`,
      ));
    }
  }
}

class ReplicaPool {
  readonly replicas = new Set<Replica>();
  readonly #starting = new Set<Promise<void>>();
  readonly #waiters: Array<() => void> = [];
  #idleTimer: NodeJS.Timeout | undefined;
  #nextAid = 1;

  constructor(readonly key: string, readonly name: string, readonly policy: ReusePolicy, readonly limit: number | undefined, readonly heapMb: number) {}

  get size(): number {
    return this.replicas.size + this.#starting.size;
  }

  #start(): void {
    const p = spawnAttemptProcess(this.heapMb, { replica: true }).then(
      (proc) => {
        const r = new Replica(proc.child, this);
        this.replicas.add(r);
        this.#armScaledown(r);
      },
      (e: unknown) => {
        rawWrite("stderr", `[reusable ${this.name}] a replica failed to start: ${(e as Error).message}\n`);
      },
    ).finally(() => {
      this.#starting.delete(p);
      this.#pump();
    });
    this.#starting.add(p);
  }

  /** Tops the pool up to `min` (called when an attempt arrives). */
  ensureMin(): void {
    while (this.size < this.policy.minReplicas) this.#start();
  }

  /** Runs one attempt on a replica with room, starting one (up to max) or waiting for one. */
  run(a: IsolatedAttempt): Promise<Literal> {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.ensureMin();
    return new Promise<Literal>((resolve, reject) => {
      const place = (): boolean => {
        let best: Replica | undefined;
        for (const r of this.replicas) if (r.free > 0 && (!best || r.free > best.free)) best = r;
        if (!best) return false;
        const aid = this.#nextAid++;
        const replica = best;
        const onAbort = () => {
          replica.send({ t: "abort", aid, reason: errorToRecord(a.control.reason) });
          const t = setTimeout(() => {
            if (replica.inflight.has(aid)) replica.recycle(`attempt #${a.attempt} of task "${a.task.name}" ignored its abort for ${isolationGraceMs()} ms`);
          }, isolationGraceMs());
          t.unref();
        };
        const done = () => a.control.signal.removeEventListener("abort", onAbort);
        a.started();
        replica.run(aid, {
          a,
          resolve: (v) => {
            done();
            resolve(v);
          },
          reject: (e) => {
            done();
            reject(e);
          },
        });
        if (a.control.aborted) onAbort();
        else a.control.signal.addEventListener("abort", onAbort, { once: true });
        return true;
      };
      if (this.#waiters.length === 0 && place()) return;
      const waiter = () => {
        a.control.signal.removeEventListener("abort", onWaitAbort);
        if (!place()) this.#waiters.unshift(waiter);
      };
      const onWaitAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(a.control.reason);
      };
      if (a.control.aborted) return reject(a.control.reason);
      a.control.signal.addEventListener("abort", onWaitAbort, { once: true });
      this.#waiters.push(waiter);
      // Every replica is busy: scale up by one per waiting attempt, up to max.
      if (this.size < this.policy.maxReplicas && this.#starting.size < this.#waiters.length) this.#start();
    });
  }

  #pump(): void {
    while (this.#waiters.length > 0) {
      const hasRoom = [...this.replicas].some((r) => r.free > 0);
      if (!hasRoom) break;
      this.#waiters.shift()!();
    }
  }

  released(r: Replica): void {
    this.#pump();
    if (r.inflight.size === 0) this.#armScaledown(r);
    if ([...this.replicas].every((x) => x.inflight.size === 0) && this.#waiters.length === 0) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = setTimeout(() => {
        for (const x of this.replicas) if (x.inflight.size === 0) x.recycle(`reusable environment "${this.name}" was idle for ${this.policy.idleTtl}s`);
      }, ttlMs(this.policy.idleTtl));
      this.#idleTimer.unref();
    }
  }

  #armScaledown(r: Replica): void {
    clearTimeout(r.idleTimer);
    r.idleTimer = setTimeout(() => {
      if (r.inflight.size === 0 && this.replicas.size > this.policy.minReplicas) r.recycle(`it was idle for ${this.policy.scaledownTtl}s`);
    }, ttlMs(this.policy.scaledownTtl));
    r.idleTimer.unref();
  }

  removed(r: Replica): void {
    this.replicas.delete(r);
    if (this.#waiters.length > 0 && this.size < this.policy.maxReplicas) this.#start();
    if (this.size === 0 && this.#waiters.length === 0) pools.delete(this.key);
  }

  stats(): PoolStats {
    let running = 0;
    for (const r of this.replicas) running += r.inflight.size;
    return { env: this.name, replicas: this.replicas.size, starting: this.#starting.size, running, capacity: this.replicas.size * this.policy.concurrency, waiting: this.#waiters.length };
  }

  shutdown(): void {
    for (const r of this.replicas) r.recycle("the pool was shut down");
  }
}

/** Seconds → ms; `FLYTE_REUSE_TTL_SCALE` (tests) shrinks the TTLs, which ReusePolicy keeps at 30 s or more. */
function ttlMs(seconds: number): number {
  const scale = Number(process.env.FLYTE_REUSE_TTL_SCALE);
  return seconds * 1000 * (scale > 0 ? scale : 1);
}

const pools = new Map<string, ReplicaPool>();

/** Size and use of a warm pool (what a worker's heartbeat reports of it). */
export interface PoolStats {
  env: string;
  replicas: number;
  starting: number;
  /** Attempts running on its replicas now. */
  running: number;
  /** replicas × concurrency. */
  capacity: number;
  /** Attempts waiting for room. */
  waiting: number;
}

/** The warm pools of this process, one row each. */
export function warmPools(): PoolStats[] {
  return [...pools.values()].map((p) => p.stats());
}

/** Stops every warm pool of this process (tests, a worker that stops). */
export function shutdownWarmPools(): void {
  for (const p of pools.values()) p.shutdown();
}

/** Runs a reusable environment's attempt on its warm pool. */
export function runInPool(a: IsolatedAttempt, policy: ReusePolicy, limit: number | undefined, heapMb: number): Promise<Literal> {
  const name = a.task.envName ?? a.task.name;
  const key = `${policy.scope === "run" ? `${a.run.name}/` : ""}${name}/${heapMb}`;
  let pool = pools.get(key);
  if (!pool) {
    pool = new ReplicaPool(key, name, policy, limit, heapMb);
    pools.set(key, pool);
  }
  return pool.run(a);
}
