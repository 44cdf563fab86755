/**
 * `s3://bucket/key` parsing, kept apart from the S3 store so that reading a URI does not load the AWS SDK.
 * @module
 */
import { StoreError } from "../errors.ts";

/** Splits `s3://bucket/key` into its parts. */
export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new StoreError(`Not an S3 URI: ${JSON.stringify(uri)}. Expected s3://bucket/key.`);
  return { bucket: m[1]!, key: m[2]! };
}
