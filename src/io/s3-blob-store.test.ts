import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreError } from "../errors.ts";
import { blobStoreConformance } from "./blob-store.conformance.ts";
import { DataFrame } from "./dataframe.ts";
import { File } from "./file.ts";
import { withIoScope } from "./io-scope.ts";
import { S3BlobStore } from "./s3-blob-store.ts";
import { startTestS3, type TestS3 } from "./s3-test-server.ts";
import type { LazyS3BlobStore } from "./lazy-s3-blob-store.ts";
import { openBlobStore } from "./storage.ts";

let s3: TestS3;
const stores: S3BlobStore[] = [];
let n = 0;

beforeAll(async () => {
  s3 = await startTestS3();
});
afterAll(async () => {
  for (const s of stores) s.close();
  await s3?.close();
});

function newStore(prefix = `t${n++}`): S3BlobStore {
  const store = new S3BlobStore({ ...s3.s3, bucket: s3.bucket, prefix, partSize: 5 * 1024 * 1024 });
  stores.push(store);
  return store;
}

blobStoreConformance({ name: "S3BlobStore (s3rver)", newStore: () => newStore() });

describe("S3BlobStore", () => {
  it("addresses objects as s3://bucket/prefix/key", () => {
    const store = newStore("some/prefix");
    expect(store.baseUri).toBe(`s3://${s3.bucket}/some/prefix`);
    expect(store.uriFor("a/b")).toBe(`s3://${s3.bucket}/some/prefix/a/b`);
  });

  it("an unreachable endpoint fails with a StoreError naming the bucket and endpoint", async () => {
    const store = new S3BlobStore({ ...s3.s3, bucket: "data-bucket", endpoint: "http://127.0.0.1:1", maxAttempts: 1 });
    stores.push(store);
    const err = await store.put("x", new Uint8Array([1])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/S3 bucket "data-bucket" at http:\/\/127\.0\.0\.1:1 is unreachable/);
    expect((err as Error).message).toContain("ECONNREFUSED");
  });

  it("a missing bucket fails with a StoreError naming the bucket", async () => {
    const store = new S3BlobStore({ ...s3.s3, bucket: "no-such-bucket" });
    stores.push(store);
    await expect(store.put("x", new Uint8Array([1]))).rejects.toThrow(/S3 bucket "no-such-bucket" .* does not exist/);
  });

  it("a URI in another bucket is refused, not written somewhere else", async () => {
    await expect(newStore().put("s3://other-bucket/x", new Uint8Array([1]))).rejects.toThrow(/bucket "other-bucket"/);
  });

  it("Files upload to and stream from S3 inside an I/O scope", async () => {
    const store = newStore();
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const path = await import("node:path");
    const os = await import("node:os");
    const dir = mkdtempSync(path.join(os.tmpdir(), "flyte-s3-file-"));
    writeFileSync(path.join(dir, "in.txt"), "over s3");
    await withIoScope({ blobStore: store, rawDataPrefix: store.uriFor("raw"), s3: s3.s3 }, async () => {
      const f = await File.fromLocal(path.join(dir, "in.txt"));
      expect(f.path.startsWith(`${store.baseUri}/raw/`)).toBe(true);
      expect(await File.fromExisting(f.path).text()).toBe("over s3");
      expect(await f.exists()).toBe(true);
    });
  });

  it("a File crossing into an unreachable bucket names the task, the field and the bucket", async () => {
    const { toLiteral } = await import("../types/literal.ts");
    const down = new S3BlobStore({ ...s3.s3, bucket: "down-bucket", endpoint: "http://127.0.0.1:1", maxAttempts: 1 });
    stores.push(down);
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const path = await import("node:path");
    const os = await import("node:os");
    const p = path.join(mkdtempSync(path.join(os.tmpdir(), "flyte-s3-down-")), "x.txt");
    writeFileSync(p, "x");
    const f = await File.fromLocal(p); // outside a run: stays local until it crosses
    const err = await withIoScope({ blobStore: down, rawDataPrefix: down.uriFor("raw") }, () =>
      toLiteral({ model: f }, { taskName: "env.train", direction: "output" }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/^Task "env\.train": output "\.model" \(a File that could not be stored\): S3 bucket "down-bucket" at http:\/\/127\.0\.0\.1:1 is unreachable/);
    expect((err as Error).cause).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ taskName: "env.train", field: "model", direction: "output" });
  });

  it("DataFrames are read lazily from S3 with ranged GETs", async () => {
    const store = newStore();
    const rows = Array.from({ length: 150_000 }, (_, i) => ({ id: i, name: `n${i}` }));
    await withIoScope({ blobStore: store, rawDataPrefix: store.uriFor("raw") }, async () => {
      const df = DataFrame.fromRecords(rows);
      await df.write();
      const back = DataFrame.fromExisting(df.uri!);
      let ranges = 0;
      const orig = store.readRange.bind(store);
      store.readRange = (u, o, l) => (ranges++, orig(u, o, l));
      const sizes: number[] = [];
      for await (const b of back.iterBatches()) sizes.push(b.numRows);
      expect(sizes).toEqual([65_536, 65_536, 18_928]);
      expect(ranges).toBeGreaterThan(3);
      const recs = await back.toRecords();
      expect(recs.length).toBe(150_000);
      expect(recs[149_999]).toEqual({ id: 149_999, name: "n149999" });
    });
  });

  it("openBlobStore passes the s3 options through", () => {
    const store = openBlobStore(`s3://${s3.bucket}/p`, s3.s3) as LazyS3BlobStore;
    expect(store.bucket).toBe(s3.bucket);
    expect(store.prefix).toBe("p");
    expect(store.uriFor("k")).toBe(`s3://${s3.bucket}/p/k`);
  });

  it("openBlobStore's store loads the SDK lazily and behaves like S3BlobStore", async () => {
    const store = openBlobStore(`s3://${s3.bucket}/lazy`, s3.s3) as LazyS3BlobStore;
    const { uri } = await store.put("k", new TextEncoder().encode("v"));
    expect(Buffer.from(await store.getBytes(uri)).toString()).toBe("v");
    await store.close();
  });
});
