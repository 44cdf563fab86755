/**
 * `flyte run <file> <task> [--<input> value ...]`: start a run in this process, show the live action tree,
 * print the outputs (or a one-paragraph error) and exit with the run's status.
 */
import { Command } from "commander";
import { withRunContext, type RunContextOptions, type TaskTemplate } from "../../index.ts";
import { cliIo, openRuntime, setExitCode } from "../context.ts";
import { EXIT } from "../errors.ts";
import { followRun } from "../follow-run.ts";
import { parseConcurrencyFlag, rejectProtoKeys, validateBeforeRun } from "../input-guards.ts";
import { inputSpecs, placeholder, type InputSpec } from "../inputs/input-specs.ts";
import { parseTaskInputs, resolveUntypedPaths, RUN_FLAGS } from "../inputs/parse-inputs.ts";
import { attachSignatures } from "../inputs/task-signatures.ts";
import { findTask, loadModule, taskList, tasksOf, UsageError } from "../load-task.ts";
import { formatValue } from "../render/format.ts";

function keyValues(list: string[] | undefined, flag: string, specs: InputSpec[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf("=");
    if (i <= 0) {
      const input = specs.find((s) => s.name === flag.slice(2));
      const hint = input ? ` The task has an input "${input.name}": pass it as --input ${input.name}=<value>.` : "";
      throw new UsageError(`${flag} expects KEY=VALUE, got ${JSON.stringify(kv)}.${hint}`);
    }
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

export function taskHelp(task: TaskTemplate, specs: InputSpec[]): string {
  const lines = [`Usage: flyte run <file> ${task.taskName} [inputs]`, "", `Task ${task.name}${task.docs.description ? `: ${task.docs.description}` : ""}`, "", "Inputs:"];
  if (specs.length === 0) lines.push("  (none)");
  for (const s of specs) {
    const value = `<${placeholder(s)}>`;
    const flag = RUN_FLAGS.has(s.name)
      ? `--input ${s.name}=${value}`
      : s.type === "boolean" && !s.enum ? `--${s.name} / --no-${s.name}` : `--${s.name} ${value}${s.type === "array" ? " ..." : ""}`;
    const notes = [s.required ? "required" : "optional"];
    if (s.default !== undefined) notes.push(`default: ${JSON.stringify(s.default)}`);
    else if (s.defaultText !== undefined) notes.push(`default: ${s.defaultText}`);
    if (s.type === "array") notes.push("repeat the flag or pass a JSON array");
    if (RUN_FLAGS.has(s.name)) notes.push(`--${s.name} is a flyte run flag`);
    lines.push(`  ${flag.padEnd(32)} (${notes.join("; ")})${s.description ? ` ${s.description}` : ""}`);
  }
  lines.push("", "Values are parsed by type; untyped inputs accept JSON (e.g. --cfg '{\"k\":1}') or plain strings.");
  return lines.join("\n");
}

export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("Run a task of a file on the embedded runtime and follow it")
    .argument("[file]", "TypeScript or JavaScript file defining the task")
    .argument("[task]", "task name, export name or FQN (env.task)")
    .option("--name <run>", "run name (default: generated)")
    .option("--inputs-file <file>", "JSON file with the inputs object")
    .option("--input <name=value...>", "an input by name (for inputs that collide with flags)")
    .option("--recover-from <run>", "reuse the succeeded actions of an earlier run")
    .option("--overwrite-cache", "execute cached tasks again and replace their entries")
    .option("--env <KEY=VALUE...>", "environment variable for every action")
    .option("--label <k=v...>", "label on the run")
    .option("--max-action-concurrency <n>", "actions running at once (0 = unlimited)")
    .option("--local", "run in this process (the default on the embedded backend)")
    .option("-f, --follow", "wait for the run, streaming its actions and logs (always on for local runs)")
    .option("--remote", "enqueue the run for the workers of the cluster backend (returns once queued, unless --follow)")
    .option("--queue <name>", "queue for the run's actions")
    .option("--raw-data-path <uri>", "where offloaded data and files of this run go")
    .option("--copy-style <style>", "code bundling: loaded_modules, all or none")
    .option("--dry-run", "validate the task, inputs and options, then stop without creating a run")
    .option("--isolate", "run each attempt in a fresh child process (memory limits, hard timeouts)")
    .option("-q, --quiet", "no live tree, plain progress lines")
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .helpOption(false)
    .option("-h, --help", "show help (with a task: its inputs)")
    .action(async (file: string | undefined, taskName: string | undefined, opts: Record<string, unknown>, cmd: Command) => {
      const io = cliIo(cmd);
      if (file === undefined) {
        if (opts.help) return void io.stdout.write(`${cmd.helpInformation()}\n`);
        throw new UsageError("flyte run needs a file and a task: flyte run <file> <task> [inputs]. See: flyte run --help");
      }
      const g = await openRuntime(cmd);
      const rest = cmd.args.slice(taskName === undefined ? 1 : 2);
      const mod = await loadModule(file);
      if (taskName === undefined) {
        // Like a command group without a subcommand: list what can be run; exit 2 unless it was asked for.
        if (opts.help) return void io.stdout.write(`${cmd.helpInformation()}\n${taskList(mod, file)}\n`);
        io.stderr.write(`error: no task named. ${taskList(mod, file)}\n`);
        return setExitCode(cmd, EXIT.usage);
      }
      const task = findTask(mod, file, taskName);
      // Schema-less tasks get their input types from their TypeScript signatures (cached by file content).
      await attachSignatures(task, tasksOf(mod).values(), (line) => io.stderr.write(line));
      const specs = inputSpecs(task);
      if (opts.help || rest.includes("--help") || rest.includes("-h")) {
        io.stdout.write(`${taskHelp(task, specs)}\n`);
        return;
      }
      rejectProtoKeys(rest, { input: opts.input as string[] | undefined, inputsFile: opts.inputsFile as string | undefined });
      const inputs = await parseTaskInputs(task, specs, rest, { input: opts.input as string[] | undefined, inputsFile: opts.inputsFile as string | undefined });
      await resolveUntypedPaths(specs, inputs);
      const ctxOpts: RunContextOptions = {
        envVars: keyValues(opts.env as string[] | undefined, "--env", specs),
        labels: keyValues(opts.label as string[] | undefined, "--label", specs),
      };
      if (opts.name) ctxOpts.name = opts.name as string;
      if (opts.recoverFrom) ctxOpts.recoverFrom = opts.recoverFrom as string;
      if (opts.overwriteCache) ctxOpts.overwriteCache = true;
      if (opts.isolate) ctxOpts.isolation = "process";
      if (opts.maxActionConcurrency !== undefined) ctxOpts.maxActionConcurrency = parseConcurrencyFlag(String(opts.maxActionConcurrency));
      if (opts.local && opts.remote) throw new UsageError("--local and --remote exclude each other: --local runs here, --remote on the workers. Pass one.");
      if (opts.remote) ctxOpts.mode = "remote";
      if (opts.local) ctxOpts.mode = "local";
      if (opts.queue) ctxOpts.queue = opts.queue as string;
      if (opts.rawDataPath) ctxOpts.rawDataPath = opts.rawDataPath as string;
      if (opts.copyStyle !== undefined) {
        const style = opts.copyStyle as string;
        if (!["loaded_modules", "all", "none"].includes(style)) throw new UsageError(`--copy-style must be loaded_modules, all or none, got ${JSON.stringify(style)}.`);
        ctxOpts.copyStyle = style as RunContextOptions["copyStyle"];
      }
      if (opts.dryRun) {
        const checked = await task.validateInputs(inputs);
        await withRunContext({ ...ctxOpts, dryRun: true }).run(task as TaskTemplate<unknown, unknown>, checked);
        io.stdout.write(`Dry run: task ${task.name} with inputs ${formatValue(checked)} is valid; no run was created.\n`);
        return;
      }
      // Invalid inputs are the caller's mistake: refuse them before a run is recorded.
      const valid = await validateBeforeRun(task, inputs);
      const r = await withRunContext(ctxOpts).run(task as TaskTemplate<unknown, unknown>, valid);
      io.stderr.write(`Run ${r.name} started${r.url ? ` (${r.url})` : ""}\n`);
      if (r.mode === "remote" && !opts.follow) {
        io.stderr.write(`It runs on the workers. Follow it with: flyte get logs ${r.name} --follow; see it with: flyte get run ${r.name}\n`);
        return;
      }
      setExitCode(cmd, await followRun(r, io, { quiet: Boolean(opts.quiet), json: g.outputFormat === "json" }));
    });
}
