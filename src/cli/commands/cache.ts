/** `flyte cache clear [--task <fqn>] [--yes]`: delete task cache entries. */
import type { Command } from "commander";
import { clearCache } from "../../index.ts";
import { cliIo, openRuntime } from "../context.ts";
import { UsageError } from "../load-task.ts";
import { confirm } from "../prompt.ts";

export function registerCacheCommand(program: Command): void {
  const cache = program.command("cache").description("Manage the task cache");
  cache.command("clear").description("Delete cache entries (all, or one task's)")
    .option("--task <fqn>", "only entries of this task (env.task)")
    .option("--yes", "do not ask for confirmation")
    .action(async (o: { task?: string; yes?: boolean }, cmd: Command) => {
      await openRuntime(cmd);
      const io = cliIo(cmd);
      if (!o.yes) {
        // Without a terminal nobody can answer the question: deleting anyway would be a silent default.
        if (!io.stdin.isTTY) throw new UsageError("cache clear asks for confirmation, but stdin is not a terminal. Pass --yes to delete without asking.");
        if (!(await confirm(`Delete ${o.task ? `cache entries of ${o.task}` : "all cache entries"}?`))) return void io.stdout.write("Nothing deleted.\n");
      }
      const n = await clearCache(o.task !== undefined ? { task: o.task } : {});
      io.stdout.write(`Deleted ${n} cache entr${n === 1 ? "y" : "ies"}${o.task ? ` of ${o.task}` : ""}.\n`);
    });
}
