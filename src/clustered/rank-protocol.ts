/**
 * How the launcher and each rank process talk: through files in a private temp dir, never through an IPC
 * channel, because under `FLYTE_LAUNCHER=torchrun` the ranks are torchrun's children, not ours.
 *
 * ```
 * <dir>/spec.bin                 task to load, inputs, parent context   (written by the launcher)
 * <dir>/g<k>/pid-<rank>          pid of rank <rank> in group start k    (written by the rank, for the orphan sweep)
 * <dir>/g<k>/error-<rank>.json   what rank <rank> threw, with a time    (written by the rank before exit 1)
 * <dir>/g<k>/output.bin          rank 0's return value                  (written by rank 0 before exit 0)
 * ```
 * Binary files are `v8.serialize` (structured clone), so dates, maps and typed arrays survive.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deserialize, serialize } from "node:v8";
import type { ErrorRecord } from "../errors.ts";
import { nodeFlagsForUserCode } from "../internal/user-code-flags.ts";
import type { ChildContext } from "../controller/isolation/protocol.ts";

const here = fileURLToPath(import.meta.url);
/** The rank entry next to this file, with this file's extension (.ts from source, .js once compiled). */
const RANK_ENTRY = join(here, "..", `rank-entry${extname(here)}`);
/** The command line of one rank process: Node with tsx, running the rank entry. */
export function rankCommand(): [string, string[]] {
  return [process.execPath, [...nodeFlagsForUserCode(), RANK_ENTRY]];
}

/** Env var naming the protocol dir. */
export const ENV_DIR = "FLYTE_CLUSTERED_DIR";
/** Env var naming the group start (`g<k>` sub-dir). */
export const ENV_GROUP = "FLYTE_CLUSTERED_GROUP";
/** Env var with the pid of the process that owns the action; ranks exit when it disappears. */
export const ENV_PARENT_PID = "FLYTE_CLUSTERED_PARENT_PID";

/** The serialisable part of the parent's `TaskContext`, handed to every rank, with the rank's own data. */
export type RankContext = ChildContext & { data: Record<string, unknown> };

export interface RankSpec {
  /** File that defines the task; imported by every rank. */
  sourceFile: string;
  /** Task FQN (`env.task`). */
  taskName: string;
  envName: string;
  inputs: unknown;
  context: RankContext;
}

export interface RankErrorFile {
  rank: number;
  /** `Date.now()` when the rank failed: the earliest failure is the cause, later ones are usually fallout. */
  time: number;
  error: ErrorRecord;
}

export const groupDir = (dir: string, group: number): string => join(dir, `g${group}`);

function writeAtomic(file: string, data: Uint8Array | string): void {
  // Rename so a reader never sees a half-written file from a rank killed mid-write.
  writeFileSync(`${file}.tmp`, data);
  renameSync(`${file}.tmp`, file);
}

export function writeSpec(dir: string, spec: RankSpec): void {
  writeAtomic(join(dir, "spec.bin"), serialize(spec));
}

export function readSpec(dir: string): RankSpec {
  return deserialize(readFileSync(join(dir, "spec.bin"))) as RankSpec;
}

export function prepareGroupDir(dir: string, group: number): string {
  const g = groupDir(dir, group);
  mkdirSync(g, { recursive: true });
  return g;
}

export function writeRankPid(gdir: string, rank: number): void {
  writeFileSync(join(gdir, `pid-${rank}`), String(process.pid));
}

/** Pids every rank of a group start reported. */
export function readRankPids(gdir: string): number[] {
  try {
    return readdirSync(gdir)
      .filter((f) => /^pid-\d+$/.test(f))
      .map((f) => Number(readFileSync(join(gdir, f), "utf8")))
      .filter((p) => Number.isInteger(p) && p > 0);
  } catch {
    return [];
  }
}

export function writeRankError(gdir: string, entry: RankErrorFile): void {
  writeAtomic(join(gdir, `error-${entry.rank}.json`), JSON.stringify(entry));
}

/** Error files of a group start, earliest failure first. */
export function readRankErrors(gdir: string): RankErrorFile[] {
  let files: string[];
  try {
    files = readdirSync(gdir).filter((f) => /^error-\d+\.json$/.test(f));
  } catch {
    return [];
  }
  const out: RankErrorFile[] = [];
  for (const f of files) {
    try {
      out.push(JSON.parse(readFileSync(join(gdir, f), "utf8")) as RankErrorFile);
    } catch {
      // A torn file means the rank died while reporting; its exit status still counts.
    }
  }
  return out.sort((a, b) => a.time - b.time);
}

export function writeOutput(gdir: string, value: unknown): void {
  writeAtomic(join(gdir, "output.bin"), serialize(value));
}

export function readOutput(gdir: string): { found: true; value: unknown } | { found: false } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(gdir, "output.bin"));
  } catch {
    return { found: false };
  }
  return { found: true, value: deserialize(bytes) };
}
