/**
 * The image identifier: MD5 hex of a canonical JSON of what the image is made of (API.md §4). Layers that read
 * files contribute the hash of the file contents (folders: of every non-ignored path, its kind, execute bit and
 * contents) instead of their path, so the same definition gives the same identifier on every machine and any
 * change of base, layer, layer order, file content or platform gives a new one.
 *
 * A missing file hashes as "missing" rather than throwing: an image must stay nameable where its sources are
 * absent (e.g. inside the built container), and `validate()` reports missing files before any build.
 * @module
 */
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { stableJson } from "../internal/stable-json.ts";
import type { ImageBase, ImageLayer } from "./layers.ts";
import { createIgnoreMatcher, readIgnoreFile, walkFolder } from "./dockerignore.ts";

/**
 * Bumped whenever the generated Dockerfile changes meaning for the same layers, so images built by an older
 * flyte-ts are not mistaken for what this version would build.
 */
export const IDENTIFIER_FORMAT = 2;

interface CachedHash {
  readonly mtimeMs: number;
  readonly size: number;
  readonly ino: number;
  readonly hash: string;
}
/** File hashes keyed by path and revalidated by stat, so re-reading `uri` does not re-hash large folders. */
const fileHashes = new Map<string, CachedHash>();

/** SHA-256 hex of a file's contents, or `"missing"`. */
export function hashFile(path: string): string {
  let st;
  try {
    st = statSync(path);
  } catch {
    return "missing";
  }
  if (!st.isFile()) return "missing";
  const cached = fileHashes.get(path);
  if (cached && cached.mtimeMs === st.mtimeMs && cached.size === st.size && cached.ino === st.ino) return cached.hash;
  const hash = createHash("sha256").update(readFileSync(path)).digest("hex");
  fileHashes.set(path, { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino, hash });
  return hash;
}

/**
 * The ignore patterns for a copied folder: its own `.dockerignore`, then every `withDockerignore` file of the
 * image (later patterns win, so the explicit file can override the folder's).
 */
export function folderIgnorePatterns(folder: string, extraIgnoreFiles: readonly string[]): string[] {
  return [...readIgnoreFile(join(folder, ".dockerignore")), ...extraIgnoreFiles.flatMap((f) => readIgnoreFile(f))];
}

/** SHA-256 hex over a folder's non-ignored entries, or `"missing"`. */
export function hashFolder(folder: string, ignorePatterns: readonly string[]): string {
  try {
    if (!statSync(folder).isDirectory()) return "missing";
  } catch {
    return "missing";
  }
  const h = createHash("sha256");
  for (const e of walkFolder(folder, createIgnoreMatcher(ignorePatterns))) {
    // One line per entry; NUL separators cannot occur in paths, so entries cannot run into each other.
    if (e.type === "dir") h.update(`D\0${e.rel}\0`);
    else if (e.type === "symlink") h.update(`L\0${e.rel}\0${e.target}\0`);
    else h.update(`F\0${e.rel}\0${e.executable ? "x" : "-"}\0${hashFile(join(folder, e.rel))}\0`);
  }
  return h.digest("hex");
}

/** The ignore file docker would use for a Dockerfile: `<Dockerfile>.dockerignore`, else the context's. */
export function dockerfileIgnorePath(dockerfile: string): string {
  const specific = `${dockerfile}.dockerignore`;
  try {
    if (statSync(specific).isFile()) return specific;
  } catch {
    // fall through to the context's .dockerignore
  }
  return join(dirname(dockerfile), ".dockerignore");
}

function secretIds(l: { readonly secretMounts?: readonly { stableHash(): string }[] }): string[] | undefined {
  return l.secretMounts?.length ? l.secretMounts.map((s) => s.stableHash()) : undefined;
}

/** A layer as hashed: paths replaced by content hashes, everything else as declared. */
function canonicalLayer(l: ImageLayer, ignoreFiles: readonly string[]): unknown {
  switch (l.kind) {
    case "npm":
      return { kind: l.kind, packages: l.packages, registry: l.registry, extraArgs: l.extraArgs, secrets: secretIds(l) };
    case "packageJson":
      return {
        kind: l.kind,
        packageJson: hashFile(l.path),
        lockfile: l.lockfile === undefined ? undefined : hashFile(l.lockfile),
        production: l.production,
        secrets: secretIds(l),
      };
    case "apt":
      return { kind: l.kind, packages: l.packages, secrets: secretIds(l) };
    case "env":
      return { kind: l.kind, vars: Object.entries(l.vars) };
    case "copy":
      return {
        kind: l.kind,
        type: l.type,
        // The base name decides the path inside the image (dst/<name>), so it is part of the definition.
        name: basename(l.src),
        content: l.type === "file" ? hashFile(l.src) : hashFolder(l.src, folderIgnorePatterns(l.src, ignoreFiles)),
        dst: l.dst,
        copyContentsOnly: l.copyContentsOnly,
      };
    case "commands":
      return { kind: l.kind, commands: l.commands, secrets: secretIds(l) };
    case "workdir":
      return { kind: l.kind, dir: l.dir };
    case "dockerignore":
      return { kind: l.kind, content: hashFile(l.path) };
    case "pip":
      return {
        kind: l.kind,
        packages: l.packages,
        indexUrl: l.indexUrl,
        extraIndexUrls: l.extraIndexUrls,
        pre: l.pre,
        extraArgs: l.extraArgs,
        secrets: secretIds(l),
      };
    case "requirements":
      return { kind: l.kind, content: hashFile(l.path), secrets: secretIds(l) };
    case "uvProject":
      return {
        kind: l.kind,
        pyproject: hashFile(l.pyproject),
        uvlock: l.uvlock === undefined ? undefined : hashFile(l.uvlock),
        extraArgs: l.extraArgs,
        secrets: secretIds(l),
      };
  }
}

/**
 * Computes the identifier. `resolvedBase` is the base image URI for `fromRefName` images (looked up in the
 * config by the caller), so a different configured base gives a different identifier.
 */
export function computeIdentifier(
  base: ImageBase,
  layers: readonly ImageLayer[],
  platform: readonly string[],
  resolvedBase?: string,
): string {
  const ignoreFiles = layers.flatMap((l) => (l.kind === "dockerignore" ? [l.path] : []));
  let canonicalBase: unknown;
  switch (base.kind) {
    case "debian":
      canonicalBase = { debian: { node: base.node, flyteVersion: base.flyteVersion, installFlyte: base.installFlyte } };
      break;
    case "image":
      canonicalBase = { image: base.uri };
      break;
    case "ref":
      canonicalBase = { image: resolvedBase };
      break;
    case "dockerfile": {
      // The whole build context counts: a Dockerfile's COPY lines make any file in it part of the image.
      const context = dirname(base.path);
      canonicalBase = {
        dockerfile: hashFile(base.path),
        context: hashFolder(context, readIgnoreFile(dockerfileIgnorePath(base.path))),
      };
      break;
    }
  }
  const doc = {
    format: IDENTIFIER_FORMAT,
    base: canonicalBase,
    platform: [...platform].sort(),
    layers: layers.map((l) => canonicalLayer(l, ignoreFiles)),
  };
  return createHash("md5").update(stableJson(doc)).digest("hex");
}
