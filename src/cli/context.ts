/**
 * What every command shares: the global options, the runtime they select, and the streams and exit code of
 * this invocation. The streams are the process's own when the `flyte` binary runs, and strings captured by
 * the caller when a test runs the program in-process (see `buildProgram`).
 */
import type { Command } from "commander";
import { initFromConfig } from "../run/runtime.ts";

export interface GlobalOptions {
  config?: string;
  verbose: number;
  outputFormat: "table" | "json" | "yaml";
  project?: string;
  domain?: string;
}

/** An output stream of the CLI: text goes to `write`; `isTTY` decides between the live view and plain lines. */
export interface CliOutput {
  write(text: string): void;
  readonly isTTY: boolean;
}

/** The streams one invocation reads and writes. */
export interface CliIo {
  stdout: CliOutput;
  stderr: CliOutput;
  /** Where `secret create` reads a value from when no flag gives it. */
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

/** The process's own streams. */
export function processIo(): CliIo {
  return {
    stdout: { write: (s) => void process.stdout.write(s), get isTTY() { return process.stdout.isTTY === true; } },
    stderr: { write: (s) => void process.stderr.write(s), get isTTY() { return process.stderr.isTTY === true; } },
    stdin: process.stdin,
  };
}

interface Invocation {
  io: CliIo;
  exitCode?: number;
}

const invocations = new WeakMap<Command, Invocation>();

function root(cmd: Command): Command {
  let r = cmd;
  while (r.parent) r = r.parent;
  return r;
}

/** @internal Ties `io` to a freshly built program. */
export function attachIo(program: Command, io: CliIo): void {
  invocations.set(program, { io });
}

/** The streams of the invocation `cmd` belongs to. */
export function cliIo(cmd: Command): CliIo {
  return invocations.get(root(cmd))?.io ?? processIo();
}

/** Sets the exit code the invocation ends with (when no error ends it first). */
export function setExitCode(cmd: Command, code: number): void {
  const inv = invocations.get(root(cmd));
  if (inv) inv.exitCode = code;
}

/** @internal The exit code a command set, if any. */
export function exitCodeOf(program: Command): number | undefined {
  return invocations.get(program)?.exitCode;
}

export function globals(cmd: Command): GlobalOptions {
  return root(cmd).opts<GlobalOptions>();
}

/** Opens the store selected by --config / env / config file (reaping runs whose owner died). */
export async function openRuntime(cmd: Command): Promise<GlobalOptions> {
  const g = globals(cmd);
  await initFromConfig(g.config, { ...(g.project ? { project: g.project } : {}), ...(g.domain ? { domain: g.domain } : {}) });
  return g;
}
