/**
 * The `flyte` binary: builds the commander program; each verb lives in `commands/<verb>.ts` and only maps
 * flags onto the library. Exit codes: 0 success, 1 user error, 2 usage error, 3 system error.
 */
import { Command, CommanderError } from "commander";
import { shutdown } from "../run/runtime.ts";
import { version } from "../version.ts";
import { registerGetCommands } from "./commands/get.ts";
import { registerManageCommands } from "./commands/manage.ts";
import { registerRunCommands } from "./commands/run.ts";
import { EXIT, reportError } from "./errors.ts";
import { UsageError } from "./load-task.ts";
import { exitAfterFlush, guardPipes } from "./stdio.ts";

const OUTPUT_FORMATS = ["table", "json", "yaml"];

export function buildProgram(): Command {
  const program = new Command("flyte")
    .description("Author, run and inspect Flyte tasks written in TypeScript")
    .version(version)
    .option("--config <path>", "config file (default: .flyte/config.yaml walking up, then ~/.flyte/config.yaml)")
    .option("-v, --verbose", "more output (repeatable)", (_v: string, prev: number) => prev + 1, 0)
    .option("--output-format <format>", "table, json or yaml", "table")
    .option("--project <p>", "project")
    .option("--domain <d>", "domain")
    .showSuggestionAfterError(true)
    .exitOverride()
    .hook("preAction", (root) => {
      const format = root.opts<{ outputFormat: string }>().outputFormat;
      if (!OUTPUT_FORMATS.includes(format)) throw new UsageError(`--output-format must be table, json or yaml, got ${JSON.stringify(format)}.`);
    });
  registerRunCommands(program);
  registerGetCommands(program);
  registerManageCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const optional = [
    ["./commands/build.ts", "registerBuildCommand"],
    ["./commands/k8s.ts", "registerK8sCommand"],
  ] as const;
  for (const [path, fn] of optional) {
    try {
      const mod = (await import(path)) as Record<string, (p: Command) => void>;
      mod[fn]?.(program);
    } catch {
      // Command not available in this build.
    }
  }
  program.commands.forEach(function strict(c: Command) {
    c.exitOverride();
    c.commands.forEach(strict);
  });
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return reportError(e, (program.opts().verbose as number) > 0);
  } finally {
    await shutdown().catch(() => undefined);
  }
}

guardPipes();
const code = await main(process.argv);
// process.exit is still needed (open handles such as stdin would keep the process alive), but only once the
// output has drained: exiting earlier cuts piped output at the pipe buffer's size.
await exitAfterFlush(code);
