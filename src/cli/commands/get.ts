/** `flyte get runs|run|action|logs|io|config`: read recorded runs from the store. */
import { Command } from "commander";
import { stringify as toYaml } from "yaml";
import { ActionNotFoundError } from "../../errors.ts";
import { getRun } from "../../run/run.ts";
import { getRuntime } from "../../run/runtime.ts";
import type { ActionDetails } from "../../run/run-handle.ts";
import { ACTION_PHASES, type ActionPhase } from "../../store/store.ts";
import { openRuntime, type GlobalOptions } from "../context.ts";
import { UsageError } from "../load-task.ts";
import { resolveActionName } from "../resolve-action.ts";
import { formatDuration, formatValue, toJson } from "../render/format.ts";

function print(g: GlobalOptions, data: unknown, table: () => string): void {
  if (g.outputFormat === "json") process.stdout.write(`${toJson(data)}\n`);
  else if (g.outputFormat === "yaml") process.stdout.write(toYaml(JSON.parse(toJson(data))));
  else process.stdout.write(`${table()}\n`);
}

function columns(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

const dur = (a?: Date, b?: Date) => (a ? formatDuration((b ?? new Date()).getTime() - a.getTime()) : "");

function treeLines(a: ActionDetails, depth = 0, out: string[] = []): string[] {
  const tags = [a.cacheHit ? "cache hit" : "", a.recovered ? "recovered" : "", a.group ? `group ${a.group}` : "", a.attempts.length > 1 ? `${a.attempts.length} attempts` : ""]
    .filter(Boolean).join(", ");
  out.push(`${"  ".repeat(depth)}${a.phase.padEnd(10)} ${a.name.padEnd(26)} ${a.shortName} ${dur(a.startedAt, a.endedAt)}${tags ? ` [${tags}]` : ""}${a.error ? ` ${a.error.code}: ${a.error.message}` : ""}`);
  for (const c of a.children) treeLines(c, depth + 1, out);
  return out;
}

function findAction(a: ActionDetails, name: string): ActionDetails | undefined {
  if (a.name === name) return a;
  for (const c of a.children) {
    const f = findAction(c, name);
    if (f) return f;
  }
  return undefined;
}

export function registerGetCommands(program: Command): void {
  const get = program.command("get").description("Show recorded runs, actions, logs and values");

  get.command("runs").description("List runs, newest first")
    .option("--limit <n>", "how many", "20")
    .option("--phase <phase>", "only runs in this phase")
    .option("--task <name>", "only runs of tasks whose name contains this")
    .option("--with-label <k=v>", "only runs with this label")
    .action(async (o: { limit: string; phase?: string; task?: string; withLabel?: string }, cmd: Command) => {
      const g = await openRuntime(cmd);
      const rt = getRuntime();
      const eq = o.withLabel?.indexOf("=") ?? -1;
      if (o.withLabel !== undefined && eq <= 0) throw new UsageError(`--with-label expects k=v, got ${JSON.stringify(o.withLabel)}.`);
      const label = o.withLabel !== undefined ? ([o.withLabel.slice(0, eq), o.withLabel.slice(eq + 1)] as [string, string]) : undefined;
      if (o.phase !== undefined && !ACTION_PHASES.includes(o.phase as ActionPhase)) {
        throw new UsageError(`--phase must be one of ${ACTION_PHASES.join(", ")}, got ${JSON.stringify(o.phase)}.`);
      }
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit expects a whole number >= 1, got ${JSON.stringify(o.limit)}.`);
      const filtered = Boolean(o.phase || o.task || label);
      const rows = await rt.store.listRuns(rt.config, {
        limit, ...(o.phase ? { phase: o.phase as ActionPhase } : {}), ...(o.task ? { task: o.task } : {}), ...(label ? { label } : {}),
      });
      const data = rows.map((r) => ({ name: r.name, task: r.taskName, phase: r.phase, createdAt: new Date(r.createdAt).toISOString(), duration: r.startedAt ? formatDuration((r.endedAt ?? Date.now()) - r.startedAt) : "" }));
      print(g, data, () => (data.length ? columns([["NAME", "TASK", "PHASE", "CREATED", "DURATION"], ...data.map((d) => [d.name, d.task, d.phase, d.createdAt, d.duration])])
        : filtered ? "No runs match these filters. List all runs with: flyte get runs" : "No runs yet. Start one with: flyte run <file.ts> <task>"));
    });

  get.command("run").description("A run with its action tree")
    .argument("<name>")
    .option("--outputs", "also print the typed inputs and outputs")
    .action(async (name: string, o: { outputs?: boolean }, cmd: Command) => {
      const g = await openRuntime(cmd);
      const d = await (await getRun(name)).details();
      print(g, d, () => {
        const lines = [`Run ${d.name}  task ${d.taskName}  ${d.phase}  ${dur(d.startedAt, d.endedAt)}${d.recoverFrom ? `  recovered from ${d.recoverFrom}` : ""}`];
        if (d.error) lines.push(`Error: ${d.error.name} (${d.error.code}, ${d.error.kind}): ${d.error.message}`);
        if (o.outputs) lines.push(`Inputs: ${formatValue(d.inputs)}`, `Outputs: ${formatValue(d.outputs)}`);
        lines.push("", ...treeLines(d.root));
        return lines.join("\n");
      });
    });

  get.command("action").description("Actions of a run; with an action name its attempts, inputs, outputs and error")
    .argument("<run>").argument("[action]")
    .action(async (runName: string, action: string | undefined, _o: unknown, cmd: Command) => {
      const g = await openRuntime(cmd);
      const d = await (await getRun(runName)).details();
      if (!action) return print(g, d.root, () => treeLines(d.root).join("\n"));
      action = await resolveActionName(runName, action);
      const a = findAction(d.root, action);
      if (!a) throw new ActionNotFoundError(`Action "${action}" does not exist in run "${runName}". See: flyte get run ${runName}`);
      const io = await actionIo(runName, action);
      print(g, { ...a, children: a.children.map((c) => c.name), ...io }, () => [
        `Action ${a.name}  task ${a.taskName}  ${a.phase}${a.cacheHit ? "  (cache hit)" : ""}${a.recovered ? "  (recovered)" : ""}`,
        `Inputs: ${formatValue(io.inputs)}`, `Outputs: ${formatValue(io.outputs)}`,
        ...(io.interface ? [`Schema: ${JSON.stringify(io.interface)}`] : []),
        ...(a.error ? [`Error: ${a.error.name} (${a.error.code}): ${a.error.message}`, ...(a.error.stack ? [a.error.stack] : [])] : []),
        "Attempts:", ...a.attempts.map((t) => `  #${t.attempt} ${t.phase} ${dur(t.startedAt, t.endedAt)}${t.error ? ` ${t.error.code}: ${t.error.message}` : ""}`),
      ].join("\n"));
    });

  get.command("io").description("Inputs and outputs (of the run, or of one action) as JSON")
    .argument("<run>").argument("[action]")
    .action(async (runName: string, action: string | undefined, _o: unknown, cmd: Command) => {
      await openRuntime(cmd);
      const io = action ? await actionIo(runName, await resolveActionName(runName, action)) : await (await getRun(runName)).details().then((d) => ({ inputs: d.inputs, outputs: d.outputs }));
      process.stdout.write(`${toJson(io)}\n`);
    });

  get.command("logs").description("Captured console output of a run or one action")
    .argument("<run>").argument("[action]")
    .option("--attempt <n>", "only this attempt (0-based)")
    .option("-f, --follow", "keep printing until the run ends")
    .option("--raw", "messages only, without time and action")
    .action(async (runName: string, action: string | undefined, o: { attempt?: string; follow?: boolean; raw?: boolean }, cmd: Command) => {
      await openRuntime(cmd);
      const r = await getRun(runName);
      if (action !== undefined) action = await resolveActionName(runName, action);
      await r.showLogs({ ...(action ? { action } : {}), ...(o.attempt !== undefined ? { attempt: Number(o.attempt) } : {}), follow: Boolean(o.follow), raw: Boolean(o.raw) });
    });

  get.command("config").description("The effective configuration")
    .action(async (_o: unknown, cmd: Command) => {
      const g = await openRuntime(cmd);
      const c = getRuntime().config;
      print(g, c, () => toYaml(JSON.parse(toJson(c))).trimEnd());
    });
}

async function actionIo(runName: string, action: string): Promise<{ inputs: unknown; outputs: unknown; interface?: object }> {
  const { decodeStoredValue } = await import("../../types/stored-value.ts");
  const row = await getRuntime().store.getAction(runName, action);
  if (!row) throw new ActionNotFoundError(`Action "${action}" does not exist in run "${runName}". See: flyte get run ${runName}`);
  const dec = async (b: Uint8Array | null) => (b ? decodeStoredValue(b) : undefined);
  return { inputs: await dec(row.inputs), outputs: await dec(row.outputs), ...(row.interface ? { interface: row.interface } : {}) };
}
