/**
 * Test support: a minimal root filesystem (the host's `sh` and `cat` plus the shared libraries they load),
 * used as the base of test images that need `RUN`. Nothing can be pulled from the internet in CI, so tests
 * build their own base from `scratch` with it.
 * @module
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** Host binaries copied in, by path inside the image → path on the host. */
const BINARIES: Record<string, string> = { "/bin/sh": "/bin/sh", "/bin/cat": "/bin/cat" };

/** Shared objects a binary loads, as absolute host paths (from `ldd`). */
function sharedLibraries(binary: string): string[] {
  const out = execFileSync("ldd", [binary], { encoding: "utf8" });
  const libs: string[] = [];
  for (const line of out.split("\n")) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

/** Writes the root filesystem into `dir` (created if needed). */
export function makeShellRootfs(dir: string): void {
  const copy = (from: string, to: string) => {
    const dest = join(dir, to);
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(from, dest);
  };
  for (const [inImage, onHost] of Object.entries(BINARIES)) {
    copy(onHost, inImage);
    for (const lib of sharedLibraries(onHost)) copy(lib, lib);
  }
  for (const d of ["tmp", "root", "etc"]) mkdirSync(join(dir, d), { recursive: true });
  chmodSync(join(dir, "tmp"), 0o1777);
  writeFileSync(join(dir, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n");
  writeFileSync(join(dir, "etc", "group"), "root:x:0:\nnode:x:1000:\n");
}
