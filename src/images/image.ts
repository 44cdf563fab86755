/**
 * `Image`: a container image declared in code (API.md §4) ← flyte-sdk `Image`. Immutable: every `with*` returns
 * a new `Image`. Its `identifier` hashes the definition (file contents included), so `build()` can tell from the
 * tag alone whether the registry already has it.
 *
 * @example
 * ```ts
 * const img = Image.fromDebianBase({ node: "22", registry: "ghcr.io/acme", name: "etl" })
 *   .withAptPackages("git")
 *   .withPackageJson("./package.json")
 *   .withEnvVars({ NODE_ENV: "production" });
 * img.uri; // "ghcr.io/acme/etl:<32 hex>"
 * ```
 *
 * Local paths (`withSourceFolder`, `withPackageJson`, ...) may be strings, resolved against the working
 * directory when the layer is added, or `file:` URLs such as `new URL("./src", import.meta.url)`, which resolve
 * against the defining module wherever `flyte` is started.
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { ImageBuildError, ValidationError } from "../errors.ts";
import { checkKeys, show } from "../internal/validate.ts";
import { Secret, type SecretRequest } from "../secrets/secret.ts";
import { version } from "../version.ts";
import { getImageConfig, resolveImageRef } from "./config.ts";
import { computeIdentifier } from "./identifier.ts";
import type { ImageBase, ImageLayer } from "./layers.ts";
import { parseImageReference, validateImageName, validateRegistry } from "./reference.ts";
import {
  resolveLocalPath, splitVariadic, validateEnvVars, validateImagePath, validateLine, validateOptionalBoolean, validatePackages,
  validatePlatforms, validateSecretMounts, validateStringList, validateUrl, type Platform,
} from "./validate.ts";

import type { CloneOptions, DebianBaseOptions, NpmPackagesOptions, PackageJsonOptions, PipPackagesOptions } from "./image-options.ts";

export type { Platform } from "./validate.ts";
export type { CloneOptions, DebianBaseOptions, NpmPackagesOptions, PackageJsonOptions, PipPackagesOptions } from "./image-options.ts";

/** Node majors with a `node:<major>-bookworm-slim` base that flyte-ts supports. */
export const SUPPORTED_NODE_MAJORS = ["20", "22", "24"] as const;
const DEFAULT_NAME = "flyte-ts";
const DEFAULT_PLATFORM: readonly Platform[] = Object.freeze(["linux/amd64"]);
const TOKEN = Symbol("Image.new");

interface ImageState {
  readonly base: ImageBase;
  readonly registry?: string;
  readonly name?: string;
  readonly registrySecret?: Secret;
  readonly platform: readonly Platform[];
  readonly layers: readonly ImageLayer[];
  readonly extendable: boolean;
}

function toSecret(v: unknown, owner: string): Secret | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "string") return new Secret({ key: v });
  if (v instanceof Secret) return v;
  throw new ValidationError(`${owner}: registrySecret must be a secret key or a Secret, got ${show(v)}.`, { field: "registrySecret" });
}

/** A container image built from a base and layers; create one with `Image.from*`. */
export class Image {
  /** @internal What the image starts from. */
  readonly base: ImageBase;
  /** The base image reference (undefined for Dockerfile and not-yet-resolved ref images). */
  readonly baseImage?: string;
  /** Absolute path of the Dockerfile for `fromDockerfile` images. */
  readonly dockerfile?: string;
  readonly registry?: string;
  readonly name?: string;
  /** The config `images.<name>` key for `fromRefName` images. */
  readonly refName?: string;
  readonly registrySecret?: Secret;
  readonly platform: readonly Platform[];
  readonly layers: readonly ImageLayer[];
  readonly extendable: boolean;

  private constructor(token?: unknown, s?: ImageState) {
    if (token !== TOKEN || s === undefined) {
      throw new ValidationError(
        "Image cannot be created with new Image(). Use Image.fromDebianBase(), Image.fromBaseImage(uri), Image.fromDockerfile(path, { registry, name }) or Image.fromRefName(name).",
      );
    }
    this.base = s.base;
    if (s.base.kind === "debian") this.baseImage = `node:${s.base.node}-bookworm-slim`;
    if (s.base.kind === "image") this.baseImage = s.base.uri;
    if (s.base.kind === "dockerfile") this.dockerfile = s.base.path;
    if (s.base.kind === "ref") this.refName = s.base.name;
    if (s.registry !== undefined) this.registry = s.registry;
    if (s.name !== undefined) this.name = s.name;
    if (s.registrySecret !== undefined) this.registrySecret = s.registrySecret;
    this.platform = s.platform;
    this.layers = Object.freeze([...s.layers]);
    this.extendable = s.extendable;
    Object.freeze(this);
  }

  /** `node:<node>-bookworm-slim` with the flyte-ts runtime installed; runs as the non-root `node` user. */
  static fromDebianBase(o: DebianBaseOptions = {}): Image {
    const owner = "Image.fromDebianBase";
    checkKeys(o, ["node", "flyteVersion", "installFlyte", "registry", "name", "registrySecret", "platform"], owner);
    const node = o.node ?? process.versions.node.split(".")[0]!;
    if (o.node !== undefined && !(SUPPORTED_NODE_MAJORS as readonly unknown[]).includes(o.node)) {
      throw new ValidationError(`${owner}: node ${show(o.node)} is not supported. Use one of ${SUPPORTED_NODE_MAJORS.map((n) => `"${n}"`).join(", ")}.`, {
        field: "node",
      });
    }
    const flyteVersion = o.flyteVersion ?? version;
    if (typeof flyteVersion !== "string" || !/^[A-Za-z0-9][\w.+-]*$/.test(flyteVersion)) {
      throw new ValidationError(`${owner}: flyteVersion ${show(o.flyteVersion)} is not an npm version or tag. Example: "0.1.0".`, { field: "flyteVersion" });
    }
    const installFlyte = validateOptionalBoolean(o.installFlyte, owner, "installFlyte") ?? true;
    return new Image(TOKEN, {
      base: Object.freeze({ kind: "debian", node, flyteVersion, installFlyte }),
      ...(o.registry !== undefined ? { registry: validateRegistry(o.registry, owner) } : {}),
      name: o.name === undefined ? DEFAULT_NAME : validateImageName(o.name, owner),
      ...(o.registrySecret !== undefined ? { registrySecret: toSecret(o.registrySecret, owner) } : {}),
      platform: o.platform === undefined ? DEFAULT_PLATFORM : validatePlatforms(o.platform, owner),
      layers: [],
      extendable: true,
    });
  }

  /** An existing image, used as is; add layers after `.clone({ name })`. `"scratch"` starts from nothing. */
  static fromBaseImage(uri: string): Image {
    if (uri !== "scratch") parseImageReference(uri, "Image.fromBaseImage");
    return new Image(TOKEN, { base: Object.freeze({ kind: "image", uri }), platform: DEFAULT_PLATFORM, layers: [], extendable: true });
  }

  /** The user's Dockerfile, built with its folder as context. Layers cannot be added. */
  static fromDockerfile(path: string | URL, o: { registry: string; name: string; platform?: Platform[] }): Image {
    const owner = "Image.fromDockerfile";
    if (o === undefined) {
      throw new ValidationError(`${owner}: options { registry, name } are required, e.g. Image.fromDockerfile("./Dockerfile", { registry: "ghcr.io/acme", name: "etl" }).`);
    }
    checkKeys(o, ["registry", "name", "platform"], owner);
    return new Image(TOKEN, {
      base: Object.freeze({ kind: "dockerfile", path: resolveLocalPath(path, owner, "path") }),
      registry: validateRegistry(o.registry, owner),
      name: validateImageName(o.name, owner),
      platform: o.platform === undefined ? DEFAULT_PLATFORM : validatePlatforms(o.platform, owner),
      layers: [],
      extendable: false,
    });
  }

  /** The image configured as `images.<name>` (resolved when `uri` is read, so the config may load later). */
  static fromRefName(name: string): Image {
    validateImageName(name, "Image.fromRefName");
    return new Image(TOKEN, { base: Object.freeze({ kind: "ref", name }), name, platform: DEFAULT_PLATFORM, layers: [], extendable: true });
  }

  /** The content identifier: 32 lowercase hex characters (see identifier.ts). */
  get identifier(): string {
    return computeIdentifier(this.base, this.layers, this.platform, this.base.kind === "ref" ? resolveImageRef(this.base.name) : undefined);
  }

  /** Where the image lives: the base URI when nothing is built, else `[registry/]name:identifier`. */
  get uri(): string {
    if (this.layers.length === 0 && this.base.kind === "image") return this.base.uri;
    if (this.layers.length === 0 && this.base.kind === "ref") return resolveImageRef(this.base.name);
    const registry = this.registry ?? getImageConfig().registry;
    return `${registry ? `${registry}/` : ""}${this.name}:${this.identifier}`;
  }

  /** Whether `build()` has anything to build (false for a bare base or ref image). */
  get needsBuild(): boolean {
    return this.layers.length > 0 || this.base.kind === "debian" || this.base.kind === "dockerfile";
  }

  withNpmPackages(...packages: string[]): Image;
  withNpmPackages(packages: readonly string[], o?: NpmPackagesOptions): Image;
  withNpmPackages(...args: unknown[]): Image {
    const owner = "Image.withNpmPackages";
    const { items, options: o = {} } = splitVariadic<NpmPackagesOptions>(args, owner);
    checkKeys(o, ["registry", "extraArgs", "secretMounts"], owner);
    return this.#add(owner, {
      kind: "npm",
      packages: validatePackages(items, "npm", owner),
      ...opt("registry", validateUrl(o.registry, owner, "registry")),
      ...opt("extraArgs", validateStringList(o.extraArgs, owner, "extraArgs", `["--legacy-peer-deps"]`)),
      ...opt("secretMounts", validateSecretMounts(o.secretMounts, owner)),
    });
  }

  withPackageJson(path: string | URL, o: PackageJsonOptions = {}): Image {
    const owner = "Image.withPackageJson";
    checkKeys(o, ["lockfile", "production", "secretMounts"], owner);
    const abs = resolveLocalPath(path, owner, "path");
    // Picked up at definition time so the layer (and its identifier) say which lockfile was used.
    const lockfile = o.lockfile !== undefined
      ? resolveLocalPath(o.lockfile, owner, "lockfile")
      : ["package-lock.json", "npm-shrinkwrap.json"].map((f) => join(dirname(abs), f)).find((f) => existsSync(f));
    return this.#add(owner, {
      kind: "packageJson",
      path: abs,
      ...opt("lockfile", lockfile),
      production: validateOptionalBoolean(o.production, owner, "production") ?? true,
      ...opt("secretMounts", validateSecretMounts(o.secretMounts, owner)),
    });
  }

  withAptPackages(...packages: string[]): Image;
  withAptPackages(packages: readonly string[], o?: { secretMounts?: SecretRequest }): Image;
  withAptPackages(...args: unknown[]): Image {
    const owner = "Image.withAptPackages";
    const { items, options: o = {} } = splitVariadic<{ secretMounts?: SecretRequest }>(args, owner);
    checkKeys(o, ["secretMounts"], owner);
    return this.#add(owner, {
      kind: "apt",
      packages: validatePackages(items, "apt", owner),
      ...opt("secretMounts", validateSecretMounts(o.secretMounts, owner)),
    });
  }

  withEnvVars(vars: Record<string, string>): Image {
    return this.#add("Image.withEnvVars", { kind: "env", vars: validateEnvVars(vars, "Image.withEnvVars") });
  }

  /** Copies a folder (honouring its `.dockerignore` and `withDockerignore`) to `dst/<folder name>`, or into `dst`. */
  withSourceFolder(src: string | URL, dst = ".", o: { copyContentsOnly?: boolean } = {}): Image {
    const owner = "Image.withSourceFolder";
    checkKeys(o, ["copyContentsOnly"], owner);
    return this.#add(owner, {
      kind: "copy",
      type: "dir",
      src: resolveLocalPath(src, owner, "src"),
      dst: validateImagePath(dst, owner, "dst", false),
      ...opt("copyContentsOnly", validateOptionalBoolean(o.copyContentsOnly, owner, "copyContentsOnly")),
    });
  }

  /** Copies files; `dst` "." or ending in "/" keeps their names. Several files add one layer each. */
  withSourceFile(src: string | URL | ReadonlyArray<string | URL>, dst = "."): Image {
    const owner = "Image.withSourceFile";
    const list = Array.isArray(src) ? src : [src];
    if (list.length === 0) throw new ValidationError(`${owner}: no files given. Pass a path or an array of paths.`, { field: "src" });
    validateImagePath(dst, owner, "dst", false);
    // Several files cannot share one file name, so dst is then a directory.
    const target = list.length > 1 && dst !== "." && !dst.endsWith("/") ? `${dst}/` : dst;
    let img: Image = this;
    for (const s of list) img = img.#add(owner, { kind: "copy", type: "file", src: resolveLocalPath(s, owner, "src"), dst: target });
    return img;
  }

  /** One `RUN` per command, as root for Debian-based images. */
  withCommands(commands: string[], o: { secretMounts?: SecretRequest } = {}): Image {
    const owner = "Image.withCommands";
    checkKeys(o, ["secretMounts"], owner);
    if (!Array.isArray(commands) || commands.length === 0) {
      throw new ValidationError(`${owner}: commands must be a non-empty array of shell commands, got ${show(commands)}. Example: ["mkdir -p /data"].`, {
        field: "commands",
      });
    }
    for (const c of commands) validateLine(c, owner, "commands", `["mkdir -p /data"] (join steps with && instead of newlines)`);
    return this.#add(owner, {
      kind: "commands",
      commands: Object.freeze([...commands]),
      ...opt("secretMounts", validateSecretMounts(o.secretMounts, owner)),
    });
  }

  withWorkdir(dir: string): Image {
    return this.#add("Image.withWorkdir", { kind: "workdir", dir: validateImagePath(dir, "Image.withWorkdir", "dir", true) });
  }

  withDockerignore(path: string | URL): Image {
    return this.#add("Image.withDockerignore", { kind: "dockerignore", path: resolveLocalPath(path, "Image.withDockerignore", "path") });
  }

  withPipPackages(...packages: string[]): Image;
  withPipPackages(packages: readonly string[], o?: PipPackagesOptions): Image;
  withPipPackages(...args: unknown[]): Image {
    const owner = "Image.withPipPackages";
    const { items, options: o = {} } = splitVariadic<PipPackagesOptions>(args, owner);
    checkKeys(o, ["indexUrl", "extraIndexUrls", "pre", "extraArgs", "secretMounts"], owner);
    const extraIndexUrls = validateStringList(o.extraIndexUrls, owner, "extraIndexUrls", `["https://download.pytorch.org/whl/cpu"]`);
    extraIndexUrls?.forEach((u) => validateUrl(u, owner, "extraIndexUrls"));
    return this.#add(owner, {
      kind: "pip",
      packages: validatePackages(items, "pip", owner),
      ...opt("indexUrl", validateUrl(o.indexUrl, owner, "indexUrl")),
      ...opt("extraIndexUrls", extraIndexUrls),
      ...opt("pre", validateOptionalBoolean(o.pre, owner, "pre")),
      ...opt("extraArgs", validateStringList(o.extraArgs, owner, "extraArgs", `["--no-deps"]`)),
      ...opt("secretMounts", validateSecretMounts(o.secretMounts, owner)),
    });
  }

  withRequirements(path: string | URL, o: { secretMounts?: SecretRequest } = {}): Image {
    const owner = "Image.withRequirements";
    checkKeys(o, ["secretMounts"], owner);
    return this.#add(owner, {
      kind: "requirements",
      path: resolveLocalPath(path, owner, "path"),
      ...opt("secretMounts", validateSecretMounts(o.secretMounts, owner)),
    });
  }

  withUvProject(o: { pyproject: string | URL; uvlock?: string | URL; extraArgs?: string[]; secretMounts?: SecretRequest }): Image {
    const owner = "Image.withUvProject";
    if (o === undefined) throw new ValidationError(`${owner}: options { pyproject } are required, e.g. { pyproject: "./pyproject.toml" }.`);
    checkKeys(o, ["pyproject", "uvlock", "extraArgs", "secretMounts"], owner);
    return this.#add(owner, {
      kind: "uvProject",
      pyproject: resolveLocalPath(o.pyproject, owner, "pyproject"),
      ...opt("uvlock", o.uvlock === undefined ? undefined : resolveLocalPath(o.uvlock, owner, "uvlock")),
      ...opt("extraArgs", validateStringList(o.extraArgs, owner, "extraArgs", `["--no-dev"]`)),
      ...opt("secretMounts", validateSecretMounts(o.secretMounts, owner)),
    });
  }

  /** A copy with another registry, name, registry secret or platform; layers are kept. */
  clone(o: CloneOptions = {}): Image {
    const owner = "Image.clone";
    checkKeys(o, ["registry", "name", "registrySecret", "platform", "extendable"], owner);
    const registry = o.registry === undefined ? this.registry : validateRegistry(o.registry, owner);
    const name = o.name === undefined ? this.name : validateImageName(o.name, owner);
    const registrySecret = o.registrySecret === undefined ? this.registrySecret : toSecret(o.registrySecret, owner);
    return new Image(TOKEN, {
      base: this.base,
      ...opt("registry", registry),
      ...opt("name", name),
      ...opt("registrySecret", registrySecret),
      platform: o.platform === undefined ? this.platform : validatePlatforms(o.platform, owner),
      layers: this.layers,
      extendable: (validateOptionalBoolean(o.extendable, owner, "extendable") ?? this.extendable) && this.base.kind !== "dockerfile",
    });
  }

  /** Checks that every local file the image reads exists; `ImageBuildError` naming the first that does not. */
  validate(): void {
    const at = `Image ${this.name ?? this.baseImage ?? ""}`.trimEnd();
    const need = (path: string, kind: "file" | "dir", what: string): void => {
      let ok = false;
      try {
        const st = statSync(path);
        ok = kind === "dir" ? st.isDirectory() : st.isFile();
      } catch {
        ok = false;
      }
      if (!ok) {
        const state = existsSync(path) ? `is not a ${kind === "dir" ? "directory" : "file"}` : "does not exist";
        throw new ImageBuildError(`${at}: ${what} ${path} ${state}. Fix the path (relative paths resolve against the directory the definition ran in) or create it.`);
      }
    };
    if (this.base.kind === "dockerfile") need(this.base.path, "file", "Image.fromDockerfile: Dockerfile");
    for (const l of this.layers) {
      if (l.kind === "copy") need(l.src, l.type, l.type === "dir" ? "withSourceFolder: source folder" : "withSourceFile: source file");
      if (l.kind === "packageJson") {
        need(l.path, "file", "withPackageJson: package.json");
        if (l.lockfile) need(l.lockfile, "file", "withPackageJson: lockfile");
      }
      if (l.kind === "requirements") need(l.path, "file", "withRequirements: requirements file");
      if (l.kind === "uvProject") {
        need(l.pyproject, "file", "withUvProject: pyproject");
        if (l.uvlock) need(l.uvlock, "file", "withUvProject: uvlock");
      }
      if (l.kind === "dockerignore") need(l.path, "file", "withDockerignore: ignore file");
    }
  }

  #add(owner: string, layer: ImageLayer): Image {
    if (this.base.kind === "dockerfile") {
      throw new ValidationError(`${owner}: Cannot add layers to a Dockerfile-based image; edit the Dockerfile (${this.base.path}) instead.`);
    }
    if (!this.extendable) {
      throw new ValidationError(`${owner}: image ${show(this.name)} was cloned with extendable: false, so layers cannot be added. Add them before that clone, or clone with extendable: true.`);
    }
    if (this.name === undefined) {
      throw new ValidationError(
        `${owner}: image ${show(this.baseImage)} has no name, so a layered image could not be tagged; call .clone({ name }) first, e.g. Image.fromBaseImage(${show(this.baseImage)}).clone({ name: "my-image" }).`,
      );
    }
    return new Image(TOKEN, {
      base: this.base,
      ...opt("registry", this.registry),
      name: this.name,
      ...opt("registrySecret", this.registrySecret),
      platform: this.platform,
      layers: [...this.layers, Object.freeze(layer)],
      extendable: true,
    });
  }
}

/** `{ [key]: value }` when value is defined, else `{}`: keeps undefined members out of frozen layers. */
function opt<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
