/**
 * The layers an `Image` is made of, as plain frozen data (API.md §4). Each `with*` call on an `Image` appends
 * exactly one layer; the Dockerfile generator (`dockerfile.ts`) and the identifier (`identifier.ts`) both
 * switch over `kind`, so adding a kind here makes the compiler point at every place that must handle it.
 *
 * Paths in layers are absolute (resolved against the working directory when the layer was added), because
 * the image may be built later from another directory. They never enter the identifier: file contents do.
 * @module
 */
import type { Secret } from "../secrets/secret.ts";

/** `withNpmPackages`: `npm install <packages>` in the working directory. */
export interface NpmLayer {
  readonly kind: "npm";
  readonly packages: readonly string[];
  /** npm registry URL passed as `--registry`. */
  readonly registry?: string;
  readonly extraArgs?: readonly string[];
  readonly secretMounts?: readonly Secret[];
}

/** `withPackageJson`: copy package.json (+ lockfile) into the working directory and install from it. */
export interface PackageJsonLayer {
  readonly kind: "packageJson";
  /** Absolute path of the package.json. */
  readonly path: string;
  /** Absolute path of the lockfile (`package-lock.json` / `npm-shrinkwrap.json`); `npm ci` is used when set. */
  readonly lockfile?: string;
  /** Skip devDependencies (`--omit=dev`). */
  readonly production: boolean;
  readonly secretMounts?: readonly Secret[];
}

/** `withAptPackages`: `apt-get install` as root. */
export interface AptLayer {
  readonly kind: "apt";
  readonly packages: readonly string[];
  readonly secretMounts?: readonly Secret[];
}

/** `withEnvVars`: one `ENV` instruction, keys in the order given. */
export interface EnvLayer {
  readonly kind: "env";
  readonly vars: Readonly<Record<string, string>>;
}

/** `withSourceFolder` (`type: "dir"`) and `withSourceFile` (`type: "file"`). */
export interface CopyLayer {
  readonly kind: "copy";
  readonly type: "file" | "dir";
  /** Absolute path of the file or folder. */
  readonly src: string;
  /** Destination in the image; relative paths are relative to the working directory. */
  readonly dst: string;
  /** Folders only: copy the folder's contents into `dst` instead of `dst/<folder name>`. */
  readonly copyContentsOnly?: boolean;
}

/** `withCommands`: one `RUN` per command, with the build secrets mounted. */
export interface CommandsLayer {
  readonly kind: "commands";
  readonly commands: readonly string[];
  readonly secretMounts?: readonly Secret[];
}

/** `withWorkdir`: `WORKDIR <dir>`. */
export interface WorkdirLayer {
  readonly kind: "workdir";
  readonly dir: string;
}

/** `withDockerignore`: extra ignore patterns for every `withSourceFolder` of the image (no Dockerfile line). */
export interface DockerignoreLayer {
  readonly kind: "dockerignore";
  /** Absolute path of the ignore file. */
  readonly path: string;
}

/** `withPipPackages`: `uv pip install` into the image's venv. */
export interface PipLayer {
  readonly kind: "pip";
  readonly packages: readonly string[];
  readonly indexUrl?: string;
  readonly extraIndexUrls?: readonly string[];
  readonly pre?: boolean;
  readonly extraArgs?: readonly string[];
  readonly secretMounts?: readonly Secret[];
}

/** `withRequirements`: `uv pip install -r <file>`. */
export interface RequirementsLayer {
  readonly kind: "requirements";
  /** Absolute path of the requirements file. */
  readonly path: string;
  readonly secretMounts?: readonly Secret[];
}

/** `withUvProject`: `uv sync` of a project's locked dependencies (the project itself is not installed). */
export interface UvProjectLayer {
  readonly kind: "uvProject";
  /** Absolute path of pyproject.toml. */
  readonly pyproject: string;
  /** Absolute path of uv.lock; `uv sync --locked` when set. */
  readonly uvlock?: string;
  readonly extraArgs?: readonly string[];
  readonly secretMounts?: readonly Secret[];
}

export type ImageLayer =
  | NpmLayer
  | PackageJsonLayer
  | AptLayer
  | EnvLayer
  | CopyLayer
  | CommandsLayer
  | WorkdirLayer
  | DockerignoreLayer
  | PipLayer
  | RequirementsLayer
  | UvProjectLayer;

/** Layers that need Python tooling (python3, uv, a venv) in the image. */
export function isPythonLayer(l: ImageLayer): l is PipLayer | RequirementsLayer | UvProjectLayer {
  return l.kind === "pip" || l.kind === "requirements" || l.kind === "uvProject";
}

/** The secrets a layer mounts while it builds. */
export function layerSecrets(l: ImageLayer): readonly Secret[] {
  return "secretMounts" in l && l.secretMounts ? l.secretMounts : [];
}

/** Where an image starts: what `Image.from*` was called with. */
export type ImageBase =
  /** `fromDebianBase`: `node:<node>-bookworm-slim` plus the flyte-ts runtime and a non-root user. */
  | { readonly kind: "debian"; readonly node: string; readonly flyteVersion: string; readonly installFlyte: boolean }
  /** `fromBaseImage`: any existing image, used as is. */
  | { readonly kind: "image"; readonly uri: string }
  /** `fromDockerfile`: the user's Dockerfile (absolute path); its folder is the build context. */
  | { readonly kind: "dockerfile"; readonly path: string }
  /** `fromRefName`: an image named in the config's `images:` section, resolved when used. */
  | { readonly kind: "ref"; readonly name: string };
