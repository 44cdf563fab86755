/**
 * `flyte k8s manifests <file.ts> [--namespace ns] [--image uri] [--task name]`: prints one Kubernetes JobSet
 * (jobset.x-k8s.io/v1alpha2) per clustered task the file defines, as a multi-document YAML stream
 * (`--output-format json` prints a JSON array). Each JobSet is named after its task, e.g. `ddp-train`.
 */
import { relative, resolve, sep } from "node:path";
import type { Command } from "commander";
import { stringify } from "yaml";
import { ValidationError } from "../../errors.ts";
import { ClusteredTaskTemplate, type JobSetManifest } from "../../clustered/index.ts";
import { jobSetNameFor } from "../../clustered/jobset.ts";
import { cliIo, globals } from "../context.ts";
import { loadModule, tasksOf } from "../load-task.ts";

interface ManifestFlags {
  namespace: string;
  image?: string;
  task?: string;
  version?: string;
}

/** The JobSets of the clustered tasks `file` defines (or exports), in declaration order. */
export async function clusteredManifests(file: string, flags: ManifestFlags): Promise<JobSetManifest[]> {
  const mod = await loadModule(file);
  const abs = resolve(file);
  const tasks = [...new Set(tasksOf(mod).values())].filter(
    (t): t is ClusteredTaskTemplate => t instanceof ClusteredTaskTemplate && (t.sourceFile === abs || Object.values(mod).includes(t)),
  );
  const chosen = flags.task === undefined ? tasks : tasks.filter((t) => t.name === flags.task || t.taskName === flags.task);
  if (chosen.length === 0) {
    const known = tasks.map((t) => t.name).join(", ");
    throw new ValidationError(
      flags.task === undefined
        ? `${file} defines no clustered tasks. Declare one with new ClusteredTaskEnvironment({ ... }).task(...) (from "flyte-ts/clustered").`
        : `--task ${JSON.stringify(flags.task)} is not a clustered task of ${file}. Clustered tasks there: ${known || "(none)"}.`,
    );
  }
  return chosen.map((t) =>
    t.toJobSet({
      name: jobSetNameFor(t.name, t.cluster.replicas),
      namespace: flags.namespace,
      ...(flags.image !== undefined ? { image: flags.image } : {}),
      args: launcherArgs(t, flags.version),
    }),
  );
}

/**
 * What the pods' `flyte clustered` needs to find the task: the deployed version's bundle, or else the file that
 * defines it, relative to the current directory (the image's working directory must hold it at that path).
 */
function launcherArgs(t: ClusteredTaskTemplate, version: string | undefined): string[] {
  if (version !== undefined) return ["--task", t.name, "--version", version];
  return ["--task", t.name, ...(t.sourceFile ? [relative(process.cwd(), t.sourceFile).split(sep).join("/")] : [])];
}

export function registerK8sCommand(program: Command): void {
  const k8s = program.command("k8s").description("Kubernetes manifests");
  k8s
    .command("manifests")
    .description("Print a JobSet (jobset.x-k8s.io/v1alpha2) for every clustered task of a file")
    .argument("<file>", "TypeScript or JavaScript file that defines clustered environments")
    .option("--namespace <ns>", "namespace of the JobSets", "default")
    .option("--image <uri>", "container image (default: each task's environment image)")
    .option("--task <name>", "only this task (name or env.task)")
    .option("--version <v>", "pods load this deployed version (flyte deploy --version) instead of the file from the image")
    .action(async (file: string, flags: ManifestFlags, cmd: Command) => {
      const manifests = await clusteredManifests(file, flags);
      const out = globals(cmd).outputFormat === "json"
        ? `${JSON.stringify(manifests, null, 2)}\n`
        : manifests.map((m) => stringify(m, { lineWidth: 0 })).join("---\n");
      cliIo(cmd).stdout.write(out);
    });
}
