import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { StoreError } from "../errors.ts";
import { blobStoreConformance } from "./blob-store.conformance.ts";
import { LocalBlobStore } from "./local-blob-store.ts";
import { openBlobStore } from "./storage.ts";

const tmp = (): string => mkdtempSync(path.join(os.tmpdir(), "flyte-local-store-"));

blobStoreConformance({ name: "LocalBlobStore", newStore: () => new LocalBlobStore(tmp()) });

describe("LocalBlobStore", () => {
  it("never exposes a partial object: the final name appears only when the write completes", async () => {
    const root = tmp();
    const store = new LocalBlobStore(root);
    const src = new PassThrough();
    const done = store.put("slow/obj.bin", src);
    src.write(Buffer.alloc(64 * 1024, 1));
    // Until the first bytes are on disk in the temp file (instead of a guessed 50 ms).
    const tempFile = () => existsSync(path.join(root, "slow")) && readdirSync(path.join(root, "slow")).some((n) => n.includes(".flyte-tmp-"));
    for (const end = Date.now() + 10_000; !tempFile(); ) {
      if (Date.now() > end) throw new Error("the write did not start within 10 s");
      await new Promise((r) => setImmediate(r));
    }
    const uri = store.uriFor("slow/obj.bin");
    expect(await store.exists(uri)).toBe(false);
    const listed: string[] = [];
    for await (const u of store.list(store.baseUri + "/")) listed.push(u);
    expect(listed).toEqual([]);
    // The bytes so far sit in a hidden temp file next to the destination.
    expect(readdirSync(path.join(root, "slow")).some((n) => n.includes(".flyte-tmp-"))).toBe(true);
    src.end(Buffer.alloc(1024, 2));
    const r = await done;
    expect(r.size).toBe(65 * 1024);
    expect(await store.exists(uri)).toBe(true);
    expect(readdirSync(path.join(root, "slow"))).toEqual(["obj.bin"]);
  });

  it("uses file:// URIs under its root and encodes special characters", () => {
    const root = tmp();
    const store = new LocalBlobStore(root);
    expect(store.baseUri).toBe(`file://${root}`);
    expect(store.uriFor("a b/c#d.txt")).toBe(`file://${root}/a%20b/c%23d.txt`);
  });

  it("rejects keys that escape the store", async () => {
    const store = new LocalBlobStore(tmp());
    expect(() => store.uriFor("../etc/passwd")).toThrow(StoreError);
  });

  it("openBlobStore accepts relative paths, file:// URLs and rejects unknown schemes", () => {
    const root = tmp();
    expect(openBlobStore(`file://${root}`).baseUri).toBe(`file://${root}`);
    expect(openBlobStore(path.relative(process.cwd(), root)).baseUri).toBe(`file://${root}`);
    expect(() => openBlobStore("gs://bucket/x")).toThrow(/Unsupported storage URL "gs:\/\/bucket\/x"/);
    expect(openBlobStore("s3://bucket/some/prefix").baseUri).toBe("s3://bucket/some/prefix");
  });
});
