/**
 * `deploy()` (← flyte-sdk `flyte.deploy`, API.md §10.4): registers environments, their transitive `dependsOn`
 * (each once, dependencies first), their images, a code bundle and their tasks' specs and triggers under one
 * version, in the store of the configured backend.
 *
 * The version is the caller's (`version`) or derived from what is deployed: the bundle's content hash, the task
 * and trigger specs and the image URIs. Deploying the same thing again is therefore a no-op (`status:
 * "unchanged"`), and changing any of it gives a new version. An explicit version already used for other content
 * is refused (`DeploymentError`).
 *
 * @example
 * ```ts
 * const r = await deploy(env);                                   // env and its dependsOn
 * await deploy([env], { version: "v1", copyStyle: "all" });
 * await deploy([env], { dryRun: true });                         // bundle and specs, nothing written
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { Environment } from "../authoring/environment.ts";
import { TaskEnvironment } from "../authoring/task-environment.ts";
import type { TaskTemplate } from "../authoring/task-template.ts";
import { validateTriggerInputs } from "../authoring/trigger.ts";
import { interfaceSchemas } from "../controller/cache-key.ts";
import { CodeBundleError, DeploymentError, FlyteError, ValidationError } from "../errors.ts";
import { buildImage, collectEnvironments, environmentImage, type BuildOptions, type BuildProgress } from "../images/build-engine.ts";
import type { Image } from "../images/image.ts";
import { checkKeys, show } from "../internal/validate.ts";
import { stableJson } from "../internal/stable-json.ts";
import { getRuntime } from "../run/runtime.ts";
import type { CopyStyle, TaskSpecRow, TriggerRow } from "../store/store.ts";
import { buildBundle, folderOf, type CodeBundle } from "./bundle.ts";
import { taskSpec, triggerSpec, type TaskSpec } from "./task-spec.ts";

export type { CopyStyle } from "../store/store.ts";
export type { TaskSpec } from "./task-spec.ts";

export interface DeployOptions {
  /** The version to register under. @default a hash of the bundle, the task specs and the images */
  version?: string;
  /** Build the bundle and specs and return what would be deployed; build, upload and register nothing. @default false */
  dryRun?: boolean;
  /** What the code bundle holds (see deploy/bundle.ts). `"none"` needs `version`. @default "loaded_modules" */
  copyStyle?: CopyStyle;
  /**
   * Build images that need building (as `flyte build` does; failures fail the deploy). `false` never builds, and
   * the default builds only when a builder is configured (`image.builder`); an image left unbuilt is reported in
   * `images` and `messages`, and the deploy goes on.
   */
  build?: boolean;
  /** The image builder, as for `build()`. @default config `image.builder`, else docker when its daemon answers, else buildah */
  builder?: BuildOptions["builder"];
  /** Image build progress (what `flyte deploy` prints). */
  onProgress?: (e: BuildProgress) => void;
}

export interface DeployedImage {
  uri: string;
  environments: string[];
  /** built now, already present, not built (no builder configured or `build: false`), or a prebuilt base image used as is. */
  status: "built" | "exists" | "not-built" | "prebuilt";
}

export interface DeployResult {
  version: string;
  /** Dependencies first. */
  environments: { name: string; image: string; tasks: string[] }[];
  /** Registered triggers, as `"<task>/<trigger>"`. */
  triggers: string[];
  /**
   * `deployed`: recorded now; `unchanged`: this version was already deployed with the same content (nothing
   * written, except that its tasks become the latest versions again if a later deploy had replaced them);
   * `dry-run`: nothing written.
   */
  status: "deployed" | "unchanged" | "dry-run";
  /** The code bundle: where it is (or would be) stored, its SHA-256 and its files; null with copyStyle "none". */
  bundle: { uri: string; digest: string; files: string[] } | null;
  images: DeployedImage[];
  /** Task specs as registered (with their version). */
  tasks: (TaskSpec & { version: string })[];
  /** Notes for the user (images left unbuilt, a version made latest again). */
  messages: string[];
}

const DEPLOY_KEYS = ["version", "dryRun", "copyStyle", "build", "builder", "onProgress"] as const;
const COPY_STYLES: readonly CopyStyle[] = ["loaded_modules", "all", "none"];
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const toPosix = (p: string) => p.split(sep).join("/");
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

function parseArgs(args: unknown[]): { envs: Environment[]; o: DeployOptions } {
  const [first, second] = args;
  const envs = (Array.isArray(first) ? first : args) as unknown[];
  const o = (Array.isArray(first) ? (second ?? {}) : {}) as DeployOptions;
  if (Array.isArray(first) && args.length > 2) throw new ValidationError(`deploy: expected (envs, options), got ${args.length} arguments. Use deploy([envA, envB], { version }).`);
  checkKeys(o, DEPLOY_KEYS, "deploy");
  if (envs.length === 0) throw new ValidationError("deploy: no environments given. Pass the environments to deploy, e.g. deploy(env) or deploy([envA, envB], { version: \"v1\" }).");
  for (const e of envs) {
    if (!(e instanceof Environment)) throw new ValidationError(`deploy: expected environments, got ${show(e)}. Pass TaskEnvironment objects, e.g. deploy(env).`);
  }
  if (o.copyStyle !== undefined && !COPY_STYLES.includes(o.copyStyle)) {
    throw new ValidationError(`deploy: copyStyle must be "loaded_modules", "all" or "none", got ${show(o.copyStyle)}.`, { field: "copyStyle" });
  }
  if (o.version !== undefined && (typeof o.version !== "string" || !VERSION_RE.test(o.version))) {
    throw new ValidationError(
      `deploy: version ${show(o.version)} is not a valid version. Use up to 128 letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. "v1.2.0").`,
      { field: "version" },
    );
  }
  if (o.copyStyle === "none" && o.version === undefined) {
    throw new ValidationError('deploy: copyStyle "none" needs a version: without a bundle there is no code hash to derive one from. Pass version (e.g. --version v1), or use copyStyle "loaded_modules".', { field: "version" });
  }
  return { envs: envs as Environment[], o };
}

/** The plan: the environments and their transitive dependsOn, dependencies first, names unique. */
function plan(envs: Environment[]): Environment[] {
  const all = collectEnvironments(envs) as unknown as Environment[];
  const byName = new Map<string, Environment>();
  for (const e of all) {
    const other = byName.get(e.name);
    if (other && other !== e) {
      const where = (x: Environment) => (x instanceof TaskEnvironment && x.sourceFile ? ` (created in ${x.sourceFile})` : "");
      throw new DeploymentError(
        `Two different environments are named "${e.name}"${where(other)}${where(e)}. Environment names must be unique in a deployment: rename one${where(other) && where(other) === where(e) ? "" : ", or make sure the file is imported under one path only"}.`,
      );
    }
    byName.set(e.name, e);
  }
  return all;
}

const tasksOf = (e: Environment): TaskTemplate[] => (e instanceof TaskEnvironment ? [...e.tasks.values()] : []);

function moduleOf(root: string, file: string | undefined): string | null {
  if (!file) return null;
  const rel = relative(root, file);
  return rel.startsWith("..") || isAbsolute(rel) ? file : toPosix(rel);
}

/** Checks triggers against the task's interface when it is known (a schema, or the signature `flyte deploy` read). */
function checkTriggers(task: TaskTemplate): void {
  if (task.triggers.length === 0) return;
  const js = interfaceSchemas(task)?.inputs as { properties?: Record<string, unknown>; required?: unknown } | undefined;
  if (!js?.properties) return;
  const names = Object.keys(js.properties);
  const required = Array.isArray(js.required) ? (js.required as string[]) : [];
  for (const t of task.triggers) validateTriggerInputs(t, names, required, task.name);
}

async function resolveImages(envs: Environment[], o: DeployOptions, configured: boolean): Promise<{ images: DeployedImage[]; messages: string[] }> {
  const byUri = new Map<string, { image: Image; environments: string[] }>();
  const add = (image: Image, env: string) => {
    const entry = byUri.get(image.uri) ?? { image, environments: [] };
    if (!entry.environments.includes(env)) entry.environments.push(env);
    byUri.set(image.uri, entry);
  };
  for (const e of envs) {
    add(environmentImage(e), e.name);
    for (const t of tasksOf(e)) if (t.imageRequest !== undefined) add(t.image, e.name);
  }
  const build = !o.dryRun && (o.build ?? configured);
  const images: DeployedImage[] = [];
  const unbuilt: DeployedImage[] = [];
  for (const [uri, { image, environments }] of byUri) {
    if (!image.needsBuild) {
      images.push({ uri, environments, status: "prebuilt" });
    } else if (build) {
      const r = await buildImage(image, { ...(o.onProgress ? { onProgress: o.onProgress } : {}), ...(o.builder !== undefined ? { builder: o.builder } : {}) });
      images.push({ uri, environments, status: r.built ? "built" : "exists" });
    } else {
      const d: DeployedImage = { uri, environments, status: "not-built" };
      images.push(d);
      unbuilt.push(d);
    }
  }
  const messages: string[] = [];
  if (unbuilt.length > 0 && !o.dryRun) {
    const why = o.build === false ? "building was turned off" : "no image builder is configured (image.builder in the config)";
    for (const d of unbuilt) {
      messages.push(`Image ${d.uri} (${d.environments.join(", ")}) was not built: ${why}. Workers need it: build it with "flyte build <file>", or deploy with --build.`);
    }
  }
  return { images, messages };
}

/** Deploys environments (and their dependsOn); see the module comment. */
export function deploy(...envs: Environment[]): Promise<DeployResult>;
export function deploy(envs: Environment[], o: DeployOptions): Promise<DeployResult>;
export async function deploy(...args: unknown[]): Promise<DeployResult> {
  const { envs: requested, o } = parseArgs(args);
  const envs = plan(requested);
  const rt = getRuntime();
  const { config, store, blobStore } = rt;
  const scope = { project: config.project, domain: config.domain };
  const root = resolve(config.root);
  const copyStyle = o.copyStyle ?? "loaded_modules";

  for (const e of envs) for (const t of tasksOf(e)) checkTriggers(t);
  const { images, messages } = await resolveImages(envs, o, config.imageBuilder !== undefined);

  // The bundle: the files that declare the tasks and environments, and what they load.
  const entries = new Set<string>();
  for (const e of envs) {
    for (const t of tasksOf(e)) if (t.sourceFile) entries.add(resolve(t.sourceFile));
    if (e instanceof TaskEnvironment && e.sourceFile) entries.add(resolve(e.sourceFile));
  }
  const includes = envs.filter((e) => e.include.length > 0).map((e) => {
    const file = (e instanceof TaskEnvironment ? e.sourceFile : undefined) ?? tasksOf(e).find((t) => t.sourceFile)?.sourceFile;
    return { base: file ? folderOf(file) : root, patterns: e.include, env: e.name };
  });
  const exclude = [config.stateDir, ...(config.storage.includes("://") ? [] : [config.storage])];
  let bundle: CodeBundle | null;
  try {
    bundle = await buildBundle({ copyStyle, root, entries: [...entries].sort(), includes, exclude });
  } catch (e) {
    if (e instanceof FlyteError) throw e;
    throw new CodeBundleError(`Cannot build the code bundle under ${root}: ${(e as Error).message}`, { cause: e });
  }

  if (bundle && bundle.outside.length > 0) {
    const shown = bundle.outside.slice(0, 3).join(", ");
    messages.push(
      `The code loads ${bundle.outside.length} file${bundle.outside.length > 1 ? "s" : ""} from outside the project root ${root} (${shown}${bundle.outside.length > 3 ? ", ..." : ""}), which the bundle does not hold: the image must provide ${bundle.outside.length > 1 ? "them" : "it"}. Run flyte from a folder that contains ${bundle.outside.length > 1 ? "them" : "it"} to ship ${bundle.outside.length > 1 ? "them" : "it"} instead.`,
    );
  }

  // Specs, without the version (they decide it when none is given).
  const specs: TaskSpec[] = [];
  const triggerSpecs: { task: string; name: string; spec: Record<string, unknown>; active: boolean }[] = [];
  const environments: DeployResult["environments"] = [];
  for (const e of envs) {
    const tasks = tasksOf(e);
    environments.push({ name: e.name, image: environmentImage(e).uri, tasks: tasks.map((t) => t.name) });
    for (const t of tasks) {
      specs.push(taskSpec(t, t.image.uri, moduleOf(root, t.sourceFile)));
      for (const g of t.triggers) triggerSpecs.push({ task: t.name, name: g.name, spec: triggerSpec(g), active: g.autoActivate });
    }
  }
  const contentHash = sha256(stableJson({ bundle: bundle?.digest ?? null, copyStyle, environments, specs, triggers: triggerSpecs }));
  const version = o.version ?? contentHash.slice(0, 16);
  const bundleUri = bundle ? blobStore.uriFor(bundle.key) : null;
  const result = (status: DeployResult["status"]): DeployResult => ({
    version,
    environments,
    triggers: triggerSpecs.map((g) => `${g.task}/${g.name}`),
    status,
    bundle: bundle && bundleUri ? { uri: bundleUri, digest: bundle.digest, files: bundle.files } : null,
    images,
    tasks: specs.map((s) => ({ ...s, version })),
    messages,
  });
  const existing = await store.getDeployment(scope, version);
  if (o.dryRun) {
    if (existing?.contentHash === contentHash) messages.push(`Version ${version} is already deployed with this content: deploying would change nothing.`);
    else if (existing) messages.push(`Version ${version} is already deployed with other content: deploying would fail. Choose a new version.`);
    return result("dry-run");
  }

  const taken = (existing: { createdAt: number }) =>
    new DeploymentError(
      `Version "${version}" is already deployed in ${scope.project}/${scope.domain} with different code or task specs (deployed ${new Date(existing.createdAt).toISOString()}). Deploy under a new version, or omit the version to use the content hash.`,
    );
  if (existing && existing.contentHash !== contentHash) throw taken(existing);

  if (bundle && bundleUri) {
    try {
      if (!(await blobStore.exists(bundleUri))) await blobStore.put(bundle.key, bundle.archive);
    } catch (e) {
      throw new CodeBundleError(`Cannot upload the code bundle to ${bundleUri}: ${(e as Error).message}. Check that the storage (${config.storage}) is reachable and writable.`, { cause: e });
    }
  }
  const now = Date.now();
  const taskRows: TaskSpecRow[] = specs.map((s) => ({ ...scope, name: s.name, version, environment: s.environment, spec: { ...s }, createdAt: now, deployedAt: now }));
  const triggerRows: TriggerRow[] = triggerSpecs.map((g) => ({ ...scope, taskName: g.task, name: g.name, version, spec: g.spec, active: g.active, activatedAt: g.active ? now : null, createdAt: now }));
  const put = await store.putDeployment(
    { ...scope, version, contentHash, bundleUri, bundleDigest: bundle?.digest ?? null, copyStyle, environments, createdAt: now },
    taskRows,
    triggerRows,
  );
  if (put.status === "conflict") throw taken(put.existing);
  if (put.status === "unchanged") {
    messages.push(put.promoted
      ? `Version ${version} was already deployed with this content; its tasks are the latest versions again.`
      : `Nothing changed: version ${version} is already deployed with this code and these task specs.`);
    return result("unchanged");
  }
  return result("deployed");
}
