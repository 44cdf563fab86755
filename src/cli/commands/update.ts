/** `flyte update trigger <task> <name> --activate|--deactivate`: toggles a deployed trigger (a redeploy keeps it). */
import { Command } from "commander";
import { updateTrigger } from "../../index.ts";
import { cliIo, openRuntime } from "../context.ts";
import { UsageError } from "../load-task.ts";

export function registerUpdateCommand(program: Command): void {
  const update = program.command("update").description("Change deployed objects");
  update.command("trigger").description("Activate or deactivate a deployed trigger")
    .argument("<task>", "the task (env.task)").argument("<name>", "the trigger's name")
    .option("--activate", "fire it on its schedule (from now on)")
    .option("--deactivate", "stop firing it")
    .action(async (task: string, name: string, o: { activate?: boolean; deactivate?: boolean }, cmd: Command) => {
      if (Boolean(o.activate) === Boolean(o.deactivate)) throw new UsageError("Pass exactly one of --activate and --deactivate.");
      await openRuntime(cmd);
      const t = await updateTrigger(task, name, { active: Boolean(o.activate) });
      cliIo(cmd).stdout.write(
        t.active
          ? `Trigger ${t.task}/${t.name} is active${t.nextFire ? `: next fire ${t.nextFire.toISOString()}` : ""} (fired by flyte serve).\n`
          : `Trigger ${t.task}/${t.name} is inactive: flyte serve does not fire it until it is activated again.\n`,
      );
    });
}
