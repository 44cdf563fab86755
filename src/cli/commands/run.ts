/**
 * `flyte run <file> <task> [--<input> value ...]` and `flyte recover <run>`: start a run in this process,
 * show the live action tree, print the outputs (or a one-paragraph error) and exit with the run's status.
 */
import { Command } from "commander";
import type { TaskTemplate } from "../../authoring/task-template.ts";
import { setLogEcho } from "../../internal/terminal-output.ts";
import { RunNotFoundError } from "../../errors.ts";
import { getRun, withRunContext, type RunContextOptions } from "../../run/run.ts";
import { getRuntime } from "../../run/runtime.ts";
import type { Run } from "../../run/run-handle.ts";
import { openRuntime } from "../context.ts";
import { EXIT } from "../errors.ts";
import { onStdoutClosed } from "../stdio.ts";
import { parseConcurrencyFlag, rejectProtoKeys, validateBeforeRun } from "../input-guards.ts";
import { inputSpecs, placeholder, type InputSpec } from "../inputs/input-specs.ts";
import { parseTaskInputs, resolveUntypedPaths, RUN_FLAGS } from "../inputs/parse-inputs.ts";
import { attachSignatures } from "../inputs/task-signatures.ts";
import { findTask, loadModule, taskList, tasksOf, UsageError } from "../load-task.ts";
import { ActionTree } from "../render/action-tree.ts";
import { color, formatDuration, formatValue, toJson } from "../render/format.ts";

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

/** Waits for a run while rendering it, then prints outputs or the error; returns the exit code. */
export async function followRun(r: Run, o: { quiet?: boolean; json?: boolean } = {}): Promise<number> {
  const tty = Boolean(process.stdout.isTTY) && !o.quiet;
  const tree = new ActionTree(tty);
  const off = getRuntime().controller.onActionEvent((e) => {
    if (e.run === r.name) tree.update(e);
  });
  setLogEcho((stream, label, line) => tree.log(label, line, stream));
  const t0 = Date.now();
  const onSigint = () => {
    void r.abort("interrupted (Ctrl-C)");
  };
  process.once("SIGINT", onSigint);
  // The reader of a piped stdout went away (`| head`): stop the run as Ctrl-C would, rather than leave it running unseen.
  const offClosed = onStdoutClosed(() => void r.abort("the reader of the CLI's output exited (closed pipe)"));
  try {
    const phase = await r.wait();
    tree.stop();
    const took = formatDuration(Date.now() - t0);
    const d = await r.details();
    const count = countLine(d.root);
    if (phase === "succeeded") {
      const out = await r.outputs();
      if (o.json) process.stdout.write(`${toJson({ run: r.name, phase, outputs: out })}\n`);
      else process.stdout.write(`${color(tty, "green", "✔")} Run ${r.name} succeeded in ${took}; ${count}\nOutputs: ${formatValue(out)}\n`);
      return EXIT.ok;
    }
    const failed = findFailed(d.root) ?? d.root;
    const err = d.error ?? failed.error;
    process.stderr.write(
      `${color(tty, "red", "✖")} Run ${r.name} ${phase} after ${took}; ${count}. ` +
        `Action ${failed.name} (${failed.taskName}) ${failed.phase}` +
        `${failed.attempts.length ? ` after ${failed.attempts.length} attempt${failed.attempts.length > 1 ? "s" : ""}` : ""}: ` +
        `${sentence(err ? `${err.name}${err.code !== err.name ? ` (${err.code})` : ""}: ${err.message}` : "no error recorded")} ` +
        `Logs: flyte get logs ${r.name} ${failed.name}; details: flyte get run ${r.name}; retry from here: flyte recover ${r.name}\n`,
    );
    return err?.kind === "system" ? EXIT.system : EXIT.user;
  } finally {
    offClosed();
    process.off("SIGINT", onSigint);
    off();
    setLogEcho(null);
  }
}

/** "41 actions (40 succeeded, 1 failed)": every action of the run, the root included. */
function countLine(root: Awaited<ReturnType<Run["details"]>>["root"]): string {
  const phases = new Map<string, number>();
  let total = 0;
  const walk = (a: typeof root): void => {
    total++;
    phases.set(a.phase, (phases.get(a.phase) ?? 0) + 1);
    a.children.forEach(walk);
  };
  walk(root);
  return `${total} action${total === 1 ? "" : "s"} (${[...phases].map(([p, n]) => `${n} ${p}`).join(", ")})`;
}

/** Ends a message with exactly one period (error messages usually bring their own). */
const sentence = (text: string): string => (/[.!?]$/.test(text.trimEnd()) ? text.trimEnd() : `${text.trimEnd()}.`);


function findFailed(a: Awaited<ReturnType<Run["details"]>>["root"]): typeof a | undefined {
  for (const c of a.children) {
    const f = findFailed(c);
    if (f) return f;
  }
  return a.phase === "failed" || a.phase === "timed_out" ? a : undefined;
}

export function registerRunCommands(program: Command): void {
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
    .option("--remote", "run on the cluster backend (not available in this version)")
    .option("--queue <name>", "queue for the run's actions")
    .option("--raw-data-path <uri>", "where offloaded data and files of this run go")
    .option("--copy-style <style>", "code bundling: loaded_modules, all or none")
    .option("--dry-run", "validate the task, inputs and options, then stop without creating a run")
    .option("-q, --quiet", "no live tree, plain progress lines")
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .helpOption(false)
    .option("-h, --help", "show help (with a task: its inputs)")
    .action(async (file: string | undefined, taskName: string | undefined, opts: Record<string, unknown>, cmd: Command) => {
      if (file === undefined) {
        if (opts.help) return void process.stdout.write(`${cmd.helpInformation()}\n`);
        throw new UsageError("flyte run needs a file and a task: flyte run <file> <task> [inputs]. See: flyte run --help");
      }
      const g = await openRuntime(cmd);
      const rest = cmd.args.slice(taskName === undefined ? 1 : 2);
      const mod = await loadModule(file);
      if (taskName === undefined) {
        // Like a command group without a subcommand: list what can be run; exit 2 unless it was asked for.
        if (opts.help) return void process.stdout.write(`${cmd.helpInformation()}\n${taskList(mod, file)}\n`);
        process.stderr.write(`error: no task named. ${taskList(mod, file)}\n`);
        return void (process.exitCode = EXIT.usage);
      }
      const task = findTask(mod, file, taskName);
      // Schema-less tasks get their input types from their TypeScript signatures (cached by file content).
      await attachSignatures(task, tasksOf(mod).values());
      const specs = inputSpecs(task);
      if (opts.help || rest.includes("--help") || rest.includes("-h")) {
        process.stdout.write(`${taskHelp(task, specs)}\n`);
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
      if (opts.maxActionConcurrency !== undefined) ctxOpts.maxActionConcurrency = parseConcurrencyFlag(String(opts.maxActionConcurrency));
      if (opts.remote) ctxOpts.mode = "remote";
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
        process.stdout.write(`Dry run: task ${task.name} with inputs ${formatValue(checked)} is valid; no run was created.\n`);
        return;
      }
      // Invalid inputs are the caller's mistake: refuse them before a run is recorded.
      const valid = await validateBeforeRun(task, inputs);
      const r = await withRunContext(ctxOpts).run(task as TaskTemplate<unknown, unknown>, valid);
      process.stderr.write(`Run ${r.name} started${r.url ? ` (${r.url})` : ""}\n`);
      process.exitCode = await followRun(r, { quiet: Boolean(opts.quiet), json: g.outputFormat === "json" });
    });

  program
    .command("recover")
    .description("Start a new run of a run's task and inputs, reusing its succeeded actions")
    .argument("<run>", "the run to recover")
    .option("--force-rerun <actions>", "comma-separated action names to execute again (with their descendants)")
    .option("--name <run>", "name of the new run")
    .option("-q, --quiet", "no live tree, plain progress lines")
    .action(async (runName: string, opts: { forceRerun?: string; name?: string; quiet?: boolean }, cmd: Command) => {
      const g = await openRuntime(cmd);
      const rt = getRuntime();
      const row = await rt.store.getRun({ project: rt.config.project, domain: rt.config.domain, name: runName });
      if (!row) throw new RunNotFoundError(`Run "${runName}" was not found. List runs with: flyte get runs`);
      if (!row.source?.file) {
        throw new UsageError(`Run "${runName}" does not record the file its task came from. Use: flyte run <file> ${row.taskName} --recover-from ${runName}`);
      }
      const mod = await loadModule(row.source.file);
      const task = findTask(mod, row.source.file, row.taskName);
      const options = row.options as { customContext?: Record<string, string>; envVars?: Record<string, string> };
      const ctxOpts: RunContextOptions = { recoverFrom: runName, customContext: options.customContext ?? {}, envVars: options.envVars ?? {} };
      if (opts.forceRerun) ctxOpts.forceRerunActions = opts.forceRerun.split(",").map((s) => s.trim()).filter(Boolean);
      if (opts.name) ctxOpts.name = opts.name;
      const r = await withRunContext(ctxOpts).run(task as TaskTemplate<unknown, unknown>, undefined);
      process.stderr.write(`Run ${r.name} started, recovering from ${runName}\n`);
      process.exitCode = await followRun(r, { quiet: Boolean(opts.quiet), json: g.outputFormat === "json" });
    });
}
