/**
 * On-disk cache of derived task signatures, keyed by the source file's path and content hash, so a repeated
 * `flyte run` never loads the TypeScript compiler. An entry also records the hash of every local file the types
 * came from (an interface imported from another file), and is recomputed when any of them changed.
 *
 * Location: `$FLYTE_TS_CACHE_DIR`, else `$XDG_CACHE_HOME/flyte-ts/signatures`, else `~/.cache/flyte-ts/signatures`.
 * @module
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { FileSignatures } from "./ts-signature.ts";

/** Bumped whenever the derivation's output changes shape, so old entries are ignored. */
const FORMAT = 1;

interface Entry {
  format: number;
  file: string;
  /** sha256 of each file the result depends on (the root included). */
  deps: Record<string, string>;
  tasks: FileSignatures["tasks"];
}

export function cacheDir(): string {
  if (process.env.FLYTE_TS_CACHE_DIR) return resolve(process.env.FLYTE_TS_CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "flyte-ts", "signatures");
}

function sha256(text: Buffer | string): string {
  return createHash("sha256").update(text).digest("hex");
}

function fileHash(file: string): string | undefined {
  try {
    return sha256(readFileSync(file));
  } catch {
    return undefined;
  }
}

function entryPath(file: string, hash: string): string {
  return join(cacheDir(), `${sha256(`${FORMAT}\0${file}\0${hash}`).slice(0, 40)}.json`);
}

/** The cached signatures of `file`, when neither it nor any file its types came from changed. */
export function readCached(file: string): FileSignatures["tasks"] | undefined {
  const abs = resolve(file);
  const hash = fileHash(abs);
  if (!hash) return undefined;
  let entry: Entry;
  try {
    entry = JSON.parse(readFileSync(entryPath(abs, hash), "utf8")) as Entry;
  } catch {
    return undefined;
  }
  if (entry.format !== FORMAT || entry.file !== abs) return undefined;
  for (const [dep, h] of Object.entries(entry.deps)) if (dep !== abs && fileHash(dep) !== h) return undefined;
  return entry.tasks;
}

/** Stores a derivation; a cache that cannot be written only costs the next run the derivation again. */
export function writeCached(file: string, sigs: FileSignatures): void {
  const abs = resolve(file);
  const deps: Record<string, string> = {};
  for (const d of new Set([abs, ...sigs.deps])) {
    const h = fileHash(d);
    if (h) deps[d] = h;
  }
  const hash = deps[abs];
  if (!hash) return;
  const entry: Entry = { format: FORMAT, file: abs, deps, tasks: sigs.tasks };
  try {
    mkdirSync(cacheDir(), { recursive: true });
    const target = entryPath(abs, hash);
    // Written whole then renamed, so a concurrent `flyte run` never reads half an entry.
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(entry));
    renameSync(tmp, target);
  } catch {
    // read-only home or full disk: derive again next time
  }
}
