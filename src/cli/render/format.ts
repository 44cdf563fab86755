/** Human rendering of values, durations and errors for the CLI. */
import { inspect } from "node:util";

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** Typed values as a developer reads them: Dates, Maps, bigint kept; files shown by URI. */
export function formatValue(v: unknown): string {
  return inspect(v, { depth: 6, colors: false, breakLength: 100, maxArrayLength: 50 });
}

/** JSON for `--output-format json`: Dates as ISO strings, bigint as strings, Map/Set as arrays. */
export function toJson(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x: unknown) => {
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
