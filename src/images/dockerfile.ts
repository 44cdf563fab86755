/**
 * Dockerfile generation: one commented block per layer, in layer order, so the file reads like the `Image`
 * definition it came from. Generation is pure (no file access); the files the Dockerfile COPYs are listed in
 * `context` and staged by `context.ts` under `layer-<index>/`.
 *
 * Choices that the output relies on:
 * - `RUN --mount=type=cache` for npm, apt and uv caches: repeated builds reuse downloads without baking caches
 *   into layers (Debian's docker-clean hook is removed first so the apt cache survives).
 * - Build secrets are file mounts exported as env vars inside the one `RUN` that needs them; BuildKit and
 *   buildah both support `type=secret,target=`, while `env=` is BuildKit-only.
 * - Multi-stage: `uv` is copied from its image stage rather than curl-installed, so Python layers need no
 *   network fetch of the installer and the stage is cached independently of the layers before it.
 * - Debian images build as root and end as the non-root `node` user (uid 1000) of the official Node images.
 * @module
 */
import { basename, posix } from "node:path";
import type { Secret } from "../secrets/secret.ts";
import type { ImageBase, ImageLayer } from "./layers.ts";
import { isPythonLayer, layerSecrets } from "./layers.ts";

/** The uv image the Python tooling is copied from (pinned so the identifier means the same image). */
export const UV_IMAGE = "ghcr.io/astral-sh/uv:0.8.13";
export const IDENTIFIER_LABEL = "org.flyte-ts.image.identifier";
const NPM_CACHE = "--mount=type=cache,target=/root/.npm,id=flyte-ts-npm,sharing=locked";
const UV_CACHE = "--mount=type=cache,target=/root/.cache/uv,id=flyte-ts-uv,sharing=locked";
const APT_CACHE = [
  "--mount=type=cache,target=/var/cache/apt,id=flyte-ts-apt,sharing=locked",
  "--mount=type=cache,target=/var/lib/apt/lists,id=flyte-ts-apt-lists,sharing=locked",
];
const APT_INSTALL = "rm -f /etc/apt/apt.conf.d/docker-clean && apt-get update && apt-get install -y --no-install-recommends";

/** A local file or folder the Dockerfile COPYs or mounts, and where it goes in the build context. */
export interface ContextItem {
  readonly src: string;
  /** `/`-separated path inside the build context. */
  readonly dest: string;
  readonly type: "file" | "dir";
  /** Folders: the ignore files whose patterns apply (the folder's own `.dockerignore` is always read too). */
  readonly ignoreFiles?: readonly string[];
}

/** A build secret the Dockerfile mounts; the builder passes its value as `--secret id=<id>,src=<file>`. */
export interface SecretUse {
  readonly id: string;
  readonly secret: Secret;
}

export interface RenderedDockerfile {
  readonly dockerfile: string;
  readonly context: readonly ContextItem[];
  readonly secrets: readonly SecretUse[];
}

/** The input of `renderDockerfile`: what an `Image` holds, plus its base URI resolved for ref images. */
export interface RenderInput {
  readonly base: Exclude<ImageBase, { kind: "dockerfile" }>;
  readonly baseImage: string;
  readonly layers: readonly ImageLayer[];
  readonly identifier: string;
}

/** Quotes a word for `/bin/sh` unless it is plainly safe, so package specs like `numpy>=1.26` stay one word. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9@%+=:,./_^-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The secret's id on the build command line and in `--mount=type=secret,id=`. */
export function secretId(s: Secret): string {
  return (s.group ? `${s.group}.${s.key}` : s.key).replace(/[^A-Za-z0-9_.-]/g, "_");
}

/** Where a secret is mounted during the RUN: its declared `/etc/flyte/secrets` path, else under /run/secrets. */
function secretTarget(s: Secret): string {
  if (s.mount) return posix.join(s.mount, ...(s.group ? [s.group] : []), s.key);
  return `/run/secrets/${secretId(s)}`;
}

/** `RUN` with mounts and secret exports, one option or step per continuation line. */
function run(mounts: readonly string[], secrets: readonly Secret[], command: string): string {
  const parts = [...mounts, ...secrets.map((s) => `--mount=type=secret,id=${secretId(s)},target=${secretTarget(s)}`)];
  const exports = secrets.filter((s) => s.asEnvVar).map((s) => `export ${s.asEnvVar}="$(cat ${secretTarget(s)})" &&`);
  return `RUN ${[...parts, ...exports, command].join(" \\\n    ")}`;
}

function envLine(vars: Readonly<Record<string, string>>): string {
  // Double quotes keep spaces; `$VAR` still expands (e.g. PATH="/opt/bin:$PATH"), as in a Dockerfile.
  const pairs = Object.entries(vars).map(([k, v]) => `${k}="${v.replace(/[\\"]/g, "\\$&")}"`);
  return `ENV ${pairs.join(" \\\n    ")}`;
}

/** A relative image path written as `./x` so it reads as relative to WORKDIR. */
function imagePath(p: string, dir: boolean): string {
  let out = p.startsWith("/") || p.startsWith("./") || p === "." ? p : `./${p}`;
  if (dir && !out.endsWith("/")) out += "/";
  return out;
}

function pythonTooling(): string[] {
  return [
    "# Python tooling for the Python layers below: python3, uv, and a venv at /opt/venv on PATH",
    run(APT_CACHE, [], `${APT_INSTALL} python3 python3-venv`),
    "COPY --from=uv /uv /uvx /usr/local/bin/",
    "RUN uv venv /opt/venv --python /usr/bin/python3",
    envLine({ VIRTUAL_ENV: "/opt/venv", PATH: "/opt/venv/bin:$PATH", UV_PYTHON: "/opt/venv/bin/python", UV_LINK_MODE: "copy" }),
  ];
}

/** One layer's Dockerfile block (lines, without the comment), adding what it needs from the context. */
function renderLayer(l: ImageLayer, index: number, ctx: ContextItem[], ignoreFiles: readonly string[]): string[] {
  const dir = `layer-${index}`;
  switch (l.kind) {
    case "npm": {
      const args = [...(l.registry ? [`--registry=${l.registry}`] : []), ...(l.extraArgs ?? []), ...l.packages];
      return [run([NPM_CACHE], layerSecrets(l), `npm install --no-fund --no-audit ${args.map(shellQuote).join(" ")}`)];
    }
    case "packageJson": {
      const lockName = l.lockfile && basename(l.lockfile) === "npm-shrinkwrap.json" ? "npm-shrinkwrap.json" : "package-lock.json";
      ctx.push({ src: l.path, dest: `${dir}/package.json`, type: "file" });
      if (l.lockfile) ctx.push({ src: l.lockfile, dest: `${dir}/${lockName}`, type: "file" });
      const files = [`${dir}/package.json`, ...(l.lockfile ? [`${dir}/${lockName}`] : [])];
      const install = `${l.lockfile ? "npm ci" : "npm install"}${l.production ? " --omit=dev" : ""} --no-fund --no-audit`;
      return [`COPY ${files.join(" ")} ./`, run([NPM_CACHE], layerSecrets(l), install)];
    }
    case "apt":
      return [run(APT_CACHE, layerSecrets(l), `${APT_INSTALL} ${l.packages.map(shellQuote).join(" ")}`)];
    case "env":
      return [envLine(l.vars)];
    case "copy": {
      const name = basename(l.src);
      if (l.type === "file") {
        ctx.push({ src: l.src, dest: `${dir}/${name}`, type: "file" });
        const toDir = l.dst === "." || l.dst.endsWith("/");
        return [`COPY ${dir}/${name} ${imagePath(l.dst, toDir)}`];
      }
      ctx.push({ src: l.src, dest: dir, type: "dir", ignoreFiles });
      return [`COPY ${dir}/ ${imagePath(l.copyContentsOnly ? l.dst : posix.join(l.dst, name), true)}`];
    }
    case "commands":
      return l.commands.map((c) => run([], layerSecrets(l), c));
    case "workdir":
      return [`WORKDIR ${l.dir}`];
    case "dockerignore":
      return [];
    case "pip": {
      const args = [
        ...(l.indexUrl ? ["--index-url", l.indexUrl] : []),
        ...(l.extraIndexUrls ?? []).flatMap((u) => ["--extra-index-url", u]),
        ...(l.pre ? ["--prerelease=allow"] : []),
        ...(l.extraArgs ?? []),
        ...l.packages,
      ];
      return [run([UV_CACHE], layerSecrets(l), `uv pip install ${args.map(shellQuote).join(" ")}`)];
    }
    case "requirements": {
      ctx.push({ src: l.path, dest: `${dir}/requirements.txt`, type: "file" });
      const mount = `--mount=type=bind,source=${dir}/requirements.txt,target=/tmp/flyte-ts/requirements.txt`;
      return [run([mount, UV_CACHE], layerSecrets(l), "uv pip install --requirement /tmp/flyte-ts/requirements.txt")];
    }
    case "uvProject": {
      ctx.push({ src: l.pyproject, dest: `${dir}/pyproject.toml`, type: "file" });
      if (l.uvlock) ctx.push({ src: l.uvlock, dest: `${dir}/uv.lock`, type: "file" });
      // rw: uv may write next to pyproject.toml; writes to a bind mount are discarded after the RUN.
      const mount = `--mount=type=bind,source=${dir},target=/tmp/flyte-ts/uv-project,rw`;
      const args = ["--active", ...(l.uvlock ? ["--locked"] : []), "--no-install-project", ...(l.extraArgs ?? [])];
      return [run([mount, UV_CACHE], layerSecrets(l), `uv sync --project /tmp/flyte-ts/uv-project ${args.map(shellQuote).join(" ")}`)];
    }
  }
}

/** A one-line description of a layer for the comment above its block. */
function describe(l: ImageLayer): string {
  switch (l.kind) {
    case "npm": return `withNpmPackages: ${l.packages.join(" ")}`;
    case "packageJson": return `withPackageJson: ${basename(l.path)}${l.lockfile ? ` + ${basename(l.lockfile)}` : ""}`;
    case "apt": return `withAptPackages: ${l.packages.join(" ")}`;
    case "env": return `withEnvVars: ${Object.keys(l.vars).join(" ")}`;
    case "copy": return `${l.type === "dir" ? "withSourceFolder" : "withSourceFile"}: ${basename(l.src)} -> ${l.dst}`;
    case "commands": return `withCommands (${l.commands.length})`;
    case "workdir": return `withWorkdir: ${l.dir}`;
    case "dockerignore": return `withDockerignore: ${basename(l.path)} (applies to the source folders)`;
    case "pip": return `withPipPackages: ${l.packages.join(" ")}`;
    case "requirements": return `withRequirements: ${basename(l.path)}`;
    case "uvProject": return `withUvProject: ${basename(l.pyproject)}${l.uvlock ? ` + ${basename(l.uvlock)}` : ""}`;
  }
}

/** Renders the Dockerfile for a layered (non-`fromDockerfile`) image. */
export function renderDockerfile(input: RenderInput): RenderedDockerfile {
  const { base, layers } = input;
  const ctx: ContextItem[] = [];
  const ignoreFiles = layers.flatMap((l) => (l.kind === "dockerignore" ? [l.path] : []));
  const out: string[] = ["# Generated by flyte-ts from an Image definition. Do not edit: change the definition instead."];
  const python = layers.some(isPythonLayer);
  if (python) out.push(`FROM ${UV_IMAGE} AS uv`);
  out.push(`FROM ${input.baseImage}`);
  const debian = base.kind === "debian";
  if (debian) {
    out.push("", "# Layers install as root; the image switches to the non-root node user at the end", "USER root", "WORKDIR /app");
    if (base.installFlyte) {
      out.push("", "# flyte-ts runtime: the `flyte` CLI that runs tasks in this image");
      out.push(run([NPM_CACHE], [], `npm install --global --no-fund --no-audit ${shellQuote(`flyte-ts@${base.flyteVersion}`)}`));
    }
  }
  let pythonReady = false;
  layers.forEach((l, i) => {
    if (isPythonLayer(l) && !pythonReady) {
      out.push("", ...pythonTooling());
      pythonReady = true;
    }
    const block = renderLayer(l, i, ctx, ignoreFiles);
    if (block.length) out.push("", `# ${describe(l)}`, ...block);
  });
  if (debian) {
    out.push("");
    if (base.installFlyte) {
      out.push(
        '# Task code imports "flyte-ts": link the global install into /app unless package.json brought its own',
        run([], [], 'mkdir -p /app/node_modules && \\\n    { [ -e /app/node_modules/flyte-ts ] || ln -s "$(npm root --global)/flyte-ts" /app/node_modules/flyte-ts; }'),
      );
    }
    out.push("USER node");
    if (base.installFlyte) {
      // The image runs tasks by itself: `docker run <image> --env <name>` is a worker of that environment (code
      // from the deployed bundle each action names). Kubernetes manifests set `command: [flyte]` for other roles.
      out.push('ENTRYPOINT ["flyte", "worker"]');
    }
  }
  out.push("", `LABEL ${IDENTIFIER_LABEL}="${input.identifier}"`, "");
  const secrets = new Map<string, SecretUse>();
  for (const l of layers) for (const s of layerSecrets(l)) secrets.set(secretId(s), { id: secretId(s), secret: s });
  return { dockerfile: out.join("\n"), context: ctx, secrets: [...secrets.values()] };
}
