/**
 * The `flyte` program: `buildProgram()` builds the commander program (each verb lives in `commands/<verb>.ts`
 * and only maps flags onto the library), `main()` runs one invocation and returns its exit code, and
 * `runCli()` is what `bin/flyte.js` calls: `main()` on the process's own streams, then exit.
 * Importing this module starts nothing. Exit codes: 0 success, 1 user error, 2 usage error, 3 system error.
 */
import { Command, CommanderError } from "commander";
import { shutdown } from "../run/runtime.ts";
import { version } from "../index.ts";
import { registerAbortCommand } from "./commands/abort.ts";
import { registerBuildCommand } from "./commands/build.ts";
import { registerCacheCommand } from "./commands/cache.ts";
import { registerDeleteCommand } from "./commands/delete.ts";
import { registerClusteredCommand } from "./commands/clustered.ts";
import { registerDeployCommand } from "./commands/deploy.ts";
import { registerDevCommand } from "./commands/dev.ts";
import { registerGenCommand } from "./commands/gen.ts";
import { registerGetCommand } from "./commands/get.ts";
import { registerK8sCommand } from "./commands/k8s.ts";
import { registerRecoverCommand } from "./commands/recover.ts";
import { registerRunCommand } from "./commands/run.ts";
import { registerSecretCommand } from "./commands/secret.ts";
import { registerServeCommand } from "./commands/serve.ts";
import { registerUiCommand } from "./commands/ui.ts";
import { registerUpdateCommand } from "./commands/update.ts";
import { registerWorkerCommand } from "./commands/worker.ts";
import { attachIo, exitCodeOf, processIo, type CliIo } from "./context.ts";
import { EXIT, reportError } from "./errors.ts";
import { UsageError } from "./load-task.ts";
import { exitAfterFlush, guardPipes } from "./stdio.ts";

const OUTPUT_FORMATS = ["table", "json", "yaml"];

/** The whole `flyte` program, writing to `io` (the process's streams by default). */
export function buildProgram(io: CliIo = processIo()): Command {
  const program = new Command("flyte")
    .description("Author, run and inspect Flyte tasks written in TypeScript")
    // Only -V here: `--version` is also an option of `flyte deploy`, and commander gives a root option precedence
    // wherever it appears. `flyte --version` (before any command) is answered by main().
    .version(version, "-V", "output the version number (also --version before a command)")
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
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
  attachIo(program, io);
  for (const register of [
    registerRunCommand, registerRecoverCommand, registerGetCommand, registerAbortCommand, registerCacheCommand,
    registerSecretCommand, registerGenCommand, registerBuildCommand, registerDeployCommand, registerK8sCommand, registerUiCommand, registerWorkerCommand,
    registerDevCommand, registerServeCommand, registerUpdateCommand, registerDeleteCommand, registerClusteredCommand,
  ]) register(program);
  // Every subcommand reports parse errors by throwing (to main) instead of exiting the process.
  program.commands.forEach(function strict(c: Command) {
    c.exitOverride();
    c.commands.forEach(strict);
  });
  return program;
}

/** Whether `--version` comes before the command (root options that take a value are skipped with it). */
function rootAsksVersion(args: string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--version") return true;
    if (["--config", "--output-format", "--project", "--domain"].includes(a)) i++;
    else if (!a.startsWith("-")) return false;
  }
  return false;
}

/** Runs `flyte <argv...>` (argv as in `process.argv`: node, script, args) and returns its exit code. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const program = buildProgram(io);
  if (rootAsksVersion(argv.slice(2))) {
    io.stdout.write(`${version}\n`);
    return EXIT.ok;
  }
  try {
    await program.parseAsync(argv);
    return exitCodeOf(program) ?? EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return reportError(e, (program.opts().verbose as number) > 0, io.stderr);
  } finally {
    await shutdown().catch(() => undefined);
  }
}

/** The `flyte` binary: runs `main()` on the process's streams, then exits once its output has drained. */
export async function runCli(argv: string[] = process.argv): Promise<never> {
  guardPipes();
  const code = await main(argv);
  // process.exit is still needed (open handles such as stdin would keep the process alive), but only once the
  // output has drained: exiting earlier cuts piped output at the pipe buffer's size.
  return await exitAfterFlush(code);
}
