/**
 * `File` (API.md §12.2): a lazy reference to one blob. Nothing is read until asked; uploads and downloads
 * stream (bounded memory for any size) and compute the SHA-256 on the way, which then feeds cache keys.
 *
 * Outside a run, `File.fromLocal` keeps the local path and uploads when the value first crosses an action
 * boundary; inside a run (an I/O scope) it uploads immediately to `<rawDataPrefix>/<random>/<basename>`.
 *
 * @example
 * ```ts
 * const f = await File.fromLocal("model.bin");
 * const out = File.newRemote({ fileName: "report.csv" });
 * const w = await out.open("wb"); w.end("a,b\n1,2\n"); await finished(w);
 * const local = await f.download();      // temp path
 * for await (const chunk of await f.open()) { ... }
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import { createWriteStream, promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough, type Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { RuntimeUserError, StoreError, ValidationError } from "../errors.ts";
import { type BlobStore, pipeThrough, type PutResult, readAll } from "./blob-store.ts";
import { currentIoScope } from "./io-scope.ts";
import { type IoLiteral, type IoLiteralSource, randomSegment, TO_LITERAL } from "./io-value.ts";
import { fileUriOf, localPathOf } from "./local-blob-store.ts";
import { storeForUri } from "./storage.ts";

interface FileInit {
  path: string;
  local: boolean;
  name?: string;
  hash?: string;
  /** True when `hash` is the SHA-256 of the bytes (so reads can be verified), false for a user cache key. */
  hashIsContent?: boolean;
  format?: string;
  remoteDestination?: string;
}

export class File implements IoLiteralSource {
  #path: string;
  #local: boolean;
  #name: string | undefined;
  #hash: string | undefined;
  #hashIsContent: boolean;
  #remoteDestination: string | undefined;
  #uploading: Promise<void> | undefined;
  #writing: Promise<PutResult> | undefined;
  /** Free-form format tag (e.g. "csv"); `""` when unknown. */
  readonly format: string;

  private constructor(init: FileInit) {
    this.#path = init.path;
    this.#local = init.local;
    this.#name = init.name;
    this.#hash = init.hash;
    this.#hashIsContent = init.hashIsContent ?? false;
    this.#remoteDestination = init.remoteDestination;
    this.format = init.format ?? "";
  }

  /** URI in the blob store, or the local path before upload. */
  get path(): string {
    return this.#path;
  }
  get name(): string | undefined {
    return this.#name;
  }
  /** SHA-256 of the bytes (known after upload), or the `hash`/`cacheKey` given by the user. */
  get hash(): string | undefined {
    return this.#hash;
  }

  /** A file on the local disk. Missing file → `ValidationError`. Inside a run it is uploaded right away. */
  static async fromLocal(localPath: string, o: { remoteDestination?: string; hash?: string } = {}): Promise<File> {
    const abs = path.resolve(localPath);
    let st;
    try {
      st = await fsp.stat(abs);
    } catch {
      throw new ValidationError(`File.fromLocal: ${JSON.stringify(localPath)} does not exist. Pass the path of an existing file.`, { field: "localPath" });
    }
    if (!st.isFile()) {
      throw new ValidationError(`File.fromLocal: ${JSON.stringify(localPath)} is not a regular file. Use Dir.fromLocal for directories.`, { field: "localPath" });
    }
    const f = new File({
      path: abs,
      local: true,
      name: path.basename(abs),
      ...(o.hash !== undefined ? { hash: o.hash } : {}),
      ...(o.remoteDestination !== undefined ? { remoteDestination: o.remoteDestination } : {}),
    });
    if (currentIoScope().inRun) await f.upload();
    return f;
  }

  /** @internal A local file known to exist (listed from a local Dir); never uploads by itself. */
  static localRef(absPath: string): File {
    return new File({ path: absPath, local: true, name: path.basename(absPath) });
  }

  /** A reference to an existing blob (`s3://...`, `file://...` or a path); nothing is checked or read. */
  static fromExisting(uri: string, o: { cacheKey?: string; name?: string } = {}): File {
    return new File({
      path: uri.includes("://") ? uri : fileUriOf(uri),
      local: false,
      name: o.name ?? baseName(uri),
      ...(o.cacheKey !== undefined ? { hash: o.cacheKey } : {}),
    });
  }

  /** A new blob under the current raw-data prefix, to be written with `open("wb")`. */
  static newRemote(o: { fileName?: string } = {}): File {
    const name = o.fileName ?? randomSegment();
    const uri = `${currentIoScope().rawDataPrefix}/${randomSegment()}/${name}`;
    return new File({ path: uri, local: false, name });
  }

  /** @internal Builds a File from its literal (`{"$flyte":"file",...}`). */
  static fromLiteral(lit: Record<string, unknown>): File {
    return new File({
      path: String(lit.uri),
      local: false,
      ...(typeof lit.name === "string" ? { name: lit.name } : {}),
      ...(typeof lit.hash === "string" ? { hash: lit.hash, hashIsContent: lit.hashSource !== "user" } : {}),
      ...(typeof lit.format === "string" ? { format: lit.format } : {}),
    });
  }

  /** Uploads a local file to the blob store (once; concurrent callers share the upload). */
  async upload(): Promise<void> {
    if (this.#writing) await this.#writing;
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
    const dest = this.#remoteDestination ?? `${scope.rawDataPrefix}/${randomSegment()}/${this.#name ?? "file"}`;
    const src = await openLocal(this.#path);
    const r = await storeForUri(dest).put(dest, src);
    if (this.#hash === undefined) {
      this.#hash = r.sha256;
      this.#hashIsContent = true;
    }
    this.#path = r.uri;
    this.#local = false;
  }

  open(mode?: "rb"): Promise<Readable>;
  open(mode: "wb"): Promise<Writable>;
  open(mode: "rb" | "wb"): Promise<Readable | Writable>;
  /** A stream of the bytes ("rb", verified against the content hash when known), or a writer ("wb"). */
  async open(mode: "rb" | "wb" = "rb"): Promise<Readable | Writable> {
    if (mode === "wb") return this.#openWrite();
    if (mode !== "rb") throw new ValidationError(`File.open: mode must be "rb" or "wb", got ${JSON.stringify(mode)}.`);
    if (this.#writing) await this.#writing;
    if (this.#local) return openLocal(this.#path);
    const stream = await storeForUri(this.#path).get(this.#path);
    if (!this.#hashIsContent || this.#hash === undefined) return stream;
    return pipeThrough(stream, verifyHash(this.#path, this.#hash));
  }

  #openWrite(): Writable {
    if (this.#local) throw new ValidationError(`File.open("wb"): ${this.#path} is a local file; write it with node:fs, or use File.newRemote().`);
    const store: BlobStore = storeForUri(this.#path);
    const pt = new PassThrough();
    const put = store.put(this.#path, pt);
    this.#writing = put;
    put.catch(() => undefined); // surfaced through the writer's final() below
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => (pt.write(chunk) ? cb() : pt.once("drain", () => cb())),
      // The writer finishes only when the object is stored, so "finish" means "readable by others".
      final: (cb) => {
        pt.end();
        put.then((r) => {
          this.#hash = r.sha256;
          this.#hashIsContent = true;
          cb();
        }, cb);
      },
      destroy: (err, cb) => {
        if (err) pt.destroy(err);
        cb(err);
      },
    });
  }

  /** Copies the file to `localPath` (default: a new temp dir) and returns the local path. */
  async download(localPath?: string): Promise<string> {
    if (this.#local && localPath === undefined) return this.#path;
    let target: string;
    if (localPath === undefined) {
      target = path.join(await fsp.mkdtemp(path.join(os.tmpdir(), "flyte-ts-file-")), this.#name ?? "file");
    } else {
      target = path.resolve(localPath);
      const st = await fsp.stat(target).catch(() => undefined);
      if (st?.isDirectory()) target = path.join(target, this.#name ?? "file");
    }
    await fsp.mkdir(path.dirname(target), { recursive: true });
    // Written next to the target and renamed, so a failed download never leaves a partial file behind.
    const tmp = `${target}.flyte-tmp-${randomSegment()}`;
    try {
      await pipeline(await this.open("rb"), createWriteStream(tmp));
      await fsp.rename(tmp, target);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
    return target;
  }

  async exists(): Promise<boolean> {
    if (this.#local) return fsp.stat(this.#path).then((s) => s.isFile(), () => false);
    return storeForUri(this.#path).exists(this.#path);
  }

  async bytes(): Promise<Uint8Array> {
    return readAll(await this.open("rb"));
  }

  async text(): Promise<string> {
    return Buffer.from(await this.bytes()).toString("utf8");
  }

  async [TO_LITERAL](): Promise<IoLiteral> {
    await this.upload();
    return {
      $flyte: "file",
      uri: this.#path,
      ...(this.#hash !== undefined ? { hash: this.#hash } : {}),
      ...(this.#name !== undefined ? { name: this.#name } : {}),
      ...(this.format ? { format: this.format } : {}),
      // Marks a user-given hash/cache key, so readers do not check the bytes against it.
      ...(this.#hash !== undefined && !this.#hashIsContent ? { hashSource: "user" } : {}),
    } as IoLiteral;
  }

  /** Display form (JSON.stringify of outputs); not used for storage. */
  toJSON(): Record<string, string> {
    return { $flyte: "file", path: this.#path, ...(this.#name ? { name: this.#name } : {}), ...(this.#hash ? { hash: this.#hash } : {}) };
  }

  toString(): string {
    return `File(${this.#path})`;
  }
}

/** Opens a local file for reading, failing now (not on first read) when it is missing. */
async function openLocal(p: string): Promise<Readable> {
  let fh;
  try {
    fh = await fsp.open(localPathOf(p), "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new RuntimeUserError("FileNotFound", `Local file ${p} no longer exists. Keep it until the task has used or returned it.`, { cause: e });
    }
    throw e;
  }
  return fh.createReadStream({ highWaterMark: 1 << 20 });
}

/** Fails the stream at its end when the bytes do not match the recorded SHA-256 (truncated or altered blob). */
function verifyHash(uri: string, expected: string): Transform {
  const h = createHash("sha256");
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      h.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const got = h.digest("hex");
      if (got === expected) cb();
      else {
        cb(
          new StoreError(`Blob ${uri} does not match its recorded SHA-256 (${expected}, read ${got}): it is truncated or was modified after upload.`, {
            code: "BlobCorrupted",
          }),
        );
      }
    },
  });
}

function baseName(uri: string): string {
  const last = uri.replace(/\/+$/, "").split("/").pop() ?? "";
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}
