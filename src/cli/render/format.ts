/** Human rendering of values, durations and errors for the CLI. */
import { inspect } from "node:util";
import { DataFrame, Dir, File } from "../../io/index.ts";

/** Files, directories and data frames are shown by where they live, not by their fields. */
function byReference(v: unknown): string | undefined {
  if (v instanceof File) return `File(${v.path})`;
  if (v instanceof Dir) return `Dir(${v.path})`;
  if (v instanceof DataFrame) return `DataFrame(${v.uri ?? "not yet written"}, ${v.format}${v.numRows !== undefined ? `, ${v.numRows} rows` : ""})`;
  return undefined;
}

function replaceRefs(v: unknown, seen = new WeakSet<object>()): unknown {
  const ref = byReference(v);
  if (ref !== undefined) return ref;
  if (typeof v !== "object" || v === null || seen.has(v)) return v;
  seen.add(v);
  if (Array.isArray(v)) return v.map((x) => replaceRefs(x, seen));
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, replaceRefs(x, seen)]));
  if (Object.getPrototypeOf(v) === Object.prototype) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replaceRefs(x, seen)]));
  return v;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** Typed values as a developer reads them: Dates, Maps, bigint kept; files shown by URI. */
export function formatValue(v: unknown): string {
  return inspect(replaceRefs(v), { depth: 6, colors: false, breakLength: 100, maxArrayLength: 50 });
}

/** JSON for `--output-format json`: Dates as ISO strings, bigint as strings, Map/Set as arrays. */
export function toJson(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x: unknown) => {
      const ref = byReference(x);
      if (ref !== undefined) return ref;
      if (typeof x === "bigint") return x.toString();
      if (x instanceof Map) return Object.fromEntries(x);
      if (x instanceof Set) return [...x];
      if (x instanceof Uint8Array) return Buffer.from(x).toString("base64");
      return x;
    },
    2,
  );
}

const COLORS = { green: 32, red: 31, yellow: 33, cyan: 36, gray: 90 } as const;
export function color(on: boolean, c: keyof typeof COLORS, s: string): string {
  return on ? `\x1b[${COLORS[c]}m${s}\x1b[0m` : s;
}
