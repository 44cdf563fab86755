/**
 * Behaviour every `BlobStore` must show; each implementation's test file runs it
 * (`blobStoreConformance({ name, newStore })`), so "same semantics on every backend" is tested, not assumed.
 * @module
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { RuntimeUserError } from "../errors.ts";
import { type BlobStore, readAll } from "./blob-store.ts";

export interface ConformanceOptions {
  name: string;
  /** A fresh, empty store (a new prefix is enough). */
  newStore: () => Promise<BlobStore> | BlobStore;
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => Buffer.from(b).toString("utf8");

export function blobStoreConformance({ name, newStore }: ConformanceOptions): void {
  describe(`BlobStore conformance: ${name}`, () => {
    it("puts bytes and gets them back, reporting size and sha256", async () => {
      const store = await newStore();
      const r = await store.put("a/b.txt", enc("hello"));
      expect(r.uri).toBe(store.uriFor("a/b.txt"));
      expect(r.size).toBe(5);
      expect(r.sha256).toBe("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
      expect(dec(await store.getBytes(r.uri))).toBe("hello");
      expect(dec(await readAll(await store.get(r.uri)))).toBe("hello");
    });

    it("accepts a full URI as the destination and overwrites existing objects", async () => {
      const store = await newStore();
      const uri = store.uriFor("x/y");
      await store.put(uri, enc("one"));
      await store.put(uri, enc("two"));
      expect(dec(await store.getBytes(uri))).toBe("two");
    });

    it("streams a multi-chunk upload and hashes it while streaming", async () => {
      const store = await newStore();
      const chunk = Buffer.alloc(1 << 20, 7);
      const src = Readable.from((function* () {
        for (let i = 0; i < 12; i++) yield chunk;
      })());
      const r = await store.put("big.bin", src);
      expect(r.size).toBe(12 << 20);
      const { createHash } = await import("node:crypto");
      const h = createHash("sha256");
      for (let i = 0; i < 12; i++) h.update(chunk);
      expect(r.sha256).toBe(h.digest("hex"));
      let total = 0;
      for await (const c of await store.get(r.uri)) total += (c as Buffer).length;
      expect(total).toBe(12 << 20);
    });

    it("reads ranges, stats, checks existence and deletes", async () => {
      const store = await newStore();
      const { uri } = await store.put("r.txt", enc("0123456789"));
      expect(dec(await store.readRange(uri, 2, 3))).toBe("234");
      expect(dec(await store.readRange(uri, 8, 10))).toBe("89");
      expect(await store.stat(uri)).toEqual({ size: 10 });
      expect(await store.exists(uri)).toBe(true);
      await store.delete(uri);
      expect(await store.exists(uri)).toBe(false);
      expect(await store.stat(uri)).toBeUndefined();
      await store.delete(uri); // deleting twice is fine
    });

    it("lists objects under a prefix (string-prefix semantics)", async () => {
      const store = await newStore();
      await store.put("l/a.txt", enc("a"));
      await store.put("l/sub/b.txt", enc("b"));
      await store.put("l2/c.txt", enc("c"));
      const under = async (p: string): Promise<string[]> => {
        const out: string[] = [];
        for await (const u of store.list(p)) out.push(u);
        return out.sort();
      };
      expect(await under(store.uriFor("l") + "/")).toEqual([store.uriFor("l/a.txt"), store.uriFor("l/sub/b.txt")]);
      expect(await under(store.uriFor("l"))).toEqual([store.uriFor("l/a.txt"), store.uriFor("l/sub/b.txt"), store.uriFor("l2/c.txt")]);
      expect(await under(store.uriFor("nothing-here") + "/")).toEqual([]);
    });

    it("reading a missing object fails with RuntimeUserError code FileNotFound naming the URI", async () => {
      const store = await newStore();
      const uri = store.uriFor("missing/object");
      const err = await store.get(uri).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RuntimeUserError);
      expect((err as RuntimeUserError).code).toBe("FileNotFound");
      expect((err as Error).message).toContain(uri);
      await expect(store.getBytes(uri)).rejects.toMatchObject({ code: "FileNotFound" });
    });

    it("a failed upload stream leaves no object behind", async () => {
      const store = await newStore();
      const src = new Readable({
        read() {
          this.push(Buffer.alloc(1024, 1));
          this.destroy(new Error("source broke"));
        },
      });
      await expect(store.put("broken.bin", src)).rejects.toThrow(/source broke/);
      expect(await store.exists(store.uriFor("broken.bin"))).toBe(false);
    });
  });
}
