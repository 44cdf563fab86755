/**
 * `flyte clustered [file] --task <fqn> [--version v] [--inputs json] [--outputs-path file]`: the in-pod launcher
 * the containers of a clustered task's JobSet run (API.md §14; see src/clustered/pod-launcher.ts). Not for direct
 * use. The task's code comes from `file` (code in the image's working directory) or, with `--version`, from that
 * deployed version's bundle (backend: cluster). The pod of node 0 prints rank 0's return value as JSON on stdout
 * (and writes it to `--outputs-path`); rank output goes to stderr prefixed `[rank N]`.
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { deserialize, serialize } from "node:v8";
import type { Command } from "commander";
import type { TaskTemplate } from "../../extend.ts";
import { ClusteredTaskTemplate } from "../../clustered/index.ts";
import { podPlacement, runPod, waitForHost } from "../../clustered/pod-launcher.ts";
import { ValidationError } from "../../errors.ts";
import { getRuntime } from "../../run/runtime.ts";
import { deployedCode } from "../../worker/deployed-code.ts";
import { cliIo, openRuntime } from "../context.ts";
import { findTask, loadModule, UsageError } from "../load-task.ts";

interface ClusteredFlags {
  task: string;
  version?: string;
  inputs?: string;
  outputsPath?: string;
  inputsUri?: string;
  outputsUri?: string;
}

async function resolveTask(file: string | undefined, flags: ClusteredFlags, cmd: Command): Promise<TaskTemplate> {
  if (flags.version !== undefined) {
    await openRuntime(cmd);
    const rt = getRuntime();
    const resolver = deployedCode({ store: rt.store, blobStore: rt.blobStore, project: rt.config.project, domain: rt.config.domain, cacheDir: join(rt.config.stateDir, "bundles") });
    return await resolver(flags.task, flags.version);
  }
  if (file === undefined) {
    throw new UsageError("flyte clustered: pass the file that defines the task (code in the image) or --version <v> (deployed code). Print the JobSet with: flyte k8s manifests <file.ts> [--version v]");
  }
  return findTask(await loadModule(file), file, flags.task);
}

export function registerClusteredCommand(program: Command): void {
  program
    .command("clustered")
    .description("In-pod launcher of a clustered task's JobSet (not for direct use)")
    .argument("[file]", "file that defines the task (when its code is in the image)")
    .requiredOption("--task <fqn>", "the clustered task (env.task)")
    .option("--version <v>", "load the task from this deployed version (backend: cluster)")
    .option("--inputs <json>", "the task's inputs as a JSON object", "{}")
    .option("--outputs-path <file>", "node 0 also writes rank 0's return value (JSON) here")
    .option("--inputs-uri <uri>", "read the inputs from this blob (written by the worker that submitted the JobSet)")
    .option("--outputs-uri <uri>", "node 0 writes rank 0's return value to this blob (read back by that worker)")
    .action(async (file: string | undefined, flags: ClusteredFlags, cmd: Command) => {
      let inputs: unknown;
      try {
        inputs = JSON.parse(flags.inputs ?? "{}");
      } catch (e) {
        throw new UsageError(`--inputs must be a JSON object: ${(e as Error).message}`);
      }
      if (typeof inputs !== "object" || inputs === null || Array.isArray(inputs)) throw new UsageError(`--inputs must be a JSON object, got ${flags.inputs}.`);
      const task = await resolveTask(file, flags, cmd);
      if (flags.inputsUri !== undefined || flags.outputsUri !== undefined) {
        if (flags.version === undefined) await openRuntime(cmd);
        if (flags.inputsUri !== undefined) inputs = deserialize(Buffer.from(await getRuntime().blobStore.getBytes(flags.inputsUri)));
      }
      if (!(task instanceof ClusteredTaskTemplate)) {
        throw new ValidationError(`flyte clustered: task "${task.name}" is not a clustered task (its environment is not a ClusteredTaskEnvironment). Run it with flyte run or a worker instead.`, { field: "task" });
      }
      const cluster = task.cluster;
      const placement = podPlacement(process.env, cluster);
      const io = cliIo(cmd);
      const timeoutS = Number(process.env.FLYTE_CLUSTERED_DNS_TIMEOUT_S ?? 300);
      await waitForHost(placement.masterAddr, (Number.isFinite(timeoutS) && timeoutS >= 0 ? timeoutS : 300) * 1000);
      io.stderr.write(`[clustered] node ${placement.node} of ${placement.nnodes}: ${placement.nprocPerNode} rank(s), rendezvous ${placement.masterAddr}:${placement.masterPort}\n`);
      const result = await runPod({ task, cluster, placement, inputs, log: (_stream, line) => io.stderr.write(`${line}\n`) });
      if (result.node === 0) {
        const json = JSON.stringify(result.output ?? null);
        if (flags.outputsPath) writeFileSync(resolve(flags.outputsPath), `${json}\n`);
        if (flags.outputsUri) await getRuntime().blobStore.put(flags.outputsUri, serialize(result.output));
        io.stdout.write(`${json}\n`);
      }
    });
}
