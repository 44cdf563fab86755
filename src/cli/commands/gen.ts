/** `flyte gen config`: write a starter `.flyte/config.yaml` and git-ignore `.flyte/`. */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { starterConfig } from "../../run/config.ts";
import { cliIo } from "../context.ts";
import { UsageError } from "../load-task.ts";

export function registerGenCommand(program: Command): void {
  program.command("gen").description("Generate files").command("config").description("Write a starter .flyte/config.yaml")
    .option("--backend <b>", "embedded or cluster", "embedded")
    .option("--force", "overwrite an existing file")
    .action((o: { backend: string; force?: boolean }, cmd: Command) => {
      if (o.backend !== "embedded" && o.backend !== "cluster") throw new UsageError(`--backend must be embedded or cluster, got ${JSON.stringify(o.backend)}.`);
      const file = join(".flyte", "config.yaml");
      if (existsSync(file) && !o.force) throw new UsageError(`${file} already exists. Pass --force to overwrite it.`);
      mkdirSync(".flyte", { recursive: true });
      writeFileSync(file, starterConfig(o.backend));
      const gi = ".gitignore";
      if (!existsSync(gi) || !readFileSync(gi, "utf8").split("\n").includes(".flyte/")) appendFileSync(gi, `${existsSync(gi) && !readFileSync(gi, "utf8").endsWith("\n") ? "\n" : ""}.flyte/\n`);
      cliIo(cmd).stdout.write(`Wrote ${file} (and added .flyte/ to .gitignore).\n`);
    });
}
