/**
 * `flyte k8s manifests [file.ts] [--namespace ns] [--output dir] ...`: prints a whole installation (scheduler, UI,
 * config, RBAC, one worker Deployment per environment of the file with its autoscaling and disruption budget;
 * see src/k8s/installation.ts) as a multi-document YAML stream, or writes one file per object into `--output`.
 * Every image must already be in its registry (`flyte build` pushes it) unless `--skip-image-check`.
 *
 * `--jobsets` prints instead one JobSet (jobset.x-k8s.io/v1alpha2) per clustered task of the file, named after
 * the task (e.g. `ddp-train`): the shape a clustered action takes on a cluster. Applying one runs the task once.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import type { Command } from "commander";
import { stringify } from "yaml";
import { Environment, Image, listLoadedEnvironments } from "../../index.ts";
import { ValidationError } from "../../errors.ts";
import { ClusteredTaskTemplate, type JobSetManifest } from "../../clustered/index.ts";
import { jobSetNameFor } from "../../clustered/jobset.ts";
import { setImageConfig } from "../../images/config.ts";
import { parseImageReference } from "../../images/reference.ts";
import { manifestExists } from "../../images/registry-check.ts";
import { checkNamespace, environmentImageUri, installation, objectFileName, withDependencies, type K8sObject } from "../../k8s/installation.ts";
import { resolveConfig } from "../../run/config.ts";
import { cliIo, globals } from "../context.ts";
import { loadModule, tasksOf, UsageError } from "../load-task.ts";

interface ManifestFlags {
  namespace: string;
  image?: string;
  task?: string;
  version?: string;
  jobsets?: boolean;
  output?: string;
  keda: boolean;
  storageUrl?: string;
  s3Endpoint?: string;
  s3Region?: string;
  imageCheck: boolean;
  interruptibleToleration: string[];
  interruptibleNodeLabel: string[];
  acceleratorLabel?: string;
}

/** The JobSets of the clustered tasks `file` defines (or exports), in declaration order. */
export async function clusteredManifests(file: string, flags: Pick<ManifestFlags, "namespace" | "image" | "task" | "version">): Promise<JobSetManifest[]> {
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

/** The environments `file` defines: exported ones, and those of the tasks declared in it. */
async function environmentsOf(file: string): Promise<Environment[]> {
  const mod = await loadModule(file);
  const abs = resolve(file);
  const envs = new Set<Environment>();
  for (const v of Object.values(mod)) if (v instanceof Environment) envs.add(v);
  for (const t of tasksOf(mod).values()) if (t.env instanceof Environment && (t.sourceFile === abs || Object.values(mod).includes(t))) envs.add(t.env);
  // Keep declaration order.
  return listLoadedEnvironments().filter((e) => envs.has(e));
}

/** `key[=value]:Effect` → a toleration. */
type Effect = "NoSchedule" | "PreferNoSchedule" | "NoExecute";
function parseToleration(spec: string): { key: string; operator: "Equal" | "Exists"; value?: string; effect: Effect } {
  const m = /^([^=:\s]+)(?:=([^:\s]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/.exec(spec);
  if (!m) throw new UsageError(`--interruptible-toleration must be key[=value]:NoSchedule|PreferNoSchedule|NoExecute, got ${JSON.stringify(spec)}.`);
  const effect = m[3] as Effect;
  return m[2] === undefined ? { key: m[1]!, operator: "Exists", effect } : { key: m[1]!, operator: "Equal", value: m[2], effect };
}

function parseLabel(spec: string): [string, string] {
  const i = spec.indexOf("=");
  if (i <= 0) throw new UsageError(`--interruptible-node-label must be key=value, got ${JSON.stringify(spec)}.`);
  return [spec.slice(0, i), spec.slice(i + 1)];
}

/** Refuses images a cluster could not pull: built ones without a registry, and any the registry does not have. */
async function checkImages(file: string | undefined, images: { uri: string; owner: string; env?: Environment }[]): Promise<void> {
  const seen = new Map<string, Promise<boolean | Error>>();
  for (const { uri, owner, env } of images) {
    const build = `flyte build ${file ?? "<file.ts>"}${env ? ` ${env.name}` : ""}`;
    const image = env ? (env.image instanceof Image ? env.image : env.image === "auto" ? Image.fromDebianBase() : undefined) : undefined;
    const built = image !== undefined && (image.layers.length > 0 || image.base.kind !== "image");
    if (built && parseImageReference(uri, owner).registry === undefined) {
      throw new ValidationError(
        `${owner}: image ${uri} has no registry, so a cluster cannot pull it. Set image.registry in the config (or Image.fromDebianBase({ registry })), then build and push it with: ${build}`,
        { field: "image" },
      );
    }
    if (!seen.has(uri)) seen.set(uri, manifestExists(uri).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))));
    const found = await seen.get(uri)!;
    if (found instanceof Error) {
      throw new ValidationError(`${owner}: cannot tell whether image ${uri} was pushed (${found.message.split("\n")[0]}). Push it with: ${build} — or pass --skip-image-check.`, { field: "image" });
    }
    if (!found) {
      throw new ValidationError(`${owner}: image ${uri} was never built and pushed (its registry does not have it). Build and push it with: ${build}`, { field: "image" });
    }
  }
}

async function installationManifests(file: string | undefined, flags: ManifestFlags, cmd: Command): Promise<K8sObject[]> {
  const g = globals(cmd);
  const namespace = checkNamespace(flags.namespace);
  const config = resolveConfig({}, g.config);
  setImageConfig({ builder: config.imageBuilder, registry: config.imageRegistry, images: config.images });
  const storageUrl = flags.storageUrl ?? (config.storage.startsWith("s3://") ? config.storage : undefined);
  if (storageUrl === undefined || !storageUrl.startsWith("s3://")) {
    throw new UsageError(
      `--storage-url s3://bucket/prefix is required: every pod must share blob storage (the config's storage.url is ${JSON.stringify(config.storage)}, which pods cannot reach).`,
    );
  }
  const envs = file === undefined ? [] : await environmentsOf(file);
  if (file !== undefined && envs.length === 0) throw new UsageError(`${file} defines no environments. Create one with new TaskEnvironment({ name, image }).`);
  const all = withDependencies(envs);
  const controlImage = flags.image ?? Image.fromDebianBase().uri;
  if (flags.imageCheck) {
    await checkImages(file, [
      ...all.map((env) => ({ uri: environmentImageUri(env), owner: `Environment "${env.name}"`, env })),
      { uri: controlImage, owner: "The scheduler/UI image (--image)", ...(flags.image === undefined ? { env: undefined } : {}) },
    ]);
  }
  const s3 = {
    ...(flags.s3Endpoint ? { endpoint: flags.s3Endpoint, forcePathStyle: true } : config.s3?.endpoint ? { endpoint: config.s3.endpoint, forcePathStyle: config.s3.forcePathStyle ?? true } : {}),
    ...(flags.s3Region ? { region: flags.s3Region } : config.s3?.region ? { region: config.s3.region } : {}),
  };
  return installation({
    namespace,
    environments: envs,
    controlImage,
    keda: flags.keda,
    project: g.project ?? config.project,
    domain: g.domain ?? config.domain,
    storageUrl,
    ...(Object.keys(s3).length ? { s3 } : {}),
    ...(flags.interruptibleToleration.length ? { interruptibleTolerations: flags.interruptibleToleration.map(parseToleration) } : {}),
    ...(flags.interruptibleNodeLabel.length ? { interruptibleNodeLabels: Object.fromEntries(flags.interruptibleNodeLabel.map(parseLabel)) } : {}),
    ...(flags.acceleratorLabel ? { acceleratorLabel: flags.acceleratorLabel } : {}),
  });
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerK8sCommand(program: Command): void {
  const k8s = program.command("k8s").description("Kubernetes manifests");
  k8s
    .command("manifests")
    .description("Print the Kubernetes objects of a flyte-ts installation (scheduler, UI, RBAC, config, one worker Deployment per environment of the file)")
    .argument("[file]", "TypeScript or JavaScript file whose environments get workers")
    .option("--namespace <ns>", "namespace of every object", "flyte")
    .option("--output <dir>", "write one YAML file per object into this folder instead of printing them")
    .option("--image <uri>", "image of the scheduler and UI (default: the default flyte-ts image); with --jobsets: the pods' image")
    .option("--storage-url <url>", "blob storage every pod shares, s3://bucket/prefix (default: the config's storage.url when it is s3://)")
    .option("--s3-endpoint <url>", "S3 endpoint (MinIO and the like; default: the config's storage.s3.endpoint)")
    .option("--s3-region <region>", "S3 region (default: the config's storage.s3.region)")
    .option("--no-keda", "autoscale reusable environments with a CPU HorizontalPodAutoscaler instead of KEDA's PostgreSQL trigger")
    .option("--interruptible-toleration <key[=value]:effect>", "toleration of interruptible environments' pods (repeatable; default flyte.org/interruptible=true:NoSchedule)", collect, [] as string[])
    .option("--interruptible-node-label <key=value>", "node label interruptible pods require (repeatable; default flyte.org/interruptible=true)", collect, [] as string[])
    .option("--accelerator-label <key>", "node label that names a node's accelerator (default k8s.amazonaws.com/accelerator)")
    .option("--skip-image-check", "do not ask the registries whether the images were pushed")
    .option("--jobsets", "print a JobSet per clustered task of the file instead (what one run of it is on a cluster)")
    .option("--task <name>", "with --jobsets: only this task (name or env.task)")
    .option("--version <v>", "with --jobsets: pods load this deployed version (flyte deploy --version) instead of the file from the image")
    .action(async (file: string | undefined, raw: Omit<ManifestFlags, "imageCheck"> & { skipImageCheck?: boolean }, cmd: Command) => {
      const flags: ManifestFlags = { ...raw, imageCheck: raw.skipImageCheck !== true };
      let objects: unknown[];
      if (flags.jobsets) {
        if (file === undefined) throw new UsageError("--jobsets needs the file that defines the clustered tasks.");
        checkNamespace(flags.namespace);
        objects = await clusteredManifests(file, flags);
      } else {
        if (flags.task !== undefined || flags.version !== undefined) throw new UsageError("--task and --version apply to --jobsets only.");
        objects = await installationManifests(file, flags, cmd);
      }
      const io = cliIo(cmd);
      if (flags.output !== undefined) {
        const dir = resolve(flags.output);
        mkdirSync(dir, { recursive: true });
        (objects as K8sObject[]).forEach((o, i) => {
          const path = join(dir, objectFileName(o, i));
          writeFileSync(path, stringify(o, { lineWidth: 0 }));
          io.stdout.write(`${relative(process.cwd(), path) || path}\n`);
        });
        return;
      }
      const out = globals(cmd).outputFormat === "json"
        ? `${JSON.stringify(objects, null, 2)}\n`
        : objects.map((m) => stringify(m, { lineWidth: 0 })).join("---\n");
      io.stdout.write(out);
    });
}
