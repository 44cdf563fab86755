/**
 * Code bundles (← flyte-sdk `_code_bundle`): the project files a deployment's tasks need, as one deterministic
 * `.tar.gz` stored content-addressed in the blob store (`bundles/<sha256>.tar.gz`, the hash of the uncompressed
 * tar, so it does not depend on the compressor). Paths in the archive are relative to the project root.
 *
 * - `loaded_modules` (default): the user's own files the entry files load, found by esbuild's metafile (static
 *   `import`s and `require`s of relative paths, JSON, tsconfig `paths`). Dependencies (`node_modules`) are not
 *   shipped: as in flyte-sdk they belong in the image. The root `package.json` and `tsconfig.json` come along so
 *   the files load the same way (ESM or not, path aliases) where they are unpacked.
 * - `all`: every file under the root except `.git`, `node_modules`, `.flyte`, editor folders and what
 *   `.gitignore`/`.flyteignore` at the root exclude.
 * - `none`: no bundle (the image already holds the code); only the environments' `include` files, if any.
 * @module
 */
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { CodeBundleError } from "../errors.ts";
import { createIgnoreMatcher, readIgnoreFile, walkFolder } from "../images/dockerignore.ts";
import type { BlobStore } from "../io/blob-store.ts";
import type { CopyStyle } from "../store/store.ts";
import { readTar, writeTar, type TarEntry } from "./tar.ts";

export interface BundleRequest {
  copyStyle: CopyStyle;
  /** Project root: archive paths are relative to it, and no file outside it is shipped. */
  root: string;
  /** Files whose imports make up a `loaded_modules` bundle (absolute paths). */
  entries: readonly string[];
  /** The environments' `include` patterns, each relative to the folder of the file that created the environment. */
  includes: readonly { base: string; patterns: readonly string[]; env: string }[];
  /** Folders never shipped (absolute), e.g. the state dir when it is under the root. */
  exclude?: readonly string[];
}

export interface CodeBundle {
  copyStyle: CopyStyle;
  /** Archive paths, sorted. */
  files: string[];
  /** The gzipped tar. */
  archive: Uint8Array;
  /** Hex SHA-256 of the uncompressed tar: the bundle's identity. */
  digest: string;
  /** Blob store key: `bundles/<digest>.tar.gz`. */
  key: string;
  /** Files the entries load from outside the root, which the bundle does not hold. */
  outside: string[];
}

/** Ignored by `copyStyle: "all"` whatever the ignore files say. */
const STANDARD_IGNORES = [".git", "**/node_modules", ".flyte", "**/.DS_Store", ".idea", ".vscode", "**/*.tsbuildinfo"];
/** Loaders for files imported for their contents (esbuild knows JS, TS, JSON and CSS itself). */
const ASSET_LOADERS = Object.fromEntries([".txt", ".md", ".sql", ".html", ".csv", ".yaml", ".yml", ".wasm", ".node", ".png", ".svg"].map((x) => [x, "file" as const]));

const toPosix = (p: string) => p.split(sep).join("/");

/** `.gitignore` lines as dockerignore patterns: a pattern without an inner `/` matches at any depth. */
export function gitignoreToPatterns(lines: readonly string[]): string[] {
  return lines.map((line) => {
    const negate = line.startsWith("!");
    let p = negate ? line.slice(1) : line;
    const anchored = p.startsWith("/") || p.replace(/\/$/, "").includes("/");
    p = p.replace(/^\//, "").replace(/\/$/, "");
    return `${negate ? "!" : ""}${anchored || p.startsWith("**/") ? p : `**/${p}`}`;
  });
}

function inside(root: string, abs: string): boolean {
  const rel = relative(root, abs);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
}

/**
 * The user files `entries` load, as absolute paths (esbuild metafile inputs minus node_modules). Files outside the
 * root are left out (as flyte-sdk leaves out modules outside its root dir: they must come with the image) and
 * reported in `outside`.
 */
async function loadedModules(root: string, entries: readonly string[], outside: string[]): Promise<string[]> {
  const esbuild = await import("esbuild");
  let meta: import("esbuild").Metafile;
  try {
    const r = await esbuild.build({
      entryPoints: [...entries],
      absWorkingDir: root,
      bundle: true,
      write: false,
      metafile: true,
      outdir: join(root, ".flyte-bundle-out"),
      platform: "node",
      format: "esm",
      target: "node20",
      packages: "external",
      loader: ASSET_LOADERS,
      logLevel: "silent",
    });
    meta = r.metafile;
  } catch (e) {
    const errors = (e as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors ?? [];
    const why = errors.length
      ? errors.slice(0, 5).map((m) => `${m.location ? `${m.location.file}:${m.location.line}: ` : ""}${m.text}`).join("; ")
      : (e as Error).message;
    throw new CodeBundleError(`Cannot find the files ${entries.map((f) => relative(root, f) || f).join(", ")} load${entries.length > 1 ? "" : "s"}: ${why}. Fix the import, or deploy with copyStyle "all".`, { cause: e });
  }
  const files: string[] = [];
  for (const input of Object.keys(meta.inputs)) {
    // Namespaced inputs ("<define:...>", "(disabled):...") are not files.
    if (/^[(<]/.test(input) || /^[a-z-]+:/.test(input)) continue;
    const abs = resolve(root, input);
    if (abs.split(sep).includes("node_modules")) continue;
    if (inside(root, abs)) files.push(abs);
    else outside.push(abs);
  }
  for (const f of ["package.json", "tsconfig.json"]) if (existsSync(join(root, f))) files.push(join(root, f));
  return files;
}

/** Every file (and symlink) under the root that is not ignored. */
function allFiles(root: string, exclude: readonly string[]): string[] {
  const patterns = [
    ...STANDARD_IGNORES,
    ...gitignoreToPatterns(readIgnoreFile(join(root, ".gitignore"))),
    ...gitignoreToPatterns(readIgnoreFile(join(root, ".flyteignore"))),
    ...exclude.filter((d) => inside(root, d)).map((d) => toPosix(relative(root, d))),
  ];
  return walkFolder(root, createIgnoreMatcher(patterns)).filter((e) => e.type !== "dir").map((e) => join(root, e.rel));
}

/** Files under `base` matching the `include` patterns (paths or dockerignore-style globs relative to `base`). */
function includedFiles(root: string, inc: BundleRequest["includes"][number]): string[] {
  const wanted = createIgnoreMatcher(inc.patterns.map((p) => p.replace(/^\.\//, "")));
  const skip = createIgnoreMatcher(STANDARD_IGNORES);
  const found = walkFolder(inc.base, skip).filter((e) => e.type !== "dir" && wanted(e.rel)).map((e) => join(inc.base, e.rel));
  for (const f of found) {
    if (!inside(root, f)) {
      throw new CodeBundleError(`Environment "${inc.env}" includes ${f}, which is outside the project root ${root}. Include only files under the root.`);
    }
  }
  const unmatched = inc.patterns.filter((p) => !found.some((f) => createIgnoreMatcher([p.replace(/^\.\//, "")])(toPosix(relative(inc.base, f)))));
  if (unmatched.length > 0) {
    throw new CodeBundleError(
      `Environment "${inc.env}": include ${unmatched.map((p) => JSON.stringify(p)).join(", ")} matches no file under ${inc.base}. Paths and globs are relative to the file that created the environment; fix or remove the pattern.`,
    );
  }
  return found;
}

function entryFor(root: string, abs: string): TarEntry {
  const path = toPosix(relative(root, abs));
  const st = lstatSync(abs);
  if (st.isSymbolicLink()) return { path, type: "symlink", target: readlinkSync(abs) };
  return { path, type: "file", data: readFileSync(abs), executable: (st.mode & 0o111) !== 0 };
}

/** Collects the files of a bundle and archives them; `null` when there is nothing to ship (`none`, no includes). */
export async function buildBundle(req: BundleRequest): Promise<CodeBundle | null> {
  const root = resolve(req.root);
  const files = new Set<string>();
  const outside: string[] = [];
  if (req.copyStyle === "loaded_modules") {
    if (req.entries.length === 0 && req.includes.length === 0) {
      throw new CodeBundleError("No source file is known for the deployed environments' tasks, so there is nothing to bundle. Declare tasks with env.task in a file, or deploy with copyStyle \"all\".");
    }
    if (req.entries.length > 0) for (const f of await loadedModules(root, req.entries, outside)) files.add(f);
  } else if (req.copyStyle === "all") {
    for (const f of allFiles(root, req.exclude ?? [])) files.add(f);
  }
  for (const inc of req.includes) for (const f of includedFiles(root, inc)) files.add(f);
  if (files.size === 0) {
    if (req.copyStyle === "none") return null;
    throw new CodeBundleError(`No files to bundle under ${root} (copyStyle "${req.copyStyle}"): every file is ignored. Check .gitignore/.flyteignore, or run flyte from your project folder.`);
  }
  const entries = [...files].map((f) => entryFor(root, f)).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const tar = writeTar(entries);
  const digest = createHash("sha256").update(tar).digest("hex");
  const archive = gzipSync(tar, { level: 9 });
  archive[9] = 255; // gzip "OS: unknown", so the bytes do not depend on the platform that compressed them
  return { copyStyle: req.copyStyle, files: entries.map((e) => e.path), archive, digest, key: `bundles/${digest}.tar.gz`, outside: outside.sort() };
}

/** The folder that holds `file` (for `include` patterns). */
export const folderOf = (file: string): string => dirname(resolve(file));

/**
 * Unpacks a bundle from the blob store into `dest` (what a worker does before importing a task's module); returns
 * the paths written. Its SHA-256 must be `digest` when given, and no entry may point outside `dest`.
 */
export async function unpackBundle(blobStore: BlobStore, uri: string, dest: string, digest?: string): Promise<string[]> {
  let tar: Buffer;
  try {
    tar = gunzipSync(await blobStore.getBytes(uri));
  } catch (e) {
    throw new CodeBundleError(`Cannot read the code bundle ${uri}: ${(e as Error).message}. Deploy again to upload it.`, { cause: e });
  }
  if (digest !== undefined && createHash("sha256").update(tar).digest("hex") !== digest) {
    throw new CodeBundleError(`The code bundle ${uri} does not match its recorded SHA-256 ${digest}: it was changed or damaged. Deploy again to upload it.`);
  }
  const root = resolve(dest);
  const written: string[] = [];
  for (const e of readTar(tar)) {
    const abs = resolve(root, e.path);
    if (!inside(root, abs)) throw new CodeBundleError(`The code bundle ${uri} holds ${JSON.stringify(e.path)}, which points outside the folder it is unpacked into. Deploy again from a clean checkout.`);
    mkdirSync(dirname(abs), { recursive: true });
    if (e.type === "symlink") symlinkSync(e.target ?? "", abs);
    else writeFileSync(abs, e.data ?? new Uint8Array(), { mode: e.executable ? 0o755 : 0o644 });
    written.push(e.path);
  }
  return written;
}
