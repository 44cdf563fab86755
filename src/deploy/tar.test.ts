import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readTar, writeTar, type TarEntry } from "./tar.ts";

const text = (s: string) => new TextEncoder().encode(s);
const long = `${"deep/".repeat(40)}${"n".repeat(120)}.ts`; // neither ustar field holds it: a pax path record
const split = `${"d".repeat(120)}/${"f".repeat(90)}.ts`; // fits prefix + name
const ENTRIES: TarEntry[] = [
  { path: "src/main.ts", type: "file", data: text("export const x = 1;\n") },
  { path: "bin/run.sh", type: "file", data: text("#!/bin/sh\necho hi\n"), executable: true },
  { path: split, type: "file", data: text("split") },
  { path: long, type: "file", data: text("long") },
  { path: "ünïcödé.json", type: "file", data: new Uint8Array(1025).fill(7) },
  { path: "link", type: "symlink", target: "src/main.ts" },
  { path: "empty.txt", type: "file", data: new Uint8Array() },
];

describe("writeTar / readTar", () => {
  it("round-trips files, modes, symlinks and long or non-ASCII paths", () => {
    const back = readTar(writeTar(ENTRIES));
    expect(back.map((e) => [e.path, e.type, e.target, e.executable])).toEqual(ENTRIES.map((e) => [e.path, e.type, e.target, e.type === "file" ? (e.executable ?? false) : undefined]));
    for (const [i, e] of back.entries()) if (e.type === "file") expect(Buffer.from(e.data!)).toEqual(Buffer.from(ENTRIES[i]!.data!));
  });

  it("is deterministic: the same entries give the same bytes, in 512-byte blocks", () => {
    const a = writeTar(ENTRIES);
    expect(Buffer.from(writeTar(ENTRIES.map((e) => ({ ...e })))).equals(Buffer.from(a))).toBe(true);
    expect(a.length % 512).toBe(0);
    expect(Buffer.from(writeTar([])).equals(Buffer.alloc(1024))).toBe(true);
  });

  it("is read by GNU tar as written: mtime 0, owner 0:0, modes, the long path", () => {
    const probe = spawnSync("tar", ["--version"], { encoding: "utf8" });
    if (probe.status !== 0) return; // no tar on this machine: the round trip above still holds
    const dir = mkdtempSync(join(tmpdir(), "flyte-tar-"));
    writeFileSync(join(dir, "a.tar"), writeTar(ENTRIES));
    const list = spawnSync("tar", ["-tvf", "a.tar", "--numeric-owner"], { cwd: dir, encoding: "utf8" });
    expect(list.status, list.stderr).toBe(0);
    const lines = list.stdout.trim().split("\n");
    expect(lines).toHaveLength(ENTRIES.length);
    expect(lines[0]).toMatch(/^-rw-r--r-- 0\/0 +20 1970-01-01 00:00 src\/main\.ts$/);
    expect(lines[1]).toMatch(/^-rwxr-xr-x 0\/0 +18 1970-01-01 00:00 bin\/run\.sh$/);
    expect(lines[5]).toMatch(/^lrwxrwxrwx 0\/0 +0 1970-01-01 00:00 link -> src\/main\.ts$/);
    const out = join(dir, "x");
    expect(spawnSync("mkdir", [out]).status).toBe(0);
    expect(spawnSync("tar", ["-xf", "../a.tar"], { cwd: out }).status).toBe(0);
    expect(readFileSync(join(out, long), "utf8")).toBe("long");
    expect(readFileSync(join(out, split), "utf8")).toBe("split");
    expect(readFileSync(join(out, "ünïcödé.json")).length).toBe(1025);
    expect(statSync(join(out, "bin/run.sh")).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(out, "link"))).toBe("src/main.ts");
  });
});
