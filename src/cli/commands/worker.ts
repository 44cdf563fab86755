/**
 * `flyte worker [file.ts] --env X [--env Y] [--concurrency n] [--queue q]`: executes the queued actions of those
 * environments (cluster backend) until SIGTERM/SIGINT, then stops claiming and lets running attempts finish.
 */
import { Command } from "commander";
import { startWorker } from "../../index.ts";
import { cliIo, openRuntime } from "../context.ts";
import { loadModule, UsageError } from "../load-task.ts";

/**
 * How long SIGTERM waits for running attempts before the worker gives them up and exits (API.md §16: 30 s).
 * FLYTE_WORKER_DRAIN_MS shortens it (tests).
 */
const DRAIN_MS = Number(process.env.FLYTE_WORKER_DRAIN_MS) > 0 ? Number(process.env.FLYTE_WORKER_DRAIN_MS) : 30_000;
/**
 * An `--interruptible` worker's SIGTERM is a preemption notice: attempts still running this long after it fail
 * with TaskInterruptedError and go back to the queue (FLYTE_WORKER_INTERRUPT_GRACE_MS; default 10 s).
 */
const INTERRUPT_GRACE_MS = Number(process.env.FLYTE_WORKER_INTERRUPT_GRACE_MS) >= 0 && process.env.FLYTE_WORKER_INTERRUPT_GRACE_MS
  ? Number(process.env.FLYTE_WORKER_INTERRUPT_GRACE_MS) : Math.min(10_000, DRAIN_MS / 2);

export function registerWorkerCommand(program: Command): void {
  program.command("worker").description("Execute queued actions of the given environments (cluster backend)")
    .argument("[file]", "run the tasks this file defines instead of deployed code (development)")
    .requiredOption("--env <name>", "environment whose actions to execute (repeatable)", (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option("--concurrency <n>", "attempts executing at once", "1")
    .option("--queue <name>", "only actions of tasks with this queue option")
    .option("--isolate", "run each attempt in a fresh child process (memory limits, hard timeouts); reusable environments on warm pools")
    .option("--interruptible", "preemptible capacity: take only actions of interruptible tasks; SIGTERM interrupts what still runs after a grace period")
    .action(async (file: string | undefined, o: { env: string[]; concurrency: string; queue?: string; isolate?: boolean; interruptible?: boolean }, cmd: Command) => {
      const concurrency = Number(o.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency must be an integer >= 1, got "${o.concurrency}".`);
      await openRuntime(cmd);
      if (file) await loadModule(file);
      const io = cliIo(cmd);
      const worker = await startWorker({
        envs: o.env, concurrency, code: file ? "loaded" : "deployed", ...(o.queue ? { queue: o.queue } : {}),
        ...(o.isolate ? { isolation: "process" as const } : {}),
        ...(o.interruptible ? { interruptible: true } : {}),
        onAction: (e) => {
          if (e.phase !== "started") io.stderr.write(`${e.phase.padEnd(9)} ${e.run}/${e.action} ${e.task}${e.ms !== undefined ? ` ${e.ms}ms` : ""}\n`);
        },
      });
      io.stdout.write(`Worker ${worker.id} executing ${o.env.join(", ")} (concurrency ${concurrency}). Stop with Ctrl-C.\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          io.stderr.write(`${signal}: no new actions; waiting up to ${DRAIN_MS / 1000}s for ${worker.running} running.\n`);
          const force = setTimeout(() => {
            io.stderr.write(`${worker.running} still running after ${DRAIN_MS / 1000}s: released for other workers to retry.\n`);
            void worker.abandon().catch(() => undefined).finally(resolve);
          }, DRAIN_MS);
          force.unref();
          if (o.interruptible) {
            setTimeout(() => {
              if (worker.running === 0) return;
              io.stderr.write(`${worker.running} still running ${INTERRUPT_GRACE_MS / 1000}s after ${signal}: interrupted (TaskInterruptedError), back to the queue.\n`);
              worker.interrupt();
            }, INTERRUPT_GRACE_MS).unref();
          }
          void worker.stop().then(() => {
            clearTimeout(force);
            resolve();
          });
        };
        process.once("SIGTERM", () => stop("SIGTERM"));
        process.once("SIGINT", () => stop("SIGINT"));
      });
    });
}
