/**
 * `build()` (← flyte-sdk `ImageBuildEngine`): decides whether an image must be built, then builds and pushes
 * it. The tag is the content identifier, so "the registry has this tag" means "this exact definition was
 * built and pushed"; a push that died half-way left no manifest, so the next build redoes it. Nothing else
 * records what was built.
 *
 * @example
 * ```ts
 * const { uri, built } = await build(env);            // env.image and every dependsOn image
 * await build(img, { force: true, builder: "buildah" });
 * ```
 * @module
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ImageBuildError, ValidationError } from "../errors.ts";
import { show } from "../internal/validate.ts";
import type { Secret } from "../secrets/secret.ts";
import { BuildahBuilder } from "./buildah-builder.ts";
import type { ImageBuilder } from "./builder.ts";
import { BUILDER_NAMES, getImageConfig, resolveImageRef, type BuilderName } from "./config.ts";
import { stageContext } from "./context.ts";
import { DockerBuilder } from "./docker-builder.ts";
import { renderDockerfile, type RenderedDockerfile } from "./dockerfile.ts";
import { Image } from "./image.ts";
import { isLocalRegistry, parseImageReference } from "./reference.ts";
import { manifestExists } from "./registry-check.ts";

/** What `build()` accepts besides an `Image`: any environment (typed structurally to avoid an import cycle). */
export interface BuildableEnvironment {
  readonly name: string;
  readonly image: string | Image;
  readonly dependsOn: readonly unknown[];
}

export type BuildProgress =
  | { readonly type: "check"; readonly uri: string }
  | { readonly type: "exists"; readonly uri: string }
  | { readonly type: "build"; readonly uri: string; readonly builder: string }
  | { readonly type: "log"; readonly uri: string; readonly line: string }
  | { readonly type: "built"; readonly uri: string; readonly pushed: boolean };

export interface BuildOptions {
  /** Build even when the image exists. @default false */
  force?: boolean;
  /** Backend by name or instance. @default config `image.builder`, else docker when its daemon answers, else buildah */
  builder?: BuilderName | ImageBuilder;
  /** Push images that have a registry. @default true */
  push?: boolean;
  /** Progress events (checks, builder output lines, results). @default undefined */
  onProgress?: (e: BuildProgress) => void;
}

export interface BuildResult {
  readonly uri: string;
  /** false when the image already existed (or there was nothing to build). */
  readonly built: boolean;
}

export interface EnvironmentBuildResult extends BuildResult {
  /** Names of the environments that use this image. */
  readonly environments: readonly string[];
}

type BuildSecretResolver = (secret: Secret) => string | undefined | Promise<string | undefined>;
let secretResolver: BuildSecretResolver | undefined;

/** Lets the secret store supply build-secret values (tried after the env vars). */
export function setBuildSecretResolver(fn: BuildSecretResolver | undefined): void {
  secretResolver = fn;
}

async function secretValue(s: Secret, uri: string): Promise<string> {
  const storeVar = `FLYTE_SECRET_${s.group ? `${s.group}_` : ""}${s.key}`.replaceAll("-", "_").toUpperCase();
  const candidates = [...(s.asEnvVar ? [s.asEnvVar] : []), storeVar];
  for (const v of candidates) {
    const value = process.env[v];
    if (value !== undefined) return value;
  }
  const fromStore = await secretResolver?.(s);
  if (fromStore !== undefined) return fromStore;
  throw new ImageBuildError(
    `Build secret ${show(s.group ? `${s.group}/${s.key}` : s.key)} for ${uri} has no value. Set the environment variable ${candidates.join(" or ")} before building.`,
  );
}

/** Successful probes only: a daemon that was down may be up on the next build of a long-lived process. */
const probes = new Map<ImageBuilder, ReturnType<ImageBuilder["probe"]>>();
function probe(b: ImageBuilder): ReturnType<ImageBuilder["probe"]> {
  let p = probes.get(b);
  if (!p) {
    p = b.probe();
    probes.set(b, p);
    void p.then((r) => r.ok || probes.delete(b), () => probes.delete(b));
  }
  return p;
}
const defaults: Record<BuilderName, ImageBuilder> = { docker: new DockerBuilder(), buildah: new BuildahBuilder() };

/** The builder to use: the one asked for (checked), else docker when usable, else buildah. */
export async function selectBuilder(requested?: BuilderName | ImageBuilder): Promise<ImageBuilder> {
  const choice = requested ?? getImageConfig().builder;
  if (typeof choice === "string" && !BUILDER_NAMES.includes(choice)) {
    throw new ValidationError(`build: builder ${show(choice)} is not a builder. Use "docker" or "buildah".`, { field: "builder" });
  }
  const candidates = choice === undefined ? [defaults.docker, defaults.buildah] : [typeof choice === "string" ? defaults[choice] : choice];
  const problems: { name: string; why: string }[] = [];
  for (const b of candidates) {
    const p = await probe(b);
    if (p.ok) return b;
    problems.push({ name: b.name, why: `${p.reason}. ${p.fix}` });
  }
  throw new ImageBuildError(
    choice === undefined
      ? `No image builder is usable here.\n  ${problems.map((p) => `${p.name}: ${p.why}`).join("\n  ")}`
      : `The ${problems[0]!.name} image builder is not usable here: ${problems[0]!.why}`,
  );
}

/** The registry part of a URI, when it names one. */
function registryOf(uri: string): string | undefined {
  return parseImageReference(uri, "build", "uri").registry;
}

async function exists(image: Image, uri: string, push: boolean, builder: () => Promise<ImageBuilder>): Promise<boolean> {
  if (push && registryOf(uri)) return manifestExists(uri, { platforms: image.platform });
  return (await builder()).existsLocally(uri);
}

async function buildNow(image: Image, uri: string, push: boolean, builder: ImageBuilder, o: BuildOptions): Promise<void> {
  image.validate();
  const work = mkdtempSync(join(tmpdir(), "flyte-image-"));
  try {
    let contextDir: string;
    let dockerfile: string;
    let secretUses: readonly { id: string; secret: Secret }[] = [];
    let baseImage: string | undefined;
    if (image.base.kind === "dockerfile") {
      // The user's Dockerfile builds in its own folder; the tool applies that folder's .dockerignore itself.
      dockerfile = image.base.path;
      contextDir = dirname(dockerfile);
    } else {
      const rendered = dockerfileFor(image);
      baseImage = rendered.baseImage;
      contextDir = join(work, "context");
      mkdirSync(contextDir);
      stageContext(contextDir, rendered);
      dockerfile = join(contextDir, "Dockerfile");
      secretUses = rendered.secrets;
    }
    const secrets: { id: string; src: string }[] = [];
    for (const u of secretUses) {
      const src = join(work, `secret-${secrets.length}`);
      // Only the builder reads it, and the whole work folder is removed after the build.
      writeFileSync(src, await secretValue(u.secret, uri), { mode: 0o600 });
      secrets.push({ id: u.id, src });
    }
    const pushTo = push ? registryOf(uri) : undefined;
    const baseRegistry = baseImage && baseImage !== "scratch" ? registryOf(baseImage) : undefined;
    o.onProgress?.({ type: "build", uri, builder: builder.name });
    await builder.build({
      uri,
      contextDir,
      dockerfile,
      platforms: image.platform,
      push: pushTo !== undefined,
      insecurePush: pushTo !== undefined && isLocalRegistry(pushTo),
      insecurePull: baseRegistry !== undefined && isLocalRegistry(baseRegistry),
      secrets,
      onLine: o.onProgress ? (line) => o.onProgress!({ type: "log", uri, line }) : undefined,
    });
    o.onProgress?.({ type: "built", uri, pushed: pushTo !== undefined });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The generated Dockerfile of a layered image (not for `fromDockerfile` images, which bring their own). */
export function dockerfileFor(image: Image): RenderedDockerfile & { readonly baseImage: string } {
  if (image.base.kind === "dockerfile") {
    throw new ValidationError(`Image ${image.name}: a fromDockerfile image uses its own Dockerfile (${image.base.path}); nothing is generated.`);
  }
  const baseImage = image.base.kind === "ref" ? resolveImageRef(image.base.name) : image.baseImage!;
  return { ...renderDockerfile({ base: image.base, baseImage, layers: image.layers, identifier: image.identifier }), baseImage };
}

const inFlight = new Map<string, Promise<BuildResult>>();

/** Builds one image unless it exists; concurrent calls for the same URI share one build. */
export function buildImage(image: Image, o: BuildOptions = {}): Promise<BuildResult> {
  if (!(image instanceof Image)) {
    return Promise.reject(new ValidationError(`build: expected an Image or an environment, got ${show(image)}.`));
  }
  if (!image.needsBuild) return Promise.resolve({ uri: image.uri, built: false });
  const uri = image.uri;
  const push = o.push ?? true;
  const key = `${uri}|${push}|${o.force === true}`;
  let p = inFlight.get(key);
  if (!p) {
    p = (async () => {
      let chosen: Promise<ImageBuilder> | undefined;
      const builder = () => (chosen ??= selectBuilder(o.builder));
      if (!o.force) {
        o.onProgress?.({ type: "check", uri });
        if (await exists(image, uri, push, builder)) {
          o.onProgress?.({ type: "exists", uri });
          return { uri, built: false };
        }
      }
      await buildNow(image, uri, push, await builder(), o);
      return { uri, built: true };
    })().finally(() => inFlight.delete(key));
    inFlight.set(key, p);
  }
  return p;
}

function isEnvironment(v: unknown): v is BuildableEnvironment {
  return typeof v === "object" && v !== null && typeof (v as BuildableEnvironment).name === "string" && "image" in v && Array.isArray((v as BuildableEnvironment).dependsOn);
}

/** The image an environment runs in: `"auto"` is the default Debian/Node image, a string URI is used as is. */
export function environmentImage(env: BuildableEnvironment): Image {
  if (env.image instanceof Image) return env.image;
  if (env.image === "auto") return Image.fromDebianBase();
  return Image.fromBaseImage(env.image);
}

/** The environments and, transitively, their `dependsOn`, each once, dependencies before their dependents. */
export function collectEnvironments(envs: readonly BuildableEnvironment[]): BuildableEnvironment[] {
  const seen = new Set<BuildableEnvironment>();
  const out: BuildableEnvironment[] = [];
  const visit = (e: BuildableEnvironment) => {
    if (seen.has(e)) return;
    seen.add(e);
    for (const d of e.dependsOn) if (isEnvironment(d)) visit(d);
    out.push(e);
  };
  envs.forEach(visit);
  return out;
}

/**
 * Builds the images of environments and their `dependsOn`, one at a time (builds are CPU- and disk-heavy, and
 * sequential output stays readable). Environments sharing an image URI share one result.
 */
export async function buildEnvironments(envs: readonly BuildableEnvironment[], o: BuildOptions = {}): Promise<EnvironmentBuildResult[]> {
  const byUri = new Map<string, { image: Image; environments: string[] }>();
  for (const env of collectEnvironments(envs)) {
    const image = environmentImage(env);
    const uri = image.uri;
    const entry = byUri.get(uri) ?? { image, environments: [] };
    entry.environments.push(env.name);
    byUri.set(uri, entry);
  }
  const results: EnvironmentBuildResult[] = [];
  for (const { image, environments } of byUri.values()) {
    results.push({ ...(await buildImage(image, o)), environments });
  }
  return results;
}

/**
 * Builds an image, or an environment's image together with those of its `dependsOn`, skipping any the registry
 * (or, without a registry or with `push: false`, the local store) already has. Returns the given image's (or
 * environment's) `{ uri, built }`.
 */
export async function build(target: Image | BuildableEnvironment, o: BuildOptions = {}): Promise<BuildResult> {
  if (target instanceof Image) return buildImage(target, o);
  if (!isEnvironment(target)) {
    throw new ValidationError(`build: expected an Image or an environment (with name, image and dependsOn), got ${show(target)}.`);
  }
  const own = environmentImage(target).uri;
  const results = await buildEnvironments([target], o);
  const mine = results.find((r) => r.uri === own)!;
  return { uri: mine.uri, built: mine.built };
}
