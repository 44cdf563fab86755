/**
 * `Dir` upload and symlinks (issue #13 item 6): links inside the directory are kept (uploaded as what they
 * point to), links outside it are reported by name, or followed with `followSymlinks`; none is dropped.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ValidationError } from "flyte-ts/errors";
import { Dir } from "flyte-ts/io";
import { withIoScope } from "../src/io/io-scope.ts";
import { LocalBlobStore } from "../src/io/local-blob-store.ts";
import { fromLiteral, toLiteral } from "../src/types/literal.ts";

const tmp = (p: string): string => mkdtempSync(path.join(os.tmpdir(), p));

async function uploaded(dir: Dir): Promise<Record<string, string>> {
  const store = new LocalBlobStore(tmp("flyte-symlink-store-"));
  return withIoScope({ blobStore: store, rawDataPrefix: store.uriFor("raw") }, async () => {
    const back = (await fromLiteral(await toLiteral(dir, { taskName: "env.d", direction: "output" }))) as Dir;
    const out: Record<string, string> = {};
    const base = `${back.path}/`;
    for await (const f of back.walk()) out[decodeURIComponent(f.path.slice(base.length))] = await f.text();
    return out;
  });
}

function project(): { dir: string; outside: string } {
  const root = tmp("flyte-symlinks-");
  const dir = path.join(root, "data");
  mkdirSync(path.join(dir, "sub"), { recursive: true });
  writeFileSync(path.join(dir, "a.txt"), "A");
  writeFileSync(path.join(dir, "sub/b.txt"), "B");
  const outside = path.join(root, "secret.txt");
  writeFileSync(outside, "OUT");
  symlinkSync("a.txt", path.join(dir, "link-to-a.txt"));
  symlinkSync("sub", path.join(dir, "link-to-sub"));
  return { dir, outside };
}

describe("Dir.fromLocal and symlinks", () => {
  it("keeps symlinks that point inside the directory", async () => {
    const { dir } = project();
    expect(await uploaded(await Dir.fromLocal(dir))).toEqual({
      "a.txt": "A", "link-to-a.txt": "A", "link-to-sub/b.txt": "B", "sub/b.txt": "B",
    });
  });

  it("reports symlinks that point outside (or nowhere) by name instead of dropping them", async () => {
    const { dir, outside } = project();
    symlinkSync(outside, path.join(dir, "escape.txt"));
    symlinkSync("missing.txt", path.join(dir, "dangling.txt"));
    const e = await uploaded(await Dir.fromLocal(dir)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ValidationError);
    expect((e as Error).message).toContain(
      `Dir ${JSON.stringify(dir)} has symlinks that point outside it (or nowhere): dangling.txt -> missing.txt (points nowhere), escape.txt -> ${outside}. ` +
        "Replace them with the files they point to, or pass Dir.fromLocal(path, { followSymlinks: true }) to upload their targets.",
    );
  });

  it("follows symlinks that point outside with followSymlinks", async () => {
    const { dir, outside } = project();
    symlinkSync(outside, path.join(dir, "escape.txt"));
    expect(await uploaded(await Dir.fromLocal(dir, { followSymlinks: true }))).toEqual({
      "a.txt": "A", "escape.txt": "OUT", "link-to-a.txt": "A", "link-to-sub/b.txt": "B", "sub/b.txt": "B",
    });
  });
});
