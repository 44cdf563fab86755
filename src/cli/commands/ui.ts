/** `flyte ui`: the local web UI over the configured store (runs, action trees, timelines, logs, I/O, reports). */
import type { Command } from "commander";
import { getRun, withRunContext, type RunContextOptions, type TaskTemplate } from "../../index.ts";
import { cliIo, openRuntime } from "../context.ts";
import { findTask, loadModule, UsageError } from "../load-task.ts";

/** Starts a recovery of a run whose task file is recorded, like `flyte recover`, and returns the new run's name. */
async function recoverRun(runName: string): Promise<string> {
  const source = await (await getRun(runName)).source();
  if (!source.file) throw new UsageError(`Run "${runName}" does not record the file its task came from. Use: flyte run <file> ${source.taskName} --recover-from ${runName}`);
  const mod = await loadModule(source.file);
  const task = findTask(mod, source.file, source.taskName);
  const ctxOpts: RunContextOptions = { recoverFrom: runName, customContext: source.customContext, envVars: source.envVars };
  const r = await withRunContext(ctxOpts).run(task as TaskTemplate<unknown, unknown>, undefined);
  return r.name;
}

export function registerUiCommand(program: Command): void {
  program.command("ui").description("Web UI over the configured store, bound to 127.0.0.1 unless --host is given")
    .option("--port <n>", "port (0: any free port)", "8080")
    .option("--host <h>", "address to bind (anything but 127.0.0.1/localhost/::1 requires a token)")
    .option("--token <t>", "token every request must carry (generated and printed when --host needs one)")
    .action(async (o: { port: string; host?: string; token?: string }, cmd: Command) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port expects a port number 0-65535, got ${JSON.stringify(o.port)}.`);
      await openRuntime(cmd);
      const io = cliIo(cmd);
      // Loaded here: the server (hono) is for `flyte ui`, not for the start-up of every other command.
      const { startUiServer, UiPortError } = await import("../../ui/index.ts");
      let server;
      try {
        server = await startUiServer({ port, ...(o.host ? { host: o.host } : {}), ...(o.token ? { token: o.token } : {}), recover: recoverRun });
      } catch (e) {
        if (e instanceof UiPortError) throw new UsageError(e.message);
        throw e;
      }
      io.stdout.write(`Flyte UI: ${server.openUrl}\n`);
      if (server.token && !o.token) io.stdout.write(`Token (generated): ${server.token}\n`);
      io.stderr.write("Press Ctrl+C to stop.\n");
      await new Promise<void>((resolve) => {
        const stop = () => { process.off("SIGINT", stop); process.off("SIGTERM", stop); void server.close().then(resolve); };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
    });
}
