import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
import { fromLiteral, toLiteral } from "../types/literal.ts";
import { Dir, dirHash } from "./dir.ts";
import { withIoScope } from "./io-scope.ts";
import { LocalBlobStore } from "./local-blob-store.ts";

const tmp = (p = "flyte-dir-"): string => mkdtempSync(path.join(os.tmpdir(), p));
function tree(files: Record<string, string>): string {
  const root = tmp();
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), content);
  }
  return root;
}
function inScope<T>(fn: (store: LocalBlobStore) => Promise<T>): Promise<T> {
  const store = new LocalBlobStore(tmp("flyte-dir-store-"));
  return withIoScope({ blobStore: store, rawDataPrefix: store.uriFor("raw") }, () => fn(store));
}
const ctx = { taskName: "env.d", direction: "output" } as const;
const files = { "a.txt": "A", "sub/b.txt": "B", "sub/deeper/c.txt": "C", "with space.txt": "S" };

async function names(it: AsyncIterable<{ name?: string | undefined }>): Promise<string[]> {
  const out: string[] = [];
  for await (const f of it) out.push(f.name ?? "?");
  return out;
}

describe("Dir", () => {
  it("fromLocal of a missing path or a file is a ValidationError", async () => {
    await expect(Dir.fromLocal("/no/such/dir")).rejects.toThrow(ValidationError);
    const root = tree({ "f.txt": "x" });
    await expect(Dir.fromLocal(path.join(root, "f.txt"))).rejects.toThrow(/is not a directory\. Use File\.fromLocal/);
  });

  it("uploads when crossing, and reads back lazily as files", async () => {
    await inScope(async (store) => {
      const d = await Dir.fromLocal(tree(files));
      const lit = (await toLiteral({ d }, ctx)) as { d: Record<string, string> };
      expect(lit.d).toMatchObject({ $flyte: "dir", uri: expect.stringContaining(store.uriFor("raw") + "/"), hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
      const back = (await fromLiteral(lit)) as { d: Dir };
      expect(back.d).toBeInstanceOf(Dir);
      expect(await names(back.d.walk())).toEqual(["a.txt", "b.txt", "c.txt", "with space.txt"]);
      expect(await names(back.d.walk({ recursive: false }))).toEqual(["a.txt", "with space.txt"]);
      expect(await names(back.d.walk({ maxDepth: 1 }))).toEqual(["a.txt", "b.txt", "with space.txt"]);
      expect((await back.d.listFiles()).length).toBe(2);
      expect(await (await back.d.getFile("sub/deeper/c.txt"))!.text()).toBe("C");
      expect(await back.d.getFile("missing.txt")).toBeNull();
      expect(await back.d.exists()).toBe(true);
      const local = await back.d.download();
      expect(readFileSync(path.join(local, "sub", "deeper", "c.txt"), "utf8")).toBe("C");
      expect(readFileSync(path.join(local, "with space.txt"), "utf8")).toBe("S");
    });
  });

  it("the hash depends on relative paths and contents only", async () => {
    await inScope(async () => {
      const d1 = await Dir.fromLocal(tree(files));
      const d2 = await Dir.fromLocal(tree(files));
      const d3 = await Dir.fromLocal(tree({ ...files, "a.txt": "changed" }));
      expect(d1.hash).toBe(d2.hash);
      expect(d1.hash).not.toBe(d3.hash);
      expect(d1.path).not.toBe(d2.path);
      expect(dirHash([["b", "2"], ["a", "1"]])).toBe(dirHash([["a", "1"], ["b", "2"]]));
    });
  });

  it("works on a local directory before upload", async () => {
    const d = await Dir.fromLocal(tree(files));
    expect(await names(d.walk())).toEqual(["a.txt", "b.txt", "c.txt", "with space.txt"]);
    expect(await d.download()).toBe(d.path);
    expect(await (await d.getFile("a.txt"))!.text()).toBe("A");
  });

  it("fromExisting on a prefix with no objects does not exist", async () => {
    await inScope(async (store) => {
      const d = Dir.fromExisting(store.uriFor("empty"));
      expect(await d.exists()).toBe(false);
      expect(await names(d.walk())).toEqual([]);
    });
  });
});
