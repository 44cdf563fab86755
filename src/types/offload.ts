/**
 * Inline size limit for inputs/outputs (API.md §12.1): a literal whose encoding exceeds `maxInlineIoBytes` is
 * written to the blob store and replaced by `{"$flyte":"offloaded","uri":...,"size":n,"hash":...}`, or, with
 * offloading disabled, refused with `InlineIOMaxBytesBreached`. Files, Dirs and DataFrames are references,
 * so their data never counts toward the limit.
 *
 * @example
 * ```ts
 * const stored = await packIo(lit, { maxInlineIoBytes: 10 << 20, offload: true, blobKey: "r1/a0/outputs", taskName: "env.f", direction: "output" });
 * const lit2 = await unpackIo(stored, { taskName: "env.f", direction: "output" });
 * ```
 * @module
 */
import { InlineIOMaxBytesBreached, StoreError } from "../errors.ts";
import { currentIoScope } from "../io/io-scope.ts";
import { storeForUri } from "../io/storage.ts";
import { decodeLiteral, encodeLiteral, sha256Hex } from "./codec.ts";
import { describeField, type FieldContext, rethrowAt, withFieldInfo } from "./field.ts";
import type { Literal } from "./literal.ts";

/** API.md §2.1 default: 10 MiB. */
export const DEFAULT_MAX_INLINE_IO_BYTES = 10 * 1024 * 1024;

export interface PackOptions {
  /** @default DEFAULT_MAX_INLINE_IO_BYTES */
  maxInlineIoBytes?: number;
  /** Config `io.offload`. @default true */
  offload?: boolean;
  /** Where the offloaded literal goes: a key of the current scope's blob store, or a full URI. */
  blobKey: string;
  taskName: string;
  direction: "input" | "output";
}

/** `packIo`, also returning the encoding of the returned literal (saves encoding it twice). */
export async function packIoBytes(lit: Literal, o: PackOptions): Promise<{ literal: Literal; bytes: Uint8Array }> {
  const max = o.maxInlineIoBytes ?? DEFAULT_MAX_INLINE_IO_BYTES;
  const bytes = encodeLiteral(lit);
  if (bytes.byteLength <= max) return { literal: lit, bytes };
  const ctx: FieldContext = { taskName: o.taskName, direction: o.direction };
  const what = o.direction === "input" ? "inputs are" : "output is";
  if (o.offload === false) {
    const err = new InlineIOMaxBytesBreached(
      `Task "${o.taskName}": ${what} ${formatBytes(bytes.byteLength)} when serialized, above maxInlineIoBytes = ${formatBytes(max)}. ` +
        `Raise the limit with env.task({ maxInlineIoBytes: ${nextPowerOfTwo(bytes.byteLength)} }) (or task.override({ maxInlineIoBytes })), ` +
        `enable offloading (io.offload: true in the config), or pass large data as a File or DataFrame.`,
    );
    throw withFieldInfo(err, ctx, "");
  }
  try {
    const r = await currentIoScope().blobStore.put(o.blobKey, bytes);
    const literal: Literal = { $flyte: "offloaded", uri: r.uri, size: r.size, hash: r.sha256 };
    return { literal, bytes: encodeLiteral(literal) };
  } catch (e) {
    rethrowAt(e, ctx, [], `${formatBytes(bytes.byteLength)} being offloaded to the blob store`);
  }
}

/** Returns the literal to store: `lit` itself when small enough, else an offloaded reference. */
export async function packIo(lit: Literal, o: PackOptions): Promise<Literal> {
  return (await packIoBytes(lit, o)).literal;
}

/** True for `{"$flyte":"offloaded",...}`. */
export function isOffloaded(lit: unknown): lit is { $flyte: "offloaded"; uri: string; size: number; hash?: string } {
  return typeof lit === "object" && lit !== null && (lit as { $flyte?: unknown }).$flyte === "offloaded";
}

/** Loads an offloaded literal (checking its size and hash); any other literal is returned as is. */
export async function unpackIo(lit: Literal, ctx: FieldContext = {}): Promise<Literal> {
  if (!isOffloaded(lit)) return lit;
  const { uri, size, hash } = lit;
  let bytes: Uint8Array;
  try {
    bytes = await storeForUri(uri).getBytes(uri);
  } catch (e) {
    rethrowAt(e, ctx, [], `offloaded to ${uri}`);
  }
  const subject = describeField(ctx, "");
  if (typeof size === "number" && bytes.byteLength !== size) {
    const err = new StoreError(
      `${subject} (offloaded to ${uri}) is truncated: expected ${size} bytes, read ${bytes.byteLength}. The blob was partially written or damaged; re-run the action that produced it.`,
      { code: "BlobTruncated" },
    );
    throw withFieldInfo(err, ctx, "");
  }
  if (typeof hash === "string" && sha256Hex(bytes) !== hash) {
    const err = new StoreError(
      `${subject} (offloaded to ${uri}) is corrupted: its SHA-256 does not match the recorded ${hash}. Re-run the action that produced it.`,
      { code: "BlobCorrupted" },
    );
    throw withFieldInfo(err, ctx, "");
  }
  try {
    return decodeLiteral(bytes);
  } catch (e) {
    rethrowAt(e, ctx, [], `offloaded to ${uri}`);
  }
}

/** "12.5 MiB (13107200 bytes)". */
export function formatBytes(n: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const short = u === 0 ? `${n} bytes` : `${Number(v.toFixed(1))} ${units[u]}`;
  return u === 0 ? short : `${short} (${n} bytes)`;
}

function nextPowerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(n));
}
