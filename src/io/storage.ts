/**
 * Opens blob stores from configuration URLs (API.md §17 `storage.url`) and finds the store that can read a
 * given URI.
 *
 * @example
 * ```ts
 * openBlobStore(".flyte/blobs");                       // local, relative to the working directory
 * openBlobStore("file:///var/flyte/blobs");
 * openBlobStore("s3://bucket/prefix", { endpoint: "http://minio:9000" });
 * ```
 * @module
 */
import path from "node:path";
import { ValidationError } from "../errors.ts";
import type { BlobStore } from "./blob-store.ts";
import { currentIoScope } from "./io-scope.ts";
import { LocalBlobStore, localPathOf } from "./local-blob-store.ts";
import { LazyS3BlobStore } from "./lazy-s3-blob-store.ts";
import type { S3Options } from "./s3-blob-store.ts";
import { parseS3Uri } from "./s3-uri.ts";

/** Opens the store a `storage.url` names: a path (relative to the cwd), `file:///abs`, or `s3://bucket/prefix`. */
export function openBlobStore(url: string, s3?: S3Options, local: { fsync?: boolean } = {}): BlobStore {
  if (url.startsWith("s3://")) {
    const { bucket, key } = parseS3Uri(url);
    if (!bucket) throw new ValidationError(`Storage URL ${JSON.stringify(url)} has no bucket. Use s3://bucket/prefix.`);
    return new LazyS3BlobStore({ ...s3, bucket, prefix: key });
  }
  if (url.startsWith("file:")) return new LocalBlobStore(localPathOf(url), local);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new ValidationError(
      `Unsupported storage URL ${JSON.stringify(url)}. Use a directory path, file:///abs/dir or s3://bucket/prefix.`,
      { field: "storage" },
    );
  }
  return new LocalBlobStore(path.resolve(url), local);
}

const foreign = new Map<string, BlobStore>();

/**
 * The store that can read `uri`: the current scope's store when the URI lies under it, otherwise a store
 * opened (and cached) for the URI's bucket or for the local filesystem.
 */
export function storeForUri(uri: string): BlobStore {
  const scope = currentIoScope();
  const base = scope.blobStore.baseUri;
  if (uri === base || uri.startsWith(`${base}/`)) return scope.blobStore;
  if (uri.startsWith("s3://")) {
    const { bucket } = parseS3Uri(uri);
    const key = `s3://${bucket}`;
    let store = foreign.get(key);
    if (!store) foreign.set(key, (store = new LazyS3BlobStore({ ...scope.s3, bucket })));
    return store;
  }
  if (uri.startsWith("file:") || !uri.includes("://")) {
    let store = foreign.get("file");
    if (!store) foreign.set("file", (store = new LocalBlobStore(path.parse(process.cwd()).root)));
    return store;
  }
  throw new ValidationError(`Cannot read ${JSON.stringify(uri)}: unsupported URI scheme. Use file://, s3:// or a local path.`);
}
