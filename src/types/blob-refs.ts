/**
 * Literals that refer to blobs: an offloaded value, a File, a Dir, a DataFrame are `{ $flyte: tag, uri, hash? }`
 * with the bytes stored elsewhere. Their identity is the content hash when they carry one (types/codec.ts),
 * and a stored one is only usable while its blobs exist (controller/output-blobs.ts).
 */
import type { Literal } from "./literal.ts";

export const BLOB_REF_TAGS: ReadonlySet<string> = new Set(["offloaded", "file", "dir", "dataframe"]);

export interface BlobRef {
  tag: string;
  uri: string;
  hash?: unknown;
  /** The recorded size in bytes, when the literal carries one (an offloaded value, a File). */
  size?: number;
}

/** The blob references in `lit`, outermost first (a reference is not searched further). */
export function blobRefs(lit: Literal, out: BlobRef[] = []): BlobRef[] {
  if (Array.isArray(lit)) {
    for (const x of lit) blobRefs(x, out);
    return out;
  }
  if (!lit || typeof lit !== "object") return out;
  const tag = lit.$flyte;
  if (typeof tag === "string" && BLOB_REF_TAGS.has(tag) && typeof lit.uri === "string") {
    out.push({ tag, uri: lit.uri, hash: lit.hash, ...(typeof lit.size === "number" ? { size: lit.size } : {}) });
    return out;
  }
  for (const x of Object.values(lit)) blobRefs(x, out);
  return out;
}
