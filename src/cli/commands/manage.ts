/** `flyte abort`, `flyte cache clear`, `flyte secret create|get|delete`, `flyte gen config`. */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { isTerminal } from "../../store/store.ts";
import { getRun } from "../../run/run.ts";
import { getRuntime } from "../../run/runtime.ts";
import { starterConfig } from "../../run/config.ts";
import { describeSecret } from "../../secrets/secret-store.ts";
import { SecretNotFoundError } from "../../errors.ts";
import { openRuntime } from "../context.ts";
import { EXIT } from "../errors.ts";
import { UsageError } from "../load-task.ts";
import { confirm, promptHidden } from "../prompt.ts";
import { toJson } from "../render/format.ts";

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

export function registerManageCommands(program: Command): void {
  program.command("abort").description("Abort a running run (also accepted as flyte-sdk's `flyte abort run <run>`)")
    .argument("<run>")
    .argument("[name]", "with `run` as the first argument: the run to abort")
    .option("--reason <text>", "why", "aborted from the CLI")
    .action(async (first: string, second: string | undefined, o: { reason: string }, cmd: Command) => {
      if (second !== undefined && first !== "run") throw new UsageError(`flyte abort takes one run name, got "${first}" and "${second}". Use: flyte abort <run> (or flyte abort run <run>).`);
      const name = second ?? first;
      await openRuntime(cmd);
      const r = await getRun(name);
      const phase = await r.phase();
      if (isTerminal(phase)) {
        process.stdout.write(`Run ${name} already ended (${phase}); nothing to abort.\n`);
        return;
      }
      await r.abort(o.reason);
      const rt = getRuntime();
      const end = await rt.controller.waitRun({ project: rt.config.project, domain: rt.config.domain, name }, 15_000);
      process.stdout.write(isTerminal(end) ? `Run ${name} ${end}.\n` : `Abort requested for run ${name}; its process will stop it at its next heartbeat.\n`);
    });

  const cache = program.command("cache").description("Manage the task cache");
  cache.command("clear").description("Delete cache entries (all, or one task's)")
    .option("--task <fqn>", "only entries of this task (env.task)")
    .option("--yes", "do not ask for confirmation")
    .action(async (o: { task?: string; yes?: boolean }, cmd: Command) => {
      await openRuntime(cmd);
      if (!o.yes) {
        // Without a terminal nobody can answer the question: deleting anyway would be a silent default.
        if (!process.stdin.isTTY) throw new UsageError("cache clear asks for confirmation, but stdin is not a terminal. Pass --yes to delete without asking.");
        if (!(await confirm(`Delete ${o.task ? `cache entries of ${o.task}` : "all cache entries"}?`))) return void process.stdout.write("Nothing deleted.\n");
      }
      const n = await getRuntime().store.clearCache(o.task);
      process.stdout.write(`Deleted ${n} cache entr${n === 1 ? "y" : "ies"}${o.task ? ` of ${o.task}` : ""}.\n`);
    });

  const secret = program.command("secret").description("Manage secrets in the local secret store");
  secret.command("create").description("Store a secret (value from --value, --from-file or stdin)")
    .argument("<key>")
    .option("--group <g>", "secret group")
    .option("--value <v>", "the value")
    .option("--from-file <f>", "read the value from a file")
    .action(async (key: string, o: { group?: string; value?: string; fromFile?: string }, cmd: Command) => {
      await openRuntime(cmd);
      if (o.value !== undefined && o.fromFile) throw new UsageError("Give either --value or --from-file, not both.");
      const ref = o.group ? { key, group: o.group } : { key };
      let value: string | undefined;
      if (o.value !== undefined) value = o.value;
      // One trailing newline (every editor adds it) is not part of the value, as with --value and stdin.
      else if (o.fromFile) value = readFileSync(o.fromFile, "utf8").replace(/\r?\n$/, "");
      else if (process.stdin.isTTY) {
        value = await promptHidden(`Value for secret ${describeSecret(ref)} (input is hidden): `);
        if (value === undefined) {
          process.stderr.write("Cancelled; no secret stored.\n");
          return void (process.exitCode = EXIT.user);
        }
      } else value = await readStdin();
      if (value === "") throw new UsageError(`The value of secret ${describeSecret(ref)} is empty; nothing stored. Give it with --value, --from-file, on stdin or at the prompt.`);
      getRuntime().secrets.set(ref, value);
      process.stdout.write(`Secret ${describeSecret(ref)} stored.\n`);
    });
  secret.command("get").description("List secrets, or show one's metadata (never the value)")
    .argument("[key]")
    .option("--group <g>", "secret group")
    .action(async (key: string | undefined, o: { group?: string }, cmd: Command) => {
      const g = await openRuntime(cmd);
      const list = getRuntime().secrets.list().filter((s) => (key ? s.key === key && s.group === o.group : true));
      if (key && list.length === 0) throw new SecretNotFoundError(`Secret "${describeSecret(o.group ? { key, group: o.group } : { key })}" does not exist. Create it with: flyte secret create ${key}`);
      const data = list.map((s) => ({ key: s.key, group: s.group ?? "", updatedAt: s.updatedAt.toISOString() }));
      if (g.outputFormat === "json") process.stdout.write(`${toJson(data)}\n`);
      else process.stdout.write(data.length ? `${data.map((d) => `${(d.group ? `${d.group}/` : "") + d.key}  updated ${d.updatedAt}`).join("\n")}\n` : "No secrets.\n");
    });
  secret.command("delete").description("Delete a secret")
    .argument("<key>")
    .option("--group <g>", "secret group")
    .action(async (key: string, o: { group?: string }, cmd: Command) => {
      await openRuntime(cmd);
      const ref = o.group ? { key, group: o.group } : { key };
      if (!getRuntime().secrets.delete(ref)) throw new SecretNotFoundError(`Secret "${describeSecret(ref)}" does not exist; nothing deleted.`);
      process.stdout.write(`Secret ${describeSecret(ref)} deleted.\n`);
    });

  program.command("gen").description("Generate files").command("config").description("Write a starter .flyte/config.yaml")
    .option("--backend <b>", "embedded or cluster", "embedded")
    .option("--force", "overwrite an existing file")
    .action((o: { backend: string; force?: boolean }) => {
      if (o.backend !== "embedded" && o.backend !== "cluster") throw new UsageError(`--backend must be embedded or cluster, got ${JSON.stringify(o.backend)}.`);
      const file = join(".flyte", "config.yaml");
      if (existsSync(file) && !o.force) throw new UsageError(`${file} already exists. Pass --force to overwrite it.`);
      mkdirSync(".flyte", { recursive: true });
      writeFileSync(file, starterConfig(o.backend));
      const gi = ".gitignore";
      if (!existsSync(gi) || !readFileSync(gi, "utf8").split("\n").includes(".flyte/")) appendFileSync(gi, `${existsSync(gi) && !readFileSync(gi, "utf8").endsWith("\n") ? "\n" : ""}.flyte/\n`);
      process.stdout.write(`Wrote ${file} (and added .flyte/ to .gitignore).\n`);
    });
}
