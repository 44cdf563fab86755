/**
 * Whether a stored output can still be used: an output that refers to blobs (an offloaded value, a File, a
 * Dir, a DataFrame) is only as good as those blobs. A cache entry or a recovered output whose blob was
 * deleted (a cleaned blob dir, an expired bucket) would otherwise hand the caller a reference that fails
 * later, far from its cause.
 */
import { dirHash } from "../io/dir.ts";
import { storeForUri } from "../io/storage.ts";
import { withIoScope, type IoScope } from "../io/io-scope.ts";
import { blobRefs, type BlobRef } from "../types/blob-refs.ts";
import type { Literal } from "../types/literal.ts";

const TAG = Buffer.from("$flyte");
/** An uploaded empty directory has no objects to find. */
const EMPTY_DIR_HASH = dirHash([]);

/** False when an encoded literal certainly refers to no blob (most outputs are plain data: no tag at all). */
export function mayReferToBlobs(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(TAG) >= 0;
}

/** The URI of the first blob `lit` refers to that is gone or shorter than recorded, or `undefined` when all are intact. */
export async function missingBlob(lit: Literal, scope: Pick<IoScope, "blobStore" | "rawDataPrefix">): Promise<string | undefined> {
  const refs = blobRefs(lit);
  if (refs.length === 0) return undefined;
  return withIoScope(scope, async () => {
    for (const r of refs) if (!(await exists(r))) return r.uri;
    return undefined;
  });
}

async function exists(r: BlobRef): Promise<boolean> {
  const store = storeForUri(r.uri);
  if (r.tag === "offloaded" || r.tag === "file") {
    // A blob shorter than recorded (its data lost to a power cut under `process` durability, or a partial copy)
    // is as unusable as a missing one.
    if (r.size === undefined) return store.exists(r.uri);
    return (await store.stat(r.uri))?.size === r.size;
  }
  // A Dir (or a DataFrame written as several files) is a prefix: one object under it is enough.
  if (r.tag === "dir" && r.hash === EMPTY_DIR_HASH) return true;
  if (r.tag === "dataframe" && (await store.exists(r.uri))) return true;
  for await (const _ of store.list(`${r.uri.replace(/\/+$/, "")}/`)) return true;
  return false;
}
