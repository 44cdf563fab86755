import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, createWriteStream } from "node:fs";
import os from "node:os";
import path from "node:path";
import { finished } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { RuntimeUserError, StoreError, ValidationError } from "../errors.ts";
import { fromLiteral, toLiteral } from "../types/literal.ts";
import { File } from "./file.ts";
import { currentIoScope, withIoScope } from "./io-scope.ts";
import { LocalBlobStore } from "./local-blob-store.ts";

const made: string[] = [];
// Some tests move hundreds of MiB; the temp dirs go when the file's tests end.
const tmp = (p = "flyte-file-"): string => {
  const d = mkdtempSync(path.join(os.tmpdir(), p));
  made.push(d);
  return d;
};
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
const sha = (s: string | Buffer): string => createHash("sha256").update(s).digest("hex");
function localFile(content: string | Buffer, name = "data.txt"): string {
  const p = path.join(tmp(), name);
  writeFileSync(p, content);
  return p;
}
function inScope<T>(fn: (store: LocalBlobStore) => Promise<T>): Promise<T> {
  const store = new LocalBlobStore(tmp("flyte-file-store-"));
  return withIoScope({ blobStore: store, rawDataPrefix: store.uriFor("raw/r1/a0") }, () => fn(store));
}
const ctx = { taskName: "env.f", direction: "output" } as const;

describe("File", () => {
  it("fromLocal of a missing path or a directory is a ValidationError", async () => {
    await expect(File.fromLocal("/no/such/file.txt")).rejects.toThrow(ValidationError);
    await expect(File.fromLocal("/no/such/file.txt")).rejects.toThrow('File.fromLocal: "/no/such/file.txt" does not exist. Pass the path of an existing file.');
    await expect(File.fromLocal(tmp())).rejects.toThrow(/is not a regular file\. Use Dir\.fromLocal/);
  });

  it("outside a run it stays local and uploads when it first crosses a boundary", async () => {
    const p = localFile("hello");
    const f = await File.fromLocal(p);
    expect(currentIoScope().inRun).toBe(false);
    expect(f.path).toBe(p);
    expect(f.hash).toBeUndefined();
    await inScope(async (store) => {
      const lit = (await toLiteral({ f }, ctx)) as { f: Record<string, string> };
      expect(lit.f).toEqual({ $flyte: "file", uri: expect.stringMatching(new RegExp(`^${store.uriFor("raw/r1/a0")}/[0-9a-f]{20}/data\\.txt$`)), hash: sha("hello"), name: "data.txt" });
      expect(f.path).toBe(lit.f.uri); // uploaded once; later crossings reuse it
      expect(((await toLiteral(f, ctx)) as Record<string, string>).uri).toBe(lit.f.uri);
      const back = (await fromLiteral(lit)) as { f: File };
      expect(back.f).toBeInstanceOf(File);
      expect(await back.f.text()).toBe("hello");
      expect(back.f.hash).toBe(sha("hello"));
    });
  });

  it("inside a run fromLocal uploads right away, to remoteDestination when given", async () => {
    await inScope(async (store) => {
      const f = await File.fromLocal(localFile("abc"));
      expect(f.path.startsWith(store.uriFor("raw/r1/a0") + "/")).toBe(true);
      expect(f.hash).toBe(sha("abc"));
      const g = await File.fromLocal(localFile("xyz"), { remoteDestination: store.uriFor("chosen/place.txt") });
      expect(g.path).toBe(store.uriFor("chosen/place.txt"));
    });
  });

  it("open() streams, download() copies to a temp dir, a path or into a directory", async () => {
    await inScope(async () => {
      const f = await File.fromLocal(localFile("line1\nline2\n", "lines.txt"));
      let text = "";
      for await (const c of await f.open()) text += String(c);
      expect(text).toBe("line1\nline2\n");
      const d1 = await f.download();
      made.push(path.dirname(d1));
      expect(path.basename(d1)).toBe("lines.txt");
      expect(readFileSync(d1, "utf8")).toBe("line1\nline2\n");
      const target = path.join(tmp(), "copy.txt");
      expect(await f.download(target)).toBe(target);
      const dir = tmp();
      expect(await f.download(dir)).toBe(path.join(dir, "lines.txt"));
      expect(Buffer.from(await f.bytes()).toString()).toBe("line1\nline2\n");
      expect(await f.exists()).toBe(true);
    });
  });

  it("newRemote + open('wb') writes a blob; 'finish' means it is stored and hashed", async () => {
    await inScope(async (store) => {
      const f = File.newRemote({ fileName: "out.csv" });
      expect(f.path.startsWith(store.uriFor("raw/r1/a0") + "/")).toBe(true);
      const w = await f.open("wb");
      w.write("a,b\n");
      w.end("1,2\n");
      await finished(w);
      expect(f.hash).toBe(sha("a,b\n1,2\n"));
      expect(await File.fromExisting(f.path).text()).toBe("a,b\n1,2\n");
      const lit = (await toLiteral(f, ctx)) as Record<string, string>;
      expect(lit).toMatchObject({ uri: f.path, name: "out.csv", hash: sha("a,b\n1,2\n") });
    });
  });

  it("fromExisting is lazy: a missing blob is found out on read (FileNotFound)", async () => {
    await inScope(async (store) => {
      const f = File.fromExisting(store.uriFor("nope.txt"), { cacheKey: "v1" });
      expect(f.hash).toBe("v1");
      expect(f.name).toBe("nope.txt");
      expect(await f.exists()).toBe(false);
      const err = await f.text().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RuntimeUserError);
      expect((err as RuntimeUserError).code).toBe("FileNotFound");
    });
  });

  it("a user-given hash is kept (for cache keys) and not used to verify bytes", async () => {
    await inScope(async () => {
      const f = await File.fromLocal(localFile("content"), { hash: "my-key" });
      const lit = (await toLiteral(f, ctx)) as Record<string, string>;
      expect(lit).toMatchObject({ hash: "my-key", hashSource: "user" });
      expect(await ((await fromLiteral(lit)) as File).text()).toBe("content");
    });
  });

  it("a truncated blob fails the read with a named error instead of returning short data", async () => {
    await inScope(async () => {
      const f = await File.fromLocal(localFile("0123456789".repeat(1000)));
      const lit = await toLiteral({ f }, ctx);
      truncateSync(fileURLToPath(f.path), 5000);
      const back = (await fromLiteral(lit)) as { f: File };
      const err = await back.f.text().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).code).toBe("BlobCorrupted");
      expect((err as Error).message).toMatch(/does not match its recorded SHA-256.*truncated or was modified/);
      const dest = path.join(tmp(), "x.txt");
      await expect(back.f.download(dest)).rejects.toThrow(/truncated/);
      expect(() => statSync(dest)).toThrow(); // no partial download left behind
    });
  });

  it("a local file deleted before it crosses is a named error with task and field", async () => {
    const p = localFile("soon gone");
    const f = await File.fromLocal(p);
    const { rmSync } = await import("node:fs");
    rmSync(p);
    await inScope(async () => {
      const err = await toLiteral({ report: f }, ctx).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RuntimeUserError);
      expect((err as RuntimeUserError).code).toBe("FileNotFound");
      expect((err as Error).message).toMatch(/^Task "env\.f": output "\.report" \(a File that could not be stored\): Local file .* no longer exists/);
    });
  });

  it("moves a large file with bounded memory (streaming upload and download)", async () => {
    const size = 256 * 1024 * 1024;
    const p = path.join(tmp(), "big.bin");
    const ws = createWriteStream(p);
    const chunk = Buffer.alloc(4 * 1024 * 1024, 3);
    for (let i = 0; i < size / chunk.length; i++) if (!ws.write(chunk)) await new Promise<void>((r) => ws.once("drain", () => r()));
    ws.end();
    await finished(ws);
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    try {
      await inScope(async () => {
        const f = await File.fromLocal(p);
        const out = await File.fromExisting(f.path).download();
        expect(statSync(out).size).toBe(size);
        made.push(path.dirname(out));
      });
    } finally {
      clearInterval(timer);
    }
    expect(peak - base).toBeLessThan(128 * 1024 * 1024);
  });
});
