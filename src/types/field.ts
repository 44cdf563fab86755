/**
 * How error messages name the value being converted: `Task "env.f": output ".model"`, `Task "env.f": input "x.y"`.
 * Outputs use a jq-like path relative to the returned value (`"."` is the value itself); inputs are dotted paths
 * starting at the input name.
 * @module
 */
import { errorFromRecord, errorToRecord, FlyteError, TypeTransformerFailedError } from "../errors.ts";

export type Seg = string | number;

export interface FieldContext {
  taskName?: string;
  direction?: "input" | "output";
  /** Prefix of every path (the field the converted value sits in). */
  path?: string;
}

/** Dotted field path (`"items.3.price"`), as stored in an error's `field`. */
export function fieldOf(ctx: FieldContext, segs: readonly Seg[]): string {
  let out = ctx.path ?? "";
  for (const s of segs) out = out === "" ? String(s) : `${out}.${s}`;
  return out;
}

/** `Task "env.f": output ".a.b"` / `Task "env.f": input "x"` / `Value "x"`: the subject of a message. */
export function describeField(ctx: FieldContext, field: string): string {
  const who = ctx.taskName ? `Task "${ctx.taskName}": ` : "";
  let what: string;
  if (ctx.direction === "output") what = `output "${field.startsWith(".") ? field : `.${field}`}"`;
  else if (ctx.direction === "input") what = field ? `input "${field}"` : "inputs";
  else what = field ? `value "${field}"` : "value";
  const s = who + what;
  return who ? s : s[0]!.toUpperCase() + s.slice(1);
}

/** A `TypeTransformerFailedError` whose message starts with the subject, carrying taskName/field/direction. */
export function transformFailed(ctx: FieldContext, segs: readonly Seg[], rest: string, cause?: unknown): TypeTransformerFailedError {
  const field = fieldOf(ctx, segs);
  const err = new TypeTransformerFailedError(`${describeField(ctx, field)} ${rest}`, cause === undefined ? {} : { cause });
  return withFieldInfo(err, ctx, field);
}

/** Attaches `taskName`, `field` and `direction` (they survive an action boundary via errorToRecord). */
export function withFieldInfo<E extends Error>(err: E, ctx: FieldContext, field: string): E {
  for (const [k, v] of [["taskName", ctx.taskName], ["field", field], ["direction", ctx.direction]] as const) {
    if (v !== undefined && (err as unknown as Record<string, unknown>)[k] === undefined) {
      Object.defineProperty(err, k, { value: v, enumerable: true, configurable: true });
    }
  }
  return err;
}

/**
 * Re-raises an error from inside a conversion (an upload, a transformer) with the subject prefixed, keeping
 * its class and code so callers can still tell a missing file from a store outage.
 */
export function rethrowAt(e: unknown, ctx: FieldContext, segs: readonly Seg[], what: string): never {
  const field = fieldOf(ctx, segs);
  const subject = describeField(ctx, field);
  if (e instanceof FlyteError) {
    if (e.message.startsWith(subject) || (ctx.taskName && e.message.startsWith(`Task "${ctx.taskName}"`))) throw e;
    const rec = errorToRecord(e);
    const again = errorFromRecord({ ...rec, message: `${subject} (${what}): ${e.message}` });
    Object.defineProperty(again, "cause", { value: e, configurable: true, writable: true });
    throw withFieldInfo(again, ctx, field);
  }
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  throw transformFailed(ctx, segs, `(${what}) could not be converted: ${msg}`, e);
}
