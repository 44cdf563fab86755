/** `flyte worker` processes for cluster tests: spawned as a user would start them, their output kept. */
import { spawn, type ChildProcess } from "node:child_process";
import { FLYTE_BIN } from "./runtime.ts";

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything it printed, stdout and stderr interleaved. */
  out: string[];
}

/** Spawns `flyte <args...>` in `cwd` with `env` added to this process's environment. */
export function spawnFlyteProcess(cwd: string, args: string[], env: Record<string, string>): WorkerProcess {
  const out: string[] = [];
  const child = spawn(process.execPath, [FLYTE_BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (d: Buffer) => out.push(d.toString()));
  child.stderr!.on("data", (d: Buffer) => out.push(d.toString()));
  return { child, out };
}

/** SIGTERMs every process and waits for each to exit. */
export async function stopProcesses(list: readonly WorkerProcess[]): Promise<void> {
  for (const w of list) w.child.kill("SIGTERM");
  await Promise.all(list.map((w) => new Promise((r) => (w.child.exitCode !== null ? r(null) : w.child.once("exit", r)))));
}
