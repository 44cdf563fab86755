/** `flyte abort <run>` (also flyte-sdk's `flyte abort run <run>`): abort a run and wait briefly for it to stop. */
import type { Command } from "commander";
import { TaskTimeoutError } from "../../errors.ts";
import { getRun, TERMINAL_PHASES } from "../../index.ts";
import { cliIo, openRuntime } from "../context.ts";
import { UsageError } from "../load-task.ts";

/** How long abort waits to report the run's end before saying its owner will stop it. */
const WAIT_FOR_END = "15s";

export function registerAbortCommand(program: Command): void {
  program.command("abort").description("Abort a running run (also accepted as flyte-sdk's `flyte abort run <run>`)")
    .argument("<run>")
    .argument("[name]", "with `run` as the first argument: the run to abort")
    .option("--reason <text>", "why", "aborted from the CLI")
    .action(async (first: string, second: string | undefined, o: { reason: string }, cmd: Command) => {
      if (second !== undefined && first !== "run") throw new UsageError(`flyte abort takes one run name, got "${first}" and "${second}". Use: flyte abort <run> (or flyte abort run <run>).`);
      const name = second ?? first;
      await openRuntime(cmd);
      const out = cliIo(cmd).stdout;
      const r = await getRun(name);
      const phase = await r.phase();
      if (TERMINAL_PHASES.includes(phase)) {
        out.write(`Run ${name} already ended (${phase}); nothing to abort.\n`);
        return;
      }
      await r.abort(o.reason);
      try {
        out.write(`Run ${name} ${await r.wait({ timeout: WAIT_FOR_END })}.\n`);
      } catch (e) {
        if (!(e instanceof TaskTimeoutError)) throw e;
        out.write(`Abort requested for run ${name}; its process will stop it at its next heartbeat.\n`);
      }
    });
}
