/**
 * The `flyte` program run in-process, through `main()` with captured streams: what a test of CLI behaviour
 * uses unless it needs a real process (pipes, signals, exit on a broken pipe, two processes at once).
 */
import { Readable } from "node:stream";
import { main } from "../../src/cli/main.ts";
import type { CliIo } from "../../src/cli/context.ts";
import type { CliResult } from "./runtime.ts";

/** Runs `flyte <args>` in this process with cwd = `cwd` and `env` added to the environment, capturing its output. */
export async function flyteIn(cwd: string, args: string[], o: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (s) => void (stdout += s), isTTY: false },
    stderr: { write: (s) => void (stderr += s), isTTY: false },
    stdin: Object.assign(Readable.from(o.input === undefined ? [] : [Buffer.from(o.input)]), { isTTY: false }),
  };
  const env: Record<string, string> = { FLYTE_CONFIG: "", ...o.env };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const previousCwd = process.cwd();
  Object.assign(process.env, env);
  process.chdir(cwd);
  try {
    const code = await main(["node", "flyte", ...args], io);
    return { code, stdout, stderr };
  } finally {
    process.chdir(previousCwd);
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
