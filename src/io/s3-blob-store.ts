/**
 * S3-compatible blob store (AWS S3, MinIO, R2, ...), addressed by `s3://bucket/key` URIs.
 *
 * Streams are uploaded with lib-storage's multipart `Upload`, which buffers at most `queueSize × partSize`
 * bytes, so a file of any size moves with bounded memory. S3 makes a PUT (or a completed multipart upload)
 * visible all at once, which gives the same no-partial-object guarantee as the local store's rename.
 * Credentials come from the AWS default chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`, ...).
 *
 * @example
 * ```ts
 * const store = new S3BlobStore({ bucket: "data", prefix: "flyte", endpoint: "http://minio:9000", forcePathStyle: true });
 * await store.put("r1/a0/outputs", bytes); // s3://data/flyte/r1/a0/outputs
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { StoreError } from "../errors.ts";
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
  toReadable,
} from "./blob-store.ts";
import { parseS3Uri } from "./s3-uri.ts";

/** Connection settings (API.md §17 `storage.s3`). */
export interface S3Options {
  /** @default AWS_REGION, AWS_DEFAULT_REGION, else "us-east-1" */
  region?: string;
  /** Custom endpoint for S3-compatible servers, e.g. "http://minio:9000". @default AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL */
  endpoint?: string;
  /** Path-style addressing (needed by most self-hosted servers). @default true when an endpoint is set */
  forcePathStyle?: boolean;
  /** Explicit credentials; otherwise the AWS default provider chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Attempts per request, including the first. @default 3 */
  maxAttempts?: number;
}

export interface S3BlobStoreOptions extends S3Options {
  bucket: string;
  /** Key prefix every object of this store lives under. @default "" */
  prefix?: string;
  /** Multipart part size in bytes. @default 8 MiB */
  partSize?: number;
  /** Parts uploaded concurrently. @default 4 */
  queueSize?: number;
}

export { parseS3Uri };

export class S3BlobStore implements BlobStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly baseUri: string;
  readonly client: S3Client;
  private readonly endpointDesc: string;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(o: S3BlobStoreOptions) {
    this.bucket = o.bucket;
    this.prefix = normalizeKey(o.prefix ?? "");
    this.baseUri = `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ""}`;
    const region = o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";
    const endpoint = o.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    this.endpointDesc = endpoint ?? `the AWS endpoint of region ${region}`;
    const config: S3ClientConfig = {
      region,
      maxAttempts: o.maxAttempts ?? 3,
      forcePathStyle: o.forcePathStyle ?? endpoint !== undefined,
      // S3-compatible servers often reject the SDK's default CRC32 trailers; checksums are only sent when required.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
      ...(endpoint ? { endpoint } : {}),
      ...(o.credentials ? { credentials: o.credentials } : {}),
    };
    this.client = new S3Client(config);
    this.partSize = o.partSize ?? 8 * 1024 * 1024;
    this.queueSize = o.queueSize ?? 4;
  }

  uriFor(key: string): string {
    const k = normalizeKey(key);
    return `${this.baseUri}/${k}`;
  }

  private keyOf(keyOrUri: string): { uri: string; key: string } {
    if (!keyOrUri.includes("://")) {
      const uri = this.uriFor(keyOrUri);
      return { uri, key: parseS3Uri(uri).key };
    }
    const { bucket, key } = parseS3Uri(keyOrUri);
    if (bucket !== this.bucket) {
      throw new StoreError(`URI ${keyOrUri} is in bucket "${bucket}", but this store is bucket "${this.bucket}". Open a store for that bucket.`);
    }
    return { uri: keyOrUri, key };
  }

  async put(keyOrUri: string, data: BlobData): Promise<PutResult> {
    const { uri, key } = this.keyOf(keyOrUri);
    let src: Readable | undefined;
    try {
      if (data instanceof Uint8Array) {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: data, ContentLength: data.byteLength }));
        return { uri, size: data.byteLength, sha256: createHash("sha256").update(data).digest("hex") };
      }
      src = toReadable(data);
      const hasher = pipeThrough(src, new HashingStream());
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: key, Body: hasher },
        partSize: this.partSize,
        queueSize: this.queueSize,
        leavePartsOnError: false,
      });
      await upload.done();
      return { uri, size: hasher.bytes, sha256: hasher.sha256 };
    } catch (e) {
      src?.destroy();
      throw this.mapError("write", uri, e);
    }
  }

  async get(uri: string): Promise<Readable> {
    const { key } = this.keyOf(uri);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const body = res.Body as Readable;
      return res.ContentLength === undefined ? body : pipeThrough(body, expectLength(uri, res.ContentLength));
    } catch (e) {
      throw this.mapError("read", uri, e);
    }
  }

  async getBytes(uri: string): Promise<Uint8Array> {
    const stream = await this.get(uri);
    try {
      return await readAll(stream);
    } catch (e) {
      throw e instanceof StoreError ? e : this.mapError("read", uri, e);
    }
  }

  async readRange(uri: string, offset: number, length: number): Promise<Uint8Array> {
    const { key } = this.keyOf(uri);
    if (length <= 0) return new Uint8Array(0);
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${offset}-${offset + length - 1}` }),
      );
      return await readAll(res.Body as Readable);
    } catch (e) {
      // A range past the end is not an error for a reader; it just gets no bytes.
      if (statusOf(e) === 416) return new Uint8Array(0);
      throw this.mapError("read", uri, e);
    }
  }

  async stat(uri: string): Promise<BlobStat | undefined> {
    const { key } = this.keyOf(uri);
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: res.ContentLength ?? 0 };
    } catch (e) {
      if (statusOf(e) === 404 && nameOf(e) !== "NoSuchBucket") return undefined;
      throw this.mapError("stat", uri, e);
    }
  }

  async exists(uri: string): Promise<boolean> {
    return (await this.stat(uri)) !== undefined;
  }

  async delete(uri: string): Promise<void> {
    const { key } = this.keyOf(uri);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (e) {
      throw this.mapError("delete", uri, e);
    }
  }

  async *list(prefixUri: string): AsyncIterable<string> {
    const { key: prefix } = this.keyOf(prefixUri);
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      } catch (e) {
        throw this.mapError("list", prefixUri, e);
      }
      for (const o of res.Contents ?? []) if (o.Key !== undefined) yield `s3://${this.bucket}/${o.Key}`;
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  /** Closes the client's sockets. */
  close(): void {
    this.client.destroy();
  }

  /** Maps SDK and network errors to named errors that always mention the bucket and the endpoint. */
  private mapError(op: string, uri: string, e: unknown): Error {
    if (e instanceof StoreError) return e;
    const name = nameOf(e);
    const msg = e instanceof Error ? e.message : String(e);
    const status = statusOf(e);
    const where = `S3 bucket "${this.bucket}" at ${this.endpointDesc}`;
    if (name === "NoSuchKey" || (status === 404 && name !== "NoSuchBucket" && op === "read")) return blobNotFound(uri, e);
    if (name === "NoSuchBucket") {
      return new StoreError(`${where} does not exist (${op} of ${uri}). Create the bucket or fix storage.url.`, { cause: e });
    }
    if (["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "CredentialsProviderError", "ExpiredToken"].includes(name) || status === 403) {
      return new StoreError(
        `Access to ${where} was denied (${name}: ${msg}). Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and the bucket policy.`,
        { cause: e },
      );
    }
    if (status === undefined && isNetworkError(name, msg)) {
      return new StoreError(
        `${where} is unreachable (${op} of ${uri}): ${name}: ${msg}. Check storage.s3.endpoint, the network, and that the server is running.`,
        { cause: e },
      );
    }
    return new StoreError(`S3 ${op} of ${uri} failed (${where}${status ? `, HTTP ${status}` : ""}): ${name}: ${msg}`, { cause: e });
  }
}

function nameOf(e: unknown): string {
  if (typeof e !== "object" || e === null) return "Error";
  const n = (e as { name?: unknown; code?: unknown }).name;
  const code = (e as { code?: unknown }).code;
  // Node network errors carry their cause in `code` (ECONNREFUSED, ENOTFOUND) and are named just "Error".
  if (n === "Error" && typeof code === "string") return code;
  return typeof n === "string" ? n : "Error";
}

const NETWORK_CODES = ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"];
function isNetworkError(name: string, msg: string): boolean {
  return NETWORK_CODES.includes(name) || /TimeoutError|NetworkingError|RequestTimeout/.test(name) || NETWORK_CODES.some((c) => msg.includes(c)) || /socket hang up|connect/i.test(msg);
}

function statusOf(e: unknown): number | undefined {
  const m = (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata;
  return m?.httpStatusCode;
}
