/**
 * Checks shared by every options object: unknown keys (with a "did you mean"), names, descriptions,
 * string records. All failures are `ValidationError`s whose message names the owner, the option, the bad value
 * and the accepted form.
 */
import { ValidationError } from "../errors.ts";

/** flyte-sdk option names with no flyte-ts counterpart (API.md §18): rejected with the feature named. */
const UNSUPPORTED: Record<string, string> = {
  taskResolver: "custom task resolvers",
  task_resolver: "custom task resolvers",
  producesArtifacts: "artifacts",
  debuggable: "remote debugging",
  notifications: "notifications",
  pickle: "pickle serialisation",
};

/** Renders a user value for an error message: strings quoted, objects as short JSON. */
export function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "function") return `function ${v.name || "(anonymous)"}`;
  if (v === undefined) return "undefined";
  try {
    const s = JSON.stringify(v);
    if (s === undefined) return String(v);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return Object.prototype.toString.call(v);
  }
}

function editDistance(a: string, b: string): number {
  const al = a.toLowerCase();
  const bl = b.toLowerCase();
  const prev = Array.from({ length: bl.length + 1 }, (_, i) => i);
  for (let i = 1; i <= al.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= bl.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (al[i - 1] === bl[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[bl.length]!;
}

/** The closest allowed name, if one is close enough to be a likely typo. */
export function suggest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const a of allowed) {
    const d = editDistance(key, a);
    if (d < bestD) {
      bestD = d;
      best = a;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** Asserts `o` is a plain object (or undefined when optional). */
export function assertOptionsObject(o: unknown, owner: string, optional = true): asserts o is Record<string, unknown> | undefined {
  if (o === undefined && optional) return;
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    throw new ValidationError(`${owner}: expected an options object, got ${show(o)}. Pass { ... } with the options by name.`);
  }
}

/** Rejects keys not in `allowed`, suggesting the closest allowed key. */
export function checkKeys(o: object | undefined, allowed: readonly string[], owner: string): void {
  if (o === undefined) return;
  assertOptionsObject(o, owner);
  for (const key of Object.keys(o)) {
    if (allowed.includes(key)) continue;
    const feature = UNSUPPORTED[key];
    if (feature) {
      throw new ValidationError(
        `Unknown option "${key}" for ${owner}: ${feature} are a flyte-sdk feature that flyte-ts does not support.`,
        { field: key },
      );
    }
    const s = suggest(key, allowed);
    throw new ValidationError(
      `Unknown option "${key}" for ${owner}.${s ? ` Did you mean "${s}"?` : ` Allowed options: ${allowed.join(", ")}.`}`,
      { field: key },
    );
  }
}

export const ENV_NAME_RE = /^[a-z0-9]+([_-][a-z0-9]+)*$/;
export const TASK_NAME_RE = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;
export const RUN_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function validateEnvName(name: unknown, owner = "TaskEnvironment"): string {
  if (typeof name !== "string" || !ENV_NAME_RE.test(name)) {
    throw new ValidationError(
      `${owner}: name ${show(name)} is invalid. Use lowercase letters and digits in snake_case or kebab-case, e.g. "data-processing".`,
      { field: "name" },
    );
  }
  return name;
}

export function validateTaskName(name: unknown, owner = "Task"): string {
  if (typeof name !== "string" || !TASK_NAME_RE.test(name) || name.length > 63) {
    throw new ValidationError(
      `${owner}: task name ${show(name)} is invalid. Use a JavaScript identifier (letters, digits, _, $, -) of at most 63 characters, starting with a letter, _ or $.`,
      { field: "name" },
    );
  }
  return name;
}

export function validateRunName(name: unknown): string {
  if (typeof name !== "string" || !RUN_NAME_RE.test(name)) {
    throw new ValidationError(
      `Run name ${show(name)} is invalid. Use 1-63 lowercase letters, digits and "-", starting and ending with a letter or digit, e.g. "nightly-1".`,
      { field: "name" },
    );
  }
  return name;
}

/** Descriptions longer than 255 characters are truncated to 252 + "..." (as flyte-sdk). */
export function truncateDescription(d: unknown, owner: string): string | undefined {
  if (d === undefined) return undefined;
  if (typeof d !== "string") throw new ValidationError(`${owner}: description must be a string, got ${show(d)}.`, { field: "description" });
  return d.length > 255 ? `${d.slice(0, 252)}...` : d;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null) return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

export function validateStringRecord(v: unknown, owner: string, option: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (!isPlainObject(v) || Object.values(v).some((x) => typeof x !== "string")) {
    throw new ValidationError(`${owner}: ${option} must be an object of string values, got ${show(v)}. Example: { LOG_LEVEL: "debug" }.`, {
      field: option,
    });
  }
  return Object.freeze({ ...v }) as Record<string, string>;
}
