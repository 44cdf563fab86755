/** `flyte get runs|run|action|logs|io|tasks|config`: read recorded runs and deployed tasks from the store. */
import { Command } from "commander";
import { stringify as toYaml } from "yaml";
import { ACTION_PHASES, getRun, listDeployedTriggers, listWorkers, listDeployedTasks, listRuns, type ActionDetails, type ActionPhase } from "../../index.ts";
import { ValidationError } from "../../errors.ts";
import { closest } from "../suggest.ts";
import { RemoteTaskNotFoundError } from "../../errors.ts";
import { formatLogLine } from "../../run/run-handle.ts";
import { getRuntime } from "../../run/runtime.ts";
import { cliIo, openRuntime, type CliOutput, type GlobalOptions } from "../context.ts";
import { UsageError } from "../load-task.ts";
import { resolveAction } from "../resolve-action.ts";
import { formatDuration, formatValue, toJson } from "../render/format.ts";

function print(out: CliOutput, g: GlobalOptions, data: unknown, table: () => string): void {
  if (g.outputFormat === "json") out.write(`${toJson(data)}\n`);
  else if (g.outputFormat === "yaml") out.write(toYaml(JSON.parse(toJson(data))));
  else out.write(`${table()}\n`);
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

export function registerGetCommand(program: Command): void {
  const get = program.command("get").description("Show recorded runs, actions, logs and values");

  get.command("runs").description("List runs, newest first")
    .option("--limit <n>", "how many", "20")
    .option("--phase <phase>", "only runs in this phase")
    .option("--task <name>", "only runs of tasks whose name contains this")
    .option("--with-label <k=v>", "only runs with this label")
    .action(async (o: { limit: string; phase?: string; task?: string; withLabel?: string }, cmd: Command) => {
      const g = await openRuntime(cmd);
      const eq = o.withLabel?.indexOf("=") ?? -1;
      if (o.withLabel !== undefined && eq <= 0) throw new UsageError(`--with-label expects k=v, got ${JSON.stringify(o.withLabel)}.`);
      const label = o.withLabel !== undefined ? ([o.withLabel.slice(0, eq), o.withLabel.slice(eq + 1)] as [string, string]) : undefined;
      if (o.phase !== undefined && !ACTION_PHASES.includes(o.phase as ActionPhase)) {
        throw new UsageError(`--phase must be one of ${ACTION_PHASES.join(", ")}, got ${JSON.stringify(o.phase)}.`);
      }
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit expects a whole number >= 1, got ${JSON.stringify(o.limit)}.`);
      const filtered = Boolean(o.phase || o.task || label);
      const runs = await listRuns({
        limit, ...(o.phase ? { phase: o.phase as ActionPhase } : {}), ...(o.task ? { task: o.task } : {}), ...(label ? { label } : {}),
      });
      const data = runs.map((r) => ({
        name: r.name, task: r.taskName, phase: r.phase, createdAt: r.createdAt.toISOString(), duration: dur(r.startedAt, r.endedAt),
        ...(r.trigger ? { trigger: r.trigger.name } : {}),
      }));
      // A TRIGGER column only when a run listed was started by one (flyte serve).
      const triggered = data.some((d) => d.trigger !== undefined);
      const head = ["NAME", "TASK", "PHASE", "CREATED", "DURATION", ...(triggered ? ["TRIGGER"] : [])];
      print(cliIo(cmd).stdout, g, data, () => (data.length ? columns([head, ...data.map((d) => [d.name, d.task, d.phase, d.createdAt, d.duration, ...(triggered ? [d.trigger ?? ""] : [])])])
        : filtered ? "No runs match these filters. List all runs with: flyte get runs" : "No runs yet. Start one with: flyte run <file.ts> <task>"));
    });

  get.command("run").description("A run with its action tree")
    .argument("<name>")
    .option("--outputs", "also print the typed inputs and outputs")
    .action(async (name: string, o: { outputs?: boolean }, cmd: Command) => {
      const g = await openRuntime(cmd);
      const d = await (await getRun(name)).details();
      print(cliIo(cmd).stdout, g, d, () => {
        const lines = [`Run ${d.name}  task ${d.taskName}  ${d.phase}  ${dur(d.startedAt, d.endedAt)}${d.recoverFrom ? `  recovered from ${d.recoverFrom}` : ""}${d.trigger ? `  trigger ${d.trigger.name} (fire time ${d.trigger.fireTime.toISOString()})` : ""}`];
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
      const out = cliIo(cmd).stdout;
      const r = await getRun(runName);
      const d = await r.details();
      if (!action) return print(out, g, d.root, () => treeLines(d.root).join("\n"));
      const a = resolveAction(runName, d.root, action);
      const io = await (await r.action(a.name)).io();
      print(out, g, { ...a, children: a.children.map((c) => c.name), ...io }, () => [
        `Action ${a.name}  task ${a.taskName}  ${a.phase}${a.cacheHit ? "  (cache hit)" : ""}${a.recovered ? "  (recovered)" : ""}`,
        `Inputs: ${formatValue(io.inputs)}`, `Outputs: ${formatValue(io.outputs)}`,
        ...(io.interface ? [`Schema: ${JSON.stringify(io.interface)}`] : []),
        ...(a.resources ? [`Resources: ${resourcesText(a.resources)}`] : []),
        ...(a.error ? [`Error: ${a.error.name} (${a.error.code}): ${a.error.message}`, ...(a.error.stack ? [a.error.stack] : [])] : []),
        "Attempts:", ...a.attempts.map((t) => `  #${t.attempt} ${t.phase} ${dur(t.startedAt, t.endedAt)}${t.error ? ` ${t.error.code}: ${t.error.message}` : ""}`),
      ].join("\n"));
    });

  get.command("io").description("Inputs and outputs (of the run, or of one action) as JSON")
    .argument("<run>").argument("[action]")
    .action(async (runName: string, action: string | undefined, _o: unknown, cmd: Command) => {
      await openRuntime(cmd);
      const r = await getRun(runName);
      const d = await r.details();
      const io = action ? await (await r.action(resolveAction(runName, d.root, action).name)).io() : { inputs: d.inputs, outputs: d.outputs };
      cliIo(cmd).stdout.write(`${toJson(io)}\n`);
    });

  get.command("logs").description("Captured console output of a run or one action")
    .argument("<run>").argument("[action]")
    .option("--attempt <n>", "only this attempt (0-based)")
    .option("-f, --follow", "keep printing until the run ends")
    .option("--raw", "messages only, without time and action")
    .action(async (runName: string, action: string | undefined, o: { attempt?: string; follow?: boolean; raw?: boolean }, cmd: Command) => {
      await openRuntime(cmd);
      const out = cliIo(cmd).stdout;
      const r = await getRun(runName);
      if (action !== undefined) action = resolveAction(runName, (await r.details()).root, action).name;
      const lines = r.logs({ ...(action ? { action } : {}), ...(o.attempt !== undefined ? { attempt: Number(o.attempt) } : {}), follow: Boolean(o.follow) });
      for await (const l of lines) out.write(formatLogLine(l, o));
    });

  get.command("tasks").description("Deployed tasks: the latest version of each, or with a name every version of that task")
    .argument("[name]", "a task name (env.task, or the bare task name when it is unique)")
    .option("--limit <n>", "at most this many")
    .action(async (name: string | undefined, o: { limit?: string }, cmd: Command) => {
      const g = await openRuntime(cmd);
      const limit = o.limit === undefined ? undefined : Number(o.limit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new UsageError(`--limit expects a whole number >= 1, got ${JSON.stringify(o.limit)}.`);
      const out = cliIo(cmd).stdout;
      const row = (t: { name: string; version: string; environment: string; image: string; deployedAt: Date }) =>
        ({ name: t.name, version: t.version, environment: t.environment, image: t.image, deployedAt: t.deployedAt.toISOString() });
      if (name === undefined) {
        const tasks = (await listDeployedTasks(limit ? { limit } : {})).map(row);
        return print(out, g, tasks, () => (tasks.length
          ? columns([["NAME", "VERSION", "ENVIRONMENT", "IMAGE", "DEPLOYED"], ...tasks.map((t) => [t.name, t.version, t.environment, t.image, t.deployedAt])])
          : "No tasks deployed yet. Deploy some with: flyte deploy <file.ts>"));
      }
      let versions = await listDeployedTasks({ name, ...(limit ? { limit } : {}) });
      if (versions.length === 0 && !name.includes(".")) {
        // A bare task name: the deployed task of that name, when only one environment has one.
        const matches = (await listDeployedTasks()).filter((t) => t.name.endsWith(`.${name}`));
        if (matches.length > 1) throw new UsageError(`Task name "${name}" is ambiguous: ${matches.map((t) => t.name).join(", ")}. Use the full name (env.task).`);
        if (matches.length === 1) versions = await listDeployedTasks({ name: matches[0]!.name, ...(limit ? { limit } : {}) });
      }
      if (versions.length === 0) {
        const known = (await listDeployedTasks()).map((t) => t.name);
        throw new RemoteTaskNotFoundError(
          `Task "${name}" is not deployed in ${g.project ?? getRuntime().config.project}/${g.domain ?? getRuntime().config.domain}. ${known.length ? `Deployed tasks: ${known.join(", ")}.` : "No task is deployed there yet: deploy it with flyte deploy <file.ts>."}`,
        );
      }
      const data = versions.map(row);
      print(out, g, data, () => columns([["VERSION", "DEPLOYED", "ENVIRONMENT", "IMAGE", ""], ...data.map((t, i) => [t.version, t.deployedAt, t.environment, t.image, i === 0 ? "latest" : ""])]));
    });

  get.command("triggers").description("Deployed triggers: schedule, time zone, active, last and next fire, the last fire's run and its phase")
    .argument("[task]", "only the triggers of this task (env.task)")
    .action(async (task: string | undefined, _o: unknown, cmd: Command) => {
      const g = await openRuntime(cmd);
      const triggers = await listDeployedTriggers(task !== undefined ? { task } : {});
      if (task !== undefined && triggers.length === 0) {
        const tasks = [...new Set((await listDeployedTriggers()).map((t) => t.task))];
        const guess = closest(task, tasks);
        throw new ValidationError(
          `No trigger is deployed on task "${task}".${guess ? ` Did you mean "${guess}"?` : ""} ${tasks.length ? `Tasks with triggers: ${tasks.join(", ")}.` : "No task has triggers deployed: deploy some with flyte deploy <file.ts>."}`,
        );
      }
      const iso = (d?: Date) => d?.toISOString() ?? "";
      const data = triggers.map((t) => ({
        name: t.name, task: t.task, schedule: t.schedule, timezone: t.timezone, active: t.active, version: t.version,
        lastFire: iso(t.lastFire?.time), nextFire: iso(t.nextFire), lastRun: t.lastFire?.run ?? "",
        lastPhase: t.lastFire ? (t.lastFire.phase ?? (t.lastFire.state === "failed" ? `not created: ${t.lastFire.error ?? ""}` : t.lastFire.state)) : "",
      }));
      print(cliIo(cmd).stdout, g, data, () => (data.length
        ? columns([["NAME", "TASK", "SCHEDULE", "TZ", "ACTIVE", "LAST FIRE", "NEXT FIRE", "LAST RUN", "PHASE"],
          ...data.map((t) => [t.name, t.task, t.schedule, t.timezone, t.active ? "yes" : "no", t.lastFire || "-", t.nextFire || "-", t.lastRun || "-", t.lastPhase || "-"])])
        : "No triggers deployed yet. Attach some to a task (env.task({ triggers: Trigger.hourly() }, ...)) and deploy it with: flyte deploy <file.ts>"));
    });

  get.command("workers").description("Workers of the cluster backend: environments, queue, pid/host, concurrency, running attempts, last heartbeat, warm pools")
    .action(async (_o: unknown, cmd: Command) => {
      const g = await openRuntime(cmd);
      const out = cliIo(cmd).stdout;
      const data = (await listWorkers()).map((w) => ({ ...w, startedAt: w.startedAt.toISOString(), heartbeatAt: w.heartbeatAt.toISOString() }));
      print(out, g, data, () => (data.length
        ? columns([["ID", "ENVS", "QUEUE", "HOST", "PID", "CONCURRENCY", "RUNNING", "HEARTBEAT", "WARM POOLS"],
          ...data.map((w) => [w.id, w.envs.join(","), w.queue ?? "", w.host, String(w.pid), String(w.concurrency), String(w.running), w.heartbeatAt,
            // "env: replicas (+starting), running/capacity busy, waiting"
            (w.pools ?? []).map((p) => `${p.env}: ${p.replicas}${p.starting ? `+${p.starting}` : ""} replicas, ${p.running}/${p.capacity} busy${p.waiting ? `, ${p.waiting} waiting` : ""}`).join("; ")])])
        : "No workers are running. Start one with: flyte worker --env <name>"));
    });

  get.command("config").description("The effective configuration")
    .action(async (_o: unknown, cmd: Command) => {
      const g = await openRuntime(cmd);
      const c = getRuntime().config;
      print(cliIo(cmd).stdout, g, c, () => toYaml(JSON.parse(toJson(c))).trimEnd());
    });
}

/** "cpu 1-2, memory 1Gi, gpu A100:1 (1g.5gb)": what an action asked for, as `Resources` options read. */
function resourcesText(r: Record<string, unknown>): string {
  const one = (v: unknown): string => {
    if (Array.isArray(v)) return v.map(String).join("-");
    if (v && typeof v === "object") {
      const g = v as { device?: string; quantity?: number; deviceClass?: string; partition?: string };
      return `${g.device ?? g.deviceClass}:${g.quantity}${g.partition ? ` (${g.partition})` : ""}`;
    }
    return String(v);
  };
  return Object.entries(r).map(([k, v]) => `${k} ${one(v)}`).join(", ");
}
