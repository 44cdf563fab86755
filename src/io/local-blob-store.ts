/**
 * Filesystem blob store (the embedded default): objects are files under a root directory, addressed by
 * `file://` URIs.
 *
 * Writes go to a hidden temp file in the destination directory and are renamed into place when complete, so
 * a crash or a failed stream never leaves a partial object under the final name (rename is atomic within a
 * filesystem). Temp files are invisible to `list`.
 *
 * @example
 * ```ts
 * const store = new LocalBlobStore("/var/flyte/blobs");
 * const { uri } = await store.put("r1/a0/outputs", bytes); // file:///var/flyte/blobs/r1/a0/outputs
 * ```
 * @module
 */
import { randomBytes } from "node:crypto";
import { createWriteStream, promises as fsp, type Dirent } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  blobNotFound,
  type BlobData,
  type BlobStat,
  type BlobStore,
  expectLength,
  HashingStream,
  normalizeKey,
  pipeThrough,
  type PutResult,
  readAll,
  storeFailure,
  toReadable,
} from "./blob-store.ts";

/** Marker in temp file names; `list` skips such files. */
const TMP_MARK = ".flyte-tmp-";

/** Converts a `file://` URI or an absolute path to a filesystem path. */
export function localPathOf(uriOrPath: string): string {
  return uriOrPath.startsWith("file:") ? fileURLToPath(uriOrPath) : path.resolve(uriOrPath);
}

/** Converts a filesystem path to the canonical `file://` URI used as an object address. */
export function fileUriOf(p: string): string {
  return pathToFileURL(path.resolve(p)).href;
}

/** fsyncs a file's data, or a directory's entries. */
async function syncPath(p: string, flags: "r" | "r+"): Promise<void> {
  const fh = await fsp.open(p, flags);
  try {
    await (flags === "r" ? fh.sync() : fh.datasync());
  } finally {
    await fh.close();
  }
}

export class LocalBlobStore implements BlobStore {
  readonly root: string;
  readonly baseUri: string;
  readonly #fsync: boolean;

  /**
   * @param o.fsync make each object durable before `put` resolves (its data, then its directory entry): what
   *   `execution.durability: full` asks for, so a row that refers to a blob is never committed before the blob is.
   */
  constructor(root: string, o: { fsync?: boolean } = {}) {
    this.#fsync = o.fsync ?? false;
    this.root = path.resolve(root);
    this.baseUri = fileUriOf(this.root).replace(/\/$/, "");
  }

  uriFor(key: string): string {
    return fileUriOf(path.join(this.root, normalizeKey(key)));
  }

  private resolve(keyOrUri: string): { uri: string; file: string } {
    if (keyOrUri.includes("://")) {
      if (!keyOrUri.startsWith("file:")) throw storeFailure("write", keyOrUri, new Error("the local blob store only handles file:// URIs"));
      const file = localPathOf(keyOrUri);
      return { uri: fileUriOf(file), file };
    }
    const file = path.join(this.root, normalizeKey(keyOrUri));
    return { uri: fileUriOf(file), file };
  }

  async put(keyOrUri: string, data: BlobData): Promise<PutResult> {
    const { uri, file } = this.resolve(keyOrUri);
    const dir = path.dirname(file);
    const tmp = path.join(dir, `.${path.basename(file)}${TMP_MARK}${randomBytes(6).toString("hex")}`);
    const hasher = new HashingStream();
    try {
      await fsp.mkdir(dir, { recursive: true });
      await pipeline(toReadable(data), hasher, createWriteStream(tmp, { flags: "wx" }));
      if (this.#fsync) await syncPath(tmp, "r+");
      await fsp.rename(tmp, file);
      if (this.#fsync) await syncPath(dir, "r");
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw storeFailure("write", uri, e);
    }
    return { uri, size: hasher.bytes, sha256: hasher.sha256 };
  }

  async get(uri: string): Promise<Readable> {
    const file = localPathOf(uri);
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, "r");
    } catch (e) {
      throw mapFsError("read", uri, e);
    }
    // Opening first (rather than createReadStream(path)) makes a missing file fail here, at the call,
    // instead of as a later stream error; the length check catches a file truncated while being read.
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw blobNotFound(uri);
    }
    const size = st.size;
    const stream = fh.createReadStream({ highWaterMark: 1 << 20 });
    return pipeThrough(stream, expectLength(uri, size));
  }

  async getBytes(uri: string): Promise<Uint8Array> {
    return readAll(await this.get(uri));
  }

  async readRange(uri: string, offset: number, length: number): Promise<Uint8Array> {
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(localPathOf(uri), "r");
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === length ? buf : buf.subarray(0, got);
    } catch (e) {
      throw mapFsError("read", uri, e);
    } finally {
      await fh?.close();
    }
  }

  async stat(uri: string): Promise<BlobStat | undefined> {
    try {
      const s = await fsp.stat(localPathOf(uri));
      return s.isFile() ? { size: s.size } : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
      throw storeFailure("stat", uri, e);
    }
  }

  async exists(uri: string): Promise<boolean> {
    return (await this.stat(uri)) !== undefined;
  }

  async delete(uri: string): Promise<void> {
    try {
      await fsp.rm(localPathOf(uri), { force: true });
    } catch (e) {
      throw storeFailure("delete", uri, e);
    }
  }

  async *list(prefixUri: string): AsyncIterable<string> {
    // S3 semantics: a string prefix, not a directory. "…/dir/" walks dir; "…/na" walks the entries of the
    // parent directory whose names start with "na" (so siblings like "name2/" match too, as on S3).
    const prefixPath = localPathOf(prefixUri);
    if (prefixUri.endsWith("/")) {
      for await (const f of walkFiles(prefixPath)) yield fileUriOf(f);
      return;
    }
    const parent = path.dirname(prefixPath);
    const base = path.basename(prefixPath);
    let entries: Dirent[];
    try {
      entries = await fsp.readdir(parent, { withFileTypes: true });
    } catch {
      return;
    }
    for (const ent of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (!ent.name.startsWith(base) || ent.name.includes(TMP_MARK)) continue;
      const full = path.join(parent, ent.name);
      if (ent.isDirectory()) for await (const f of walkFiles(full)) yield fileUriOf(f);
      else if (ent.isFile()) yield fileUriOf(full);
    }
  }
}

/** Every regular file below `dir`, skipping in-flight temp files. */
export async function* walkFiles(dir: string): AsyncIterable<string> {
  let entries: Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") return;
    throw e;
  }
  for (const ent of entries) {
    const full = path.join(dir, ent.name);
    if (ent.isDirectory()) yield* walkFiles(full);
    else if (ent.isFile() && !ent.name.includes(TMP_MARK)) yield full;
  }
}

function mapFsError(op: string, uri: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return blobNotFound(uri, e);
  return storeFailure(op, uri, e);
}
