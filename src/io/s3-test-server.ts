/**
 * Test helper: an in-process S3-compatible server (s3rver) on a free port, with one bucket.
 * @module
 * @internal
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import S3rver from "s3rver";
import type { S3Options } from "./s3-blob-store.ts";

export interface TestS3 {
  bucket: string;
  endpoint: string;
  /** Options that reach this server (path-style, its fixed credentials). */
  s3: S3Options;
  close(): Promise<void>;
}

export async function startTestS3(bucket = "flyte-test"): Promise<TestS3> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "flyte-s3rver-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    bucket,
    endpoint,
    // s3rver checks signatures against its fixed key pair.
    s3: { endpoint, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } },
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
