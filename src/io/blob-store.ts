/**
 * The blob store contract: where offloaded literals, files, directories and data frames live.
 *
 * Objects are addressed by URI (`file:///...`, `s3://bucket/key`); `uriFor(key)` turns a store-relative key
 * into one. Writes are all-or-nothing (no reader ever sees a partial object) and every write reports the
 * SHA-256 of what was stored, computed while streaming so large objects never sit in memory.
 *
 * @example
 * ```ts
 * const store = openBlobStore(".flyte/blobs");
 * const { uri, sha256 } = await store.put("runs/r1/a0/outputs", bytes);
 * const back = await store.getBytes(uri);
 * ```
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { RuntimeUserError, StoreError } from "../errors.ts";

/** What `put` accepts: bytes in memory, or a stream that is consumed exactly once. */
export type BlobData = Uint8Array | Readable | AsyncIterable<Uint8Array>;

/** Result of a completed write. */
export interface PutResult {
  uri: string;
  size: number;
  /** Hex SHA-256 of the stored bytes. */
  sha256: string;
}

export interface BlobStat {
  size: number;
}

/** One storage backend. Implementations: `LocalBlobStore` (file://) and `S3BlobStore` (s3://). */
export interface BlobStore {
  /** URI every key of this store lives under, without a trailing slash. */
  readonly baseUri: string;
  /** The URI of a store-relative key (`"a/b"` → `<baseUri>/a/b`). */
  uriFor(key: string): string;
  /** Writes an object atomically. `keyOrUri` is a key relative to `baseUri` or a full URI this store can write. */
  put(keyOrUri: string, data: BlobData): Promise<PutResult>;
  /** A stream of the object's bytes. Missing object → `RuntimeUserError` code `"FileNotFound"`. */
  get(uri: string): Promise<Readable>;
  /** The whole object in memory; use only for small objects (offloaded literals). */
  getBytes(uri: string): Promise<Uint8Array>;
  /** `length` bytes from `offset` (fewer at the end of the object); lets Arrow read a file lazily. */
  readRange(uri: string, offset: number, length: number): Promise<Uint8Array>;
  /** Size of the object, or `undefined` when it does not exist. */
  stat(uri: string): Promise<BlobStat | undefined>;
  exists(uri: string): Promise<boolean>;
  /** Deletes the object; deleting a missing object is not an error. */
  delete(uri: string): Promise<void>;
  /** URIs of every object whose URI starts with `prefixUri`, in no particular order. */
  list(prefixUri: string): AsyncIterable<string>;
}

/** Normalises a store-relative key: forward slashes, no leading slash, no `.`/`..` segments. */
export function normalizeKey(key: string): string {
  const parts = key.split(/[\\/]+/).filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) {
    throw new StoreError(`Blob key ${JSON.stringify(key)} contains "..". Keys are relative to the store and cannot escape it.`);
  }
  return parts.join("/");
}

/** A pass-through stream that counts and hashes the bytes flowing through it. */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash("sha256");
  /** Bytes seen so far (not named `size`: lib-storage reads `Body.size` as the upload's length). */
  bytes = 0;
  private digestHex: string | undefined;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
  /** Hex digest; valid once the stream has ended. */
  get sha256(): string {
    this.digestHex ??= this.hash.digest("hex");
    return this.digestHex;
  }
}

/** Turns any accepted data form into a Node stream (bytes are emitted in one chunk). */
export function toReadable(data: BlobData): Readable {
  if (data instanceof Readable) return data;
  if (data instanceof Uint8Array) return Readable.from([Buffer.from(data.buffer, data.byteOffset, data.byteLength)], { objectMode: false });
  return Readable.from(data, { objectMode: false });
}

/**
 * `src.pipe(through)`, but an error in `src` also fails `through` (plain `pipe` would leave the reader
 * waiting forever) and destroying `through` early releases `src` (its file handle or socket).
 */
export function pipeThrough<T extends NodeJS.ReadWriteStream & Readable>(src: Readable, through: T): T {
  src.on("error", (e) => through.destroy(e));
  through.on("close", () => {
    if (!src.destroyed) src.destroy();
  });
  return src.pipe(through);
}

/** Collects a stream into one buffer (for small objects only). */
export async function readAll(stream: AsyncIterable<Uint8Array | string>): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : Buffer.from(c.buffer, c.byteOffset, c.byteLength));
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/**
 * Fails a read whose byte count differs from what the store promised, so a truncated object surfaces as an
 * error instead of as silently shorter data.
 */
export function expectLength(uri: string, expected: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      if (seen !== expected) cb(truncatedBlob(uri, expected, seen));
      else cb();
    },
  });
}

/** The error for a read of an object that does not exist (API.md §12.2). */
export function blobNotFound(uri: string, cause?: unknown): RuntimeUserError {
  return new RuntimeUserError("FileNotFound", `Blob ${uri} does not exist. Check the URI, or that the action that wrote it succeeded.`, {
    cause,
  });
}

/** The error for an object shorter (or longer) than recorded: a partial upload or a corrupted store. */
export function truncatedBlob(uri: string, expected: number, got: number): StoreError {
  return new StoreError(
    `Blob ${uri} is truncated: expected ${expected} bytes, read ${got}. The object was partially written or damaged; re-run the action that produced it.`,
    { code: "BlobTruncated" },
  );
}

/** The error for a failed store operation, with the backend error as `cause`. */
export function storeFailure(op: string, uri: string, cause: unknown): StoreError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new StoreError(`Blob store ${op} of ${uri} failed: ${why}`, { cause });
}
