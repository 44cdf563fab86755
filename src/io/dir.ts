/**
 * `Dir` (API.md §12.3): a lazy reference to a directory (a URI prefix in the blob store). Uploads and
 * downloads stream file by file, a few at a time. Its hash is the SHA-256 over the sorted
 * `relativePath + fileHash` pairs, so identical trees hash alike wherever they are stored.
 *
 * @example
 * ```ts
 * const d = await Dir.fromLocal("data/");
 * for await (const f of d.walk()) console.log(f.name, await f.text());
 * const local = await d.download();
 * ```
 * @module
 */
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import { ValidationError } from "../errors.ts";
import { currentIoScope } from "./io-scope.ts";
import { type IoLiteral, type IoLiteralSource, randomSegment, TO_LITERAL } from "./io-value.ts";
import { fileUriOf, localPathOf } from "./local-blob-store.ts";
import { File } from "./file.ts";
import { storeForUri } from "./storage.ts";

/** Files moved concurrently by upload/download: enough to hide latency, few enough to bound memory. */
const CONCURRENCY = 4;

interface DirInit {
  path: string;
  local: boolean;
  name?: string;
  hash?: string;
  remoteDestination?: string;
  followSymlinks?: boolean;
}

export class Dir implements IoLiteralSource {
  #path: string;
  #local: boolean;
  #name: string | undefined;
  #hash: string | undefined;
  #remoteDestination: string | undefined;
  #followSymlinks: boolean;
  #uploading: Promise<void> | undefined;

  private constructor(init: DirInit) {
    this.#path = init.path.replace(/\/+$/, "");
    this.#local = init.local;
    this.#name = init.name;
    this.#hash = init.hash;
    this.#remoteDestination = init.remoteDestination;
    this.#followSymlinks = init.followSymlinks ?? false;
  }

  /** URI prefix in the blob store, or the local path before upload. */
  get path(): string {
    return this.#path;
  }
  get name(): string | undefined {
    return this.#name;
  }
  get hash(): string | undefined {
    return this.#hash;
  }

  /**
   * A local directory. Missing directory → `ValidationError`. Inside a run it is uploaded right away.
   * Symlinks that point inside the directory are uploaded as what they point to; one that points outside it
   * (or nowhere) fails the upload with a `ValidationError` naming it, unless `followSymlinks` is set.
   */
  static async fromLocal(localPath: string, o: { remoteDestination?: string; followSymlinks?: boolean } = {}): Promise<Dir> {
    const abs = path.resolve(localPath);
    const st = await fsp.stat(abs).catch(() => undefined);
    if (!st?.isDirectory()) {
      throw new ValidationError(
        `Dir.fromLocal: ${JSON.stringify(localPath)} ${st ? "is not a directory. Use File.fromLocal for files" : "does not exist. Pass the path of an existing directory"}.`,
        { field: "localPath" },
      );
    }
    const d = new Dir({
      path: abs, local: true, name: path.basename(abs), ...(o.remoteDestination ? { remoteDestination: o.remoteDestination } : {}),
      ...(o.followSymlinks ? { followSymlinks: true } : {}),
    });
    if (currentIoScope().inRun) await d.upload();
    return d;
  }

  /** A reference to an existing prefix (`s3://bucket/dir`, `file:///dir`, or a path); nothing is read. */
  static fromExisting(uri: string, o: { cacheKey?: string } = {}): Dir {
    const isUri = uri.includes("://");
    const p = isUri ? uri : fileUriOf(uri);
    return new Dir({ path: p, local: false, name: path.posix.basename(p.replace(/\/+$/, "")), ...(o.cacheKey ? { hash: o.cacheKey } : {}) });
  }

  /** @internal Builds a Dir from its literal. */
  static fromLiteral(lit: Record<string, unknown>): Dir {
    return new Dir({
      path: String(lit.uri),
      local: false,
      ...(typeof lit.name === "string" ? { name: lit.name } : {}),
      ...(typeof lit.hash === "string" ? { hash: lit.hash } : {}),
    });
  }

  /** Uploads a local directory (once; concurrent callers share the upload). */
  async upload(): Promise<void> {
    if (!this.#local) return;
    this.#uploading ??= this.#doUpload();
    try {
      await this.#uploading;
    } catch (e) {
      this.#uploading = undefined;
      throw e;
    }
  }

  async #doUpload(): Promise<void> {
    const scope = currentIoScope();
    const dest = (this.#remoteDestination ?? `${scope.rawDataPrefix}/${randomSegment()}/${this.#name ?? "dir"}`).replace(/\/+$/, "");
    const store = storeForUri(dest);
    const files = await localFiles(this.#path, this.#followSymlinks);
    const pairs: Array<[string, string]> = [];
    await forEachLimit(files, CONCURRENCY, async ({ rel, file }) => {
      const fh = await fsp.open(file, "r");
      const r = await store.put(joinUri(dest, rel), fh.createReadStream({ highWaterMark: 1 << 20 }));
      pairs.push([rel, r.sha256]);
    });
    this.#hash = dirHash(pairs);
    this.#path = dest.startsWith("file:") ? fileUriOf(localPathOf(dest)) : dest;
    this.#local = false;
  }

  /** Files below the directory (recursively by default; `maxDepth` 0 = only top-level files). */
  async *walk(o: { recursive?: boolean; maxDepth?: number } = {}): AsyncIterable<File> {
    const maxDepth = o.recursive === false ? 0 : (o.maxDepth ?? Infinity);
    const entries: Array<{ rel: string; file: File }> = [];
    if (this.#local) {
      for (const { rel, file } of await localFiles(this.#path, this.#followSymlinks)) entries.push({ rel, file: File.localRef(file) });
    } else {
      const prefix = `${this.#path}/`;
      for await (const uri of storeForUri(this.#path).list(prefix)) {
        const rel = decodeRel(uri.slice(prefix.length), this.#path);
        entries.push({ rel, file: File.fromExisting(uri, { name: rel.split("/").pop() ?? rel }) });
      }
    }
    entries.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
    for (const e of entries) if (e.rel.split("/").length - 1 <= maxDepth) yield e.file;
  }

  /** Top-level files only. */
  async listFiles(): Promise<File[]> {
    const out: File[] = [];
    for await (const f of this.walk({ recursive: false })) out.push(f);
    return out;
  }

  /** The file at `name` (a relative path) or `null` when it does not exist. */
  async getFile(name: string): Promise<File | null> {
    const rel = name.split(/[\\/]+/).filter(Boolean).join("/");
    if (this.#local) {
      const p = path.join(this.#path, rel);
      return (await fsp.stat(p).catch(() => undefined))?.isFile() ? File.localRef(p) : null;
    }
    const uri = joinUri(this.#path, rel);
    return (await storeForUri(uri).exists(uri)) ? File.fromExisting(uri) : null;
  }

  /** Copies every file to `localPath` (default: a new temp dir) and returns that directory. */
  async download(localPath?: string): Promise<string> {
    if (this.#local && localPath === undefined) return this.#path;
    const target = localPath ? path.resolve(localPath) : path.join(await fsp.mkdtemp(path.join(os.tmpdir(), "flyte-ts-dir-")), this.#name ?? "dir");
    await fsp.mkdir(target, { recursive: true });
    const files: Array<{ rel: string; file: File }> = [];
    const base = this.#local ? this.#path : `${this.#path}/`;
    for await (const f of this.walk()) {
      const rel = this.#local ? path.relative(base, f.path) : decodeRel(f.path.slice(base.length), this.#path);
      files.push({ rel, file: f });
    }
    await forEachLimit(files, CONCURRENCY, async ({ rel, file }) => {
      await file.download(path.join(target, ...rel.split("/")));
    });
    return target;
  }

  /** True when the directory holds at least one file. */
  async exists(): Promise<boolean> {
    if (this.#local) return fsp.stat(this.#path).then((s) => s.isDirectory(), () => false);
    for await (const _ of storeForUri(this.#path).list(`${this.#path}/`)) return true;
    return false;
  }

  async [TO_LITERAL](): Promise<IoLiteral> {
    await this.upload();
    return {
      $flyte: "dir",
      uri: this.#path,
      ...(this.#hash !== undefined ? { hash: this.#hash } : {}),
      ...(this.#name !== undefined ? { name: this.#name } : {}),
    } as IoLiteral;
  }

  toJSON(): Record<string, string> {
    return { $flyte: "dir", path: this.#path, ...(this.#name ? { name: this.#name } : {}), ...(this.#hash ? { hash: this.#hash } : {}) };
  }

  toString(): string {
    return `Dir(${this.#path})`;
  }
}

/**
 * The files of a local directory as (path relative to it, file to read). A symlink counts as what it points
 * to when that lies inside the directory (or `follow` is set); any other symlink is an error that names it,
 * since leaving it out would upload a directory that silently differs from the one given.
 */
async function localFiles(root: string, follow: boolean): Promise<Array<{ rel: string; file: string }>> {
  const realRoot = await fsp.realpath(root);
  const out: Array<{ rel: string; file: string }> = [];
  const refused: string[] = [];
  const inside = (p: string) => p === realRoot || p.startsWith(realRoot.endsWith(path.sep) ? realRoot : `${realRoot}${path.sep}`);
  const visit = async (dir: string, rel: string, seen: ReadonlySet<string>): Promise<void> => {
    for (const ent of await fsp.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, ent.name);
      const childRel = rel ? `${rel}/${ent.name}` : ent.name;
      if (ent.isDirectory()) {
        await visit(full, childRel, seen);
        continue;
      }
      if (ent.isFile()) {
        if (!ent.name.includes(".flyte-tmp-")) out.push({ rel: childRel, file: full });
        continue;
      }
      if (!ent.isSymbolicLink()) continue;
      const target = await fsp.realpath(full).catch(() => undefined);
      const st = target ? await fsp.stat(target).catch(() => undefined) : undefined;
      if (!target || !st) {
        refused.push(`${childRel} -> ${await fsp.readlink(full).catch(() => "?")} (points nowhere)`);
      } else if (!inside(target) && !follow) {
        refused.push(`${childRel} -> ${target}`);
      } else if (st.isFile()) {
        out.push({ rel: childRel, file: target });
      } else if (st.isDirectory()) {
        // A link to a directory above it would loop forever.
        if (seen.has(target)) refused.push(`${childRel} -> ${target} (a loop)`);
        else await visit(target, childRel, new Set([...seen, target]));
      }
    }
  };
  await visit(root, "", new Set([realRoot]));
  if (refused.length > 0) {
    throw new ValidationError(
      `Dir ${JSON.stringify(root)} has symlinks that point outside it (or nowhere): ${refused.join(", ")}. ` +
        `Replace them with the files they point to, or pass Dir.fromLocal(path, { followSymlinks: true }) to upload their targets.`,
      { field: "localPath" },
    );
  }
  return out;
}

/** SHA-256 over sorted `relativePath + fileHash` pairs (API.md §12.3). */
export function dirHash(pairs: ReadonlyArray<readonly [string, string]>): string {
  const h = createHash("sha256");
  for (const [rel, fh] of [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) h.update(`${rel}\0${fh}\n`);
  return h.digest("hex");
}

/** `base/rel` as a URI: file URIs are rebuilt from paths so special characters stay percent-encoded. */
function joinUri(base: string, rel: string): string {
  if (base.startsWith("file:") || !base.includes("://")) return fileUriOf(path.join(localPathOf(base), ...rel.split("/")));
  return `${base}/${rel}`;
}

/** A listed object's path relative to the dir (percent-decoded for file URIs). */
function decodeRel(rel: string, base: string): string {
  return base.startsWith("file:") ? decodeURIComponent(rel) : rel;
}

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
