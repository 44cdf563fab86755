/** `flyte recover <run>`: a new run of a run's task and inputs that reuses its succeeded actions. */
import type { Command } from "commander";
import { getRun, withRunContext, type RunContextOptions, type TaskTemplate } from "../../index.ts";
import { cliIo, openRuntime, setExitCode } from "../context.ts";
import { followRun } from "../follow-run.ts";
import { findTask, loadModule, UsageError } from "../load-task.ts";

export function registerRecoverCommand(program: Command): void {
  program
    .command("recover")
    .description("Start a new run of a run's task and inputs, reusing its succeeded actions")
    .argument("<run>", "the run to recover")
    .option("--force-rerun <actions>", "comma-separated action names to execute again (with their descendants)")
    .option("--name <run>", "name of the new run")
    .option("-q, --quiet", "no live tree, plain progress lines")
    .action(async (runName: string, opts: { forceRerun?: string; name?: string; quiet?: boolean }, cmd: Command) => {
      const g = await openRuntime(cmd);
      const recovered = await getRun(runName);
      const source = await recovered.source();
      if (!source.file) {
        throw new UsageError(`Run "${runName}" does not record the file its task came from. Use: flyte run <file> ${source.taskName} --recover-from ${runName}`);
      }
      const mod = await loadModule(source.file);
      const task = findTask(mod, source.file, source.taskName);
      const ctxOpts: RunContextOptions = { recoverFrom: runName, customContext: source.customContext, envVars: source.envVars };
      // A remote run is recovered on the workers too; a local or hybrid one in this process (the config's mode).
      if (recovered.mode === "remote") ctxOpts.mode = "remote";
      if (opts.forceRerun) ctxOpts.forceRerunActions = opts.forceRerun.split(",").map((s) => s.trim()).filter(Boolean);
      if (opts.name) ctxOpts.name = opts.name;
      const r = await withRunContext(ctxOpts).run(task as TaskTemplate<unknown, unknown>, undefined);
      const io = cliIo(cmd);
      io.stderr.write(`Run ${r.name} started, recovering from ${runName}\n`);
      setExitCode(cmd, await followRun(r, io, { quiet: Boolean(opts.quiet), json: g.outputFormat === "json" }));
    });
}
