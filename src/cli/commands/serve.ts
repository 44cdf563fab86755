/**
 * `flyte serve [file.ts] [--workers|--no-workers] [--concurrency n]`: fires the active triggers deployed in the project/domain
 * (src/schedule/scheduler.ts) until SIGINT/SIGTERM. Embedded backend: each fire's run executes in this process.
 * Cluster backend: each fire queues a remote run, and (unless --no-workers) a worker executes the actions of every
 * deployed environment, so one command runs a small installation. Several `flyte serve` may share a store: each
 * fire time is fired by exactly one of them.
 */
import { Command } from "commander";
import { listDeployedTasks, startScheduler, startWorker, type WorkerHandle } from "../../index.ts";
import { getRuntime } from "../../run/runtime.ts";
import { cliIo, openRuntime } from "../context.ts";
import { loadModule, UsageError } from "../load-task.ts";

/** How long SIGTERM waits for running attempts or runs (cluster workers; embedded runs wait until done). */
const DRAIN_MS = Number(process.env.FLYTE_WORKER_DRAIN_MS) > 0 ? Number(process.env.FLYTE_WORKER_DRAIN_MS) : 30_000;

export function registerServeCommand(program: Command): void {
  program.command("serve").description("Fire deployed triggers on their schedules (and run workers for the deployed environments on the cluster backend)")
    .argument("[file]", "start runs of the tasks this file defines instead of the deployed code (development)")
    .option("--workers", "cluster backend: start a worker for every deployed environment (the default)")
    .option("--no-workers", "cluster backend: start no workers (others run `flyte worker`)")
    .option("--concurrency <n>", "cluster backend: attempts the worker executes at once", "1")
    .action(async (file: string | undefined, o: { workers?: boolean; concurrency: string }, cmd: Command) => {
      const concurrency = Number(o.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency must be an integer >= 1, got "${o.concurrency}".`);
      await openRuntime(cmd);
      if (file) await loadModule(file);
      const io = cliIo(cmd);
      const rt = getRuntime();
      const scope = { project: rt.config.project, domain: rt.config.domain };
      const cluster = rt.config.backend === "cluster";
      const say = (line: string) => io.stdout.write(`${new Date().toISOString()} ${line}\n`);

      const scheduler = await startScheduler({ code: file ? "loaded" : "deployed", log: say });
      const { triggers } = scheduler;
      const where = `${scope.project}/${scope.domain} (${rt.store.location})`;
      if (triggers.length === 0) {
        io.stdout.write(`No active triggers deployed in ${where}: nothing to fire yet. Triggers deployed or activated later are picked up while this runs (flyte deploy <file.ts>, flyte update trigger <task> <name> --activate).\n`);
      } else {
        io.stdout.write(`Serving ${triggers.length} trigger${triggers.length > 1 ? "s" : ""} in ${where}, ${cluster ? "queueing runs for workers" : "running them in this process"}:\n`);
        for (const t of triggers) {
          io.stdout.write(`  ${t.task}/${t.name}  ${t.schedule}${t.timezone !== "UTC" ? ` (${t.timezone})` : ""}  next ${t.nextFire?.toISOString() ?? "-"}\n`);
        }
      }

      let worker: WorkerHandle | undefined;
      if (cluster && o.workers !== false) {
        const envs = [...new Set((await listDeployedTasks()).map((t) => t.environment))].sort();
        if (envs.length === 0) {
          io.stdout.write("No environments deployed: no worker started (flyte deploy <file.ts>, then restart flyte serve).\n");
        } else {
          worker = await startWorker({ envs, concurrency, code: file ? "loaded" : "deployed" });
          io.stdout.write(`Worker ${worker.id} executing ${envs.join(", ")} (concurrency ${concurrency}).\n`);
        }
      }

      io.stdout.write("Stop with Ctrl-C.\n");
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.once(signal, () => {
            io.stderr.write(`${signal} again: exiting now.\n`);
            process.exit(130);
          });
          io.stderr.write(`${signal}: stopping the scheduler${worker ? `, waiting up to ${DRAIN_MS / 1000}s for ${worker.running} running attempts` : cluster ? "" : "; runs it started here finish first (again to exit at once)"}.\n`);
          void (async () => {
            await scheduler.stop();
            if (worker) {
              const w = worker;
              const force = setTimeout(() => void w.abandon().catch(() => undefined), DRAIN_MS);
              force.unref();
              await w.stop();
              clearTimeout(force);
            }
            resolve();
          })();
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
    });
}
