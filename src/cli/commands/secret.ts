/** `flyte secret create|get|delete`: manage secrets in the configured secret store (values are never printed). */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { SecretNotFoundError } from "../../errors.ts";
import { getRuntime } from "../../run/runtime.ts";
import { describeSecret } from "../../secrets/secret-store.ts";
import { cliIo, openRuntime, setExitCode } from "../context.ts";
import { EXIT } from "../errors.ts";
import { UsageError } from "../load-task.ts";
import { promptHidden } from "../prompt.ts";
import { toJson } from "../render/format.ts";

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

export function registerSecretCommand(program: Command): void {
  const secret = program.command("secret").description("Manage secrets in the local secret store");
  secret.command("create").description("Store a secret (value from --value, --from-file or stdin)")
    .argument("<key>")
    .option("--group <g>", "secret group")
    .option("--value <v>", "the value")
    .option("--from-file <f>", "read the value from a file")
    .action(async (key: string, o: { group?: string; value?: string; fromFile?: string }, cmd: Command) => {
      await openRuntime(cmd);
      const io = cliIo(cmd);
      if (o.value !== undefined && o.fromFile) throw new UsageError("Give either --value or --from-file, not both.");
      const ref = o.group ? { key, group: o.group } : { key };
      let value: string | undefined;
      if (o.value !== undefined) value = o.value;
      // One trailing newline (every editor adds it) is not part of the value, as with --value and stdin.
      else if (o.fromFile) value = readFileSync(o.fromFile, "utf8").replace(/\r?\n$/, "");
      else if (io.stdin.isTTY) {
        value = await promptHidden(`Value for secret ${describeSecret(ref)} (input is hidden): `);
        if (value === undefined) {
          io.stderr.write("Cancelled; no secret stored.\n");
          return setExitCode(cmd, EXIT.user);
        }
      } else value = await readAll(io.stdin);
      if (value === "") throw new UsageError(`The value of secret ${describeSecret(ref)} is empty; nothing stored. Give it with --value, --from-file, on stdin or at the prompt.`);
      getRuntime().secrets.set(ref, value);
      io.stdout.write(`Secret ${describeSecret(ref)} stored.\n`);
    });
  secret.command("get").description("List secrets, or show one's metadata (never the value)")
    .argument("[key]")
    .option("--group <g>", "secret group")
    .action(async (key: string | undefined, o: { group?: string }, cmd: Command) => {
      const g = await openRuntime(cmd);
      const out = cliIo(cmd).stdout;
      const list = getRuntime().secrets.list().filter((s) => (key ? s.key === key && s.group === o.group : true));
      if (key && list.length === 0) throw new SecretNotFoundError(`Secret "${describeSecret(o.group ? { key, group: o.group } : { key })}" does not exist. Create it with: flyte secret create ${key}`);
      const data = list.map((s) => ({ key: s.key, group: s.group ?? "", updatedAt: s.updatedAt.toISOString() }));
      if (g.outputFormat === "json") out.write(`${toJson(data)}\n`);
      else out.write(data.length ? `${data.map((d) => `${(d.group ? `${d.group}/` : "") + d.key}  updated ${d.updatedAt}`).join("\n")}\n` : "No secrets.\n");
    });
  secret.command("delete").description("Delete a secret")
    .argument("<key>")
    .option("--group <g>", "secret group")
    .action(async (key: string, o: { group?: string }, cmd: Command) => {
      await openRuntime(cmd);
      const ref = o.group ? { key, group: o.group } : { key };
      if (!getRuntime().secrets.delete(ref)) throw new SecretNotFoundError(`Secret "${describeSecret(ref)}" does not exist; nothing deleted.`);
      cliIo(cmd).stdout.write(`Secret ${describeSecret(ref)} deleted.\n`);
    });
}
