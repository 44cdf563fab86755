/** `flyte delete trigger <task> <name>`: removes a deployed trigger (deploying the task with it registers it again). */
import { Command } from "commander";
import { deleteTrigger } from "../../index.ts";
import { cliIo, openRuntime } from "../context.ts";

export function registerDeleteCommand(program: Command): void {
  const del = program.command("delete").description("Remove deployed objects");
  del.command("trigger").description("Remove a deployed trigger")
    .argument("<task>", "the task (env.task)").argument("<name>", "the trigger's name")
    .action(async (task: string, name: string, _o: unknown, cmd: Command) => {
      await openRuntime(cmd);
      await deleteTrigger(task, name);
      cliIo(cmd).stdout.write(`Trigger ${task}/${name} deleted. Its past runs stay; deploying the task with it registers it again.\n`);
    });
}
