/**
 * Durations as users write them (`90`, `"500ms"`, `"1h30m"`), parsed to milliseconds; a bad value is a
 * `ValidationError` naming the owner, the option and the accepted forms.
 */
import { ValidationError } from "../errors.ts";
import { show } from "./validate.ts";

export type Duration = number | string;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration into milliseconds (integer). Numbers are seconds; strings are `<number><unit>` segments
 * (`"500ms"`, `"1h30m"`) or a bare number of seconds.
 */
export function parseDuration(d: Duration, owner = "parseDuration", option = "duration"): number {
  const bad = (why: string): never => {
    throw new ValidationError(
      `${owner}: ${option} ${show(d)} ${why}. Use a number of seconds (e.g. 90) or a string like "500ms", "90s", "5m", "1h30m" or "2d".`,
      { field: option },
    );
  };
  if (typeof d === "number") {
    if (!Number.isFinite(d)) bad("is not a finite number");
    if (d < 0) bad("is negative");
    return Math.round(d * 1000);
  }
  if (typeof d !== "string") return bad("is not a duration");
  if (d === "") bad("is empty");
  if (/^\d+(\.\d+)?$/.test(d)) return Math.round(Number(d) * 1000);
  const seg = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  let pos = 0;
  while (pos < d.length) {
    seg.lastIndex = pos;
    const m = seg.exec(d);
    if (!m) bad(d.startsWith("-") ? "is negative" : "has an unknown unit or format");
    total += Number(m![1]) * UNIT_MS[m![2]!]!;
    pos = seg.lastIndex;
  }
  return Math.round(total);
}

/** A duration option normalised to seconds. */
export function durationSeconds(d: Duration, owner: string, option: string): number {
  return parseDuration(d, owner, option) / 1000;
}
