import { mkdtempSync, truncateSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { InlineIOMaxBytesBreached, RuntimeUserError, StoreError } from "../errors.ts";
import { File } from "../io/file.ts";
import { withIoScope } from "../io/io-scope.ts";
import { LocalBlobStore } from "../io/local-blob-store.ts";
import { fromLiteral, type Literal, toLiteral } from "./literal.ts";
import { DEFAULT_MAX_INLINE_IO_BYTES, packIo, packIoBytes, unpackIo } from "./offload.ts";

function scope<T>(fn: (store: LocalBlobStore) => Promise<T>): Promise<T> {
  const store = new LocalBlobStore(mkdtempSync(path.join(os.tmpdir(), "flyte-offload-")));
  return withIoScope({ blobStore: store, rawDataPrefix: store.uriFor("raw") }, () => fn(store));
}

const big = (bytes: number): Literal => ({ blob: "x".repeat(bytes) });
const opts = { taskName: "env.f", direction: "output" as const, blobKey: "r1/a0/outputs" };

describe("maxInlineIoBytes", () => {
  it("defaults to 10 MiB", () => {
    expect(DEFAULT_MAX_INLINE_IO_BYTES).toBe(10 * 1024 * 1024);
  });

  it("keeps small literals inline", async () => {
    await scope(async () => {
      const lit = { a: 1 };
      expect(await packIo(lit, { ...opts, maxInlineIoBytes: 100 })).toBe(lit);
    });
  });

  it("offloads a literal above the limit to the blob store, transparently", async () => {
    await scope(async (store) => {
      const lit = big(5000);
      const packed = await packIo(lit, { ...opts, maxInlineIoBytes: 1000, offload: true });
      expect(packed).toMatchObject({ $flyte: "offloaded", uri: store.uriFor("r1/a0/outputs"), size: expect.any(Number), hash: expect.any(String) });
      expect(await unpackIo(packed)).toEqual(lit);
      expect(await fromLiteral(packed)).toEqual(lit);
      const { bytes } = await packIoBytes(lit, { ...opts, maxInlineIoBytes: 1000 });
      expect(bytes.byteLength).toBeLessThan(200); // only the reference is stored inline
    });
  });

  it("with offloading disabled, refuses with InlineIOMaxBytesBreached naming the limit and the fix", async () => {
    await scope(async () => {
      const err = await packIo(big(3 * 1024 * 1024), { ...opts, maxInlineIoBytes: 1024 * 1024, offload: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InlineIOMaxBytesBreached);
      expect((err as InlineIOMaxBytesBreached).code).toBe("InlineIOMaxBytesBreached");
      expect((err as Error).message).toMatch(
        /^Task "env\.f": output is 3 MiB \(\d+ bytes\) when serialized, above maxInlineIoBytes = 1 MiB \(1048576 bytes\)\. Raise the limit with env\.task\(\{ maxInlineIoBytes: 4194304 \}\)/,
      );
      expect((err as Error).message).toContain("io.offload: true");
    });
  });

  it("Files never count toward the limit: only their reference is inline", async () => {
    await scope(async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), "flyte-offload-file-"));
      writeFileSync(path.join(dir, "big.bin"), Buffer.alloc(256 * 1024, 1));
      const lit = await toLiteral({ f: await File.fromLocal(path.join(dir, "big.bin")) }, opts);
      expect(await packIo(lit, { ...opts, maxInlineIoBytes: 4096, offload: false })).toBe(lit);
    });
  });

  it("a truncated offloaded blob is a named StoreError with the task and the cause", async () => {
    await scope(async () => {
      const packed = (await packIo(big(5000), { ...opts, maxInlineIoBytes: 1000 })) as { uri: string };
      truncateSync(fileURLToPath(packed.uri), 100);
      const err = await unpackIo(packed as unknown as Literal, { taskName: "env.g", direction: "input" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).code).toBe("BlobTruncated");
      expect((err as Error).message).toMatch(/^Task "env\.g": inputs \(offloaded to file:\/\/.*\) is truncated: expected \d+ bytes, read 100/);
      expect(err).toMatchObject({ taskName: "env.g", direction: "input" });
    });
  });

  it("a missing offloaded blob is FileNotFound, prefixed with the task", async () => {
    await scope(async (store) => {
      const ref: Literal = { $flyte: "offloaded", uri: store.uriFor("gone"), size: 10 };
      const err = await unpackIo(ref, { taskName: "env.g", direction: "output" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RuntimeUserError);
      expect((err as RuntimeUserError).code).toBe("FileNotFound");
      expect((err as Error).message).toMatch(/^Task "env\.g": output "\." \(offloaded to file:.*gone\): Blob .* does not exist/);
    });
  });
});
