/**
 * Test helpers: a fresh embedded runtime in a temp dir, and the CLI spawned the way users run it.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { init } from "flyte-ts";

export const REPO = resolve(import.meta.dirname, "../..");
export const FLYTE_BIN = join(REPO, "bin/flyte.js");

/** Initialises flyte-ts on a new temp project root; returns the root (state in <root>/.flyte). */
export async function freshRuntime(prefix = "flyte-test-"): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), prefix));
  await init({ root });
  return root;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `flyte <args>` to completion with cwd = `cwd` (so the state dir is `<cwd>/.flyte`). */
export function flyte(cwd: string, args: string[], o: { input?: string; env?: Record<string, string> } = {}): CliResult {
  const r = spawnSync(process.execPath, [FLYTE_BIN, ...args], {
    cwd, encoding: "utf8", input: o.input, env: { ...process.env, FLYTE_CONFIG: "", ...o.env }, timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `flyte <args>` in the background. */
export function flyteAsync(cwd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [FLYTE_BIN, ...args], { cwd, env: { ...process.env, FLYTE_CONFIG: "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
}

export async function waitFor(cond: () => boolean, timeoutMs = 20_000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
