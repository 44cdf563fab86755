/**
 * A set of OS processes started together and stopped together. Every member is spawned `detached`, i.e. as
 * the leader of its own process group, so stopping it also reaches whatever it started (a Python trainer, a
 * torchrun worker). Output is split into lines and handed to `forward`; the last stderr lines are kept for
 * error messages. A process-wide `exit` hook kills members still alive, and every rank additionally watches
 * its owner's pid, so neither a crash of this process nor of a rank leaves orphans behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";

export interface MemberExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** `Date.now()` at exit. */
  time: number;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  spawnError?: Error;
}

export interface Member {
  readonly label: string;
  /** Global rank (built-in launcher) or undefined (a torchrun agent). */
  readonly rank?: number;
  readonly node: number;
  readonly child: ChildProcess;
  exit?: MemberExit;
  readonly stderrTail: string[];
}

export type GroupOutcome = { ok: true } | { ok: false; first: Member };

type Forward = (member: Member, stream: "stdout" | "stderr", line: string) => void;

const TAIL_LINES = 30;
const live = new Set<Member>();
let exitHookInstalled = false;

function signalGroup(m: Member, signal: NodeJS.Signals): void {
  const pid = m.child.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone (ESRCH); the leader itself may still need the signal if it left its group.
    if (!m.exit) m.child.kill(signal);
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous last resort when this process exits mid-run (process.exit, uncaught error).
  process.on("exit", () => {
    for (const m of live) signalGroup(m, "SIGKILL");
  });
}

export class ProcessGroup {
  readonly members: Member[] = [];
  #stopping = false;
  #first: Member | undefined;
  #settle!: (o: GroupOutcome) => void;
  /** Resolves once every member has exited and its output has been forwarded. */
  readonly outcome: Promise<GroupOutcome> = new Promise((resolve) => (this.#settle = resolve));
  #closed = 0;
  readonly #forward: Forward;
  readonly #graceMs: number;

  constructor(forward: Forward, o: { graceMs?: number } = {}) {
    this.#forward = forward;
    this.#graceMs = o.graceMs ?? 3000;
    installExitHook();
  }

  /** Starts one member. Call for every member before awaiting `outcome`. */
  start(label: string, command: string, args: string[], env: NodeJS.ProcessEnv, meta: { rank?: number; node: number }): Member {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const m: Member = { label, node: meta.node, child, stderrTail: [], ...(meta.rank !== undefined ? { rank: meta.rank } : {}) };
    this.members.push(m);
    live.add(m);
    for (const stream of ["stdout", "stderr"] as const) {
      let partial = "";
      const emit = (line: string) => {
        if (stream === "stderr") {
          m.stderrTail.push(line);
          if (m.stderrTail.length > TAIL_LINES) m.stderrTail.shift();
        }
        this.#forward(m, stream, line);
      };
      child[stream]!.setEncoding("utf8");
      child[stream]!.on("data", (chunk: string) => {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop()!;
        lines.forEach(emit);
      });
      child[stream]!.on("end", () => {
        if (partial) emit(partial);
        partial = "";
      });
    }
    let drainTimer: NodeJS.Timeout | undefined;
    const onExit = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (m.exit) return;
      m.exit = { code, signal, time: Date.now(), ...(spawnError ? { spawnError } : {}) };
      live.delete(m);
      // Whatever the member started dies with it (a finished rank must not leave a trainer running).
      signalGroup(m, "SIGKILL");
      // A descendant that left the process group could hold the pipes open forever; stop waiting for it.
      drainTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, 2000);
      const failed = spawnError !== undefined || code !== 0;
      if (failed && !this.#stopping && !this.#first) {
        this.#first = m;
        void this.stop();
      }
    };
    let closed = false;
    const onClose = () => {
      if (closed) return;
      closed = true;
      clearTimeout(drainTimer);
      this.#onClose();
    };
    child.on("error", (e) => {
      onExit(null, null, e);
      onClose();
    });
    child.on("exit", (code, signal) => onExit(code, signal));
    child.on("close", onClose);
    return m;
  }

  #onClose(): void {
    if (++this.#closed < this.members.length) return;
    // A group stopped from outside (abort) has no first failure, but it did not succeed either.
    const failed = this.#first ?? this.members.find((m) => m.exit?.spawnError !== undefined || m.exit?.code !== 0);
    this.#settle(failed ? { ok: false, first: failed } : { ok: true });
  }

  /** SIGTERM every member's process group, SIGKILL what is left after the grace period; resolves when all exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const running = () => this.members.filter((m) => !m.exit);
    if (running().length === 0) return;
    running().forEach((m) => signalGroup(m, "SIGTERM"));
    const deadline = Date.now() + this.#graceMs;
    while (running().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    running().forEach((m) => signalGroup(m, "SIGKILL"));
    while (running().length) await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * SIGKILLs the processes among `pids` whose environment contains `marker` (e.g. `FLYTE_CLUSTERED_DIR=<dir>`):
 * ranks started by torchrun are not our children, and checking the environment guarantees that a pid the
 * system has meanwhile reused for an unrelated process is left alone. Needs /proc (Linux); elsewhere the
 * ranks' own owner watch is the safety net.
 */
export function killStrays(pids: readonly number[], marker: string): void {
  for (const pid of pids) {
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, "latin1");
      if (environ.split("\0").includes(marker)) process.kill(pid, "SIGKILL");
    } catch {
      // gone, not ours to read, or no /proc
    }
  }
}
