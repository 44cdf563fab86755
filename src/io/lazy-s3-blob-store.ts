/**
 * An S3 blob store that loads the AWS SDK (~200 ms) only on its first request, so processes that never touch
 * S3 (local runs, the CLI listing runs) do not pay for it. `openBlobStore("s3://...")` returns one.
 * @module
 */
import type { Readable } from "node:stream";
import { type BlobData, type BlobStat, type BlobStore, normalizeKey, type PutResult } from "./blob-store.ts";
import type { S3BlobStore, S3BlobStoreOptions } from "./s3-blob-store.ts";

export class LazyS3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly baseUri: string;
  #store: Promise<S3BlobStore> | undefined;
  readonly #options: S3BlobStoreOptions;

  constructor(o: S3BlobStoreOptions) {
    this.#options = o;
    this.bucket = o.bucket;
    this.prefix = normalizeKey(o.prefix ?? "");
    this.baseUri = `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ""}`;
  }

  /** The underlying store (loading the SDK on first use). */
  store(): Promise<S3BlobStore> {
    this.#store ??= import("./s3-blob-store.ts").then((m) => new m.S3BlobStore(this.#options));
    return this.#store;
  }

  uriFor(key: string): string {
    return `${this.baseUri}/${normalizeKey(key)}`;
  }
  async put(keyOrUri: string, data: BlobData): Promise<PutResult> {
    return (await this.store()).put(keyOrUri, data);
  }
  async get(uri: string): Promise<Readable> {
    return (await this.store()).get(uri);
  }
  async getBytes(uri: string): Promise<Uint8Array> {
    return (await this.store()).getBytes(uri);
  }
  async readRange(uri: string, offset: number, length: number): Promise<Uint8Array> {
    return (await this.store()).readRange(uri, offset, length);
  }
  async stat(uri: string): Promise<BlobStat | undefined> {
    return (await this.store()).stat(uri);
  }
  async exists(uri: string): Promise<boolean> {
    return (await this.store()).exists(uri);
  }
  async delete(uri: string): Promise<void> {
    return (await this.store()).delete(uri);
  }
  async *list(prefixUri: string): AsyncIterable<string> {
    yield* (await this.store()).list(prefixUri);
  }
  /** Closes the client's sockets, if it was ever opened. */
  async close(): Promise<void> {
    if (this.#store) (await this.#store).close();
  }
}
