/**
 * Schema validation of task inputs/outputs (Standard Schema: zod, valibot, arktype, ...) and JSON Schema
 * export of typed interfaces, kept beside stored literals so they can be shown and re-typed later.
 *
 * @example
 * ```ts
 * const inputs = await validateWithSchema(z.object({ x: z.number() }), raw, { taskName: "env.add", direction: "input" });
 * // ✖ RuntimeDataValidationError: Task "env.add": input "x" is invalid: Expected number, received string
 * const js = schemaToJsonSchema(z.object({ x: z.number() })); // { type: "object", properties: { x: { type: "number" } }, ... }
 * ```
 * @module
 */
import type { StandardJSONSchemaV1, StandardSchemaV1 } from "@standard-schema/spec";
import { createRequire } from "node:module";
import { type DataIssue, RuntimeDataValidationError } from "../errors.ts";
import { isValibotSchema, valibotToJsonSchema } from "./valibot-json-schema.ts";

/** Any Standard Schema (zod ≥ 3.24 and 4, valibot, arktype, ...). */
export type SchemaLike = StandardSchemaV1;

export interface ValidationContext {
  /** Task FQN, e.g. `"env.add"`; omitted for values validated outside a task. */
  taskName?: string;
  direction: "input" | "output";
  /** Dotted path of the validated value inside the inputs/output (prefix of every issue path). */
  path?: string;
}

/**
 * Validates `value` and returns the parsed (possibly coerced) value; on failure throws
 * `RuntimeDataValidationError` with every issue (`code`, dotted `path`, `message`, `expected`, `received`).
 */
export async function validateWithSchema(schema: SchemaLike, value: unknown, ctx: ValidationContext): Promise<unknown> {
  const result = await schema["~standard"].validate(value);
  if (!result.issues) return result.value;
  const issues = result.issues.map((i) => toDataIssue(i, value, ctx.path));
  const first = issues[0] ?? { code: "invalid", path: ctx.path ?? "", message: "Invalid value" };
  let message = `${subject(ctx, first.path)} invalid: ${first.message}`;
  if (issues.length > 1) message += issues.map((i) => `\n  ✖ ${i.message} → at ${i.path || "(root)"}`).join("");
  throw new RuntimeDataValidationError(message, {
    taskName: ctx.taskName ?? "",
    field: first.path,
    direction: ctx.direction,
    issues,
  });
}

function subject(ctx: ValidationContext, field: string): string {
  const who = ctx.taskName ? `Task "${ctx.taskName}": ` : "";
  const what = field ? `${ctx.direction} "${field}" is` : ctx.direction === "input" ? "inputs are" : "output is";
  return who ? who + what : what[0]!.toUpperCase() + what.slice(1);
}

function toDataIssue(issue: StandardSchemaV1.Issue, root: unknown, prefix: string | undefined): DataIssue {
  const segs = (issue.path ?? []).map((p) => (typeof p === "object" && p !== null ? p.key : p));
  const path = [...(prefix ? [prefix] : []), ...segs.map((s) => String(s))].join(".");
  const extra = issue as StandardSchemaV1.Issue & { code?: unknown; expected?: unknown; received?: unknown };
  const code = typeof extra.code === "string" ? extra.code : "invalid";
  const expected = typeof extra.expected === "string" ? extra.expected : undefined;
  let received = typeof extra.received === "string" ? extra.received : undefined;
  let message = issue.message;
  if (code === "invalid_type" && expected !== undefined) {
    // zod 4 words these "Invalid input: expected number, received string"; the contract's form is
    // "Expected number, received string", with the received type read from the value itself.
    received ??= typeName(valueAt(root, segs));
    message = `Expected ${expected}, received ${received}`;
  }
  return { code, path, message, ...(expected !== undefined ? { expected } : {}), ...(received !== undefined ? { received } : {}) };
}

function valueAt(root: unknown, segs: readonly PropertyKey[]): unknown {
  let v = root;
  for (const s of segs) {
    if (v === null || v === undefined) return undefined;
    v = v instanceof Map ? v.get(s) : (v as Record<PropertyKey, unknown>)[s];
  }
  return v;
}

/** The zod-style name of a runtime value's type, for "received ..." messages. */
export function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isNaN(v) ? "NaN" : "number";
  if (v instanceof Date) return "Date";
  if (v instanceof Map) return "Map";
  if (v instanceof Set) return "Set";
  if (v instanceof Uint8Array) return "Uint8Array";
  if (typeof v === "object") {
    const name = (Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null)?.constructor?.name;
    return name && name !== "Object" ? name : "object";
  }
  return typeof v;
}

/** Types with no JSON Schema equivalent, described by how flyte-ts stores them. */
function zodOverride(ctx: { zodSchema: unknown; jsonSchema: Record<string, unknown> }): void {
  const type = (ctx.zodSchema as { _zod?: { def?: { type?: string } } })._zod?.def?.type;
  if (type === "date") Object.assign(ctx.jsonSchema, { type: "string", format: "date-time", "x-flyte-type": "date" });
  else if (type === "bigint") Object.assign(ctx.jsonSchema, { type: "string", pattern: "^-?[0-9]+$", "x-flyte-type": "bigint" });
  else if (type === "map") Object.assign(ctx.jsonSchema, { type: "array", "x-flyte-type": "map" });
  else if (type === "set") Object.assign(ctx.jsonSchema, { type: "array", "x-flyte-type": "set" });
}

/** arktype types with no JSON Schema equivalent, described by how flyte-ts stores them. */
function arktypeFallback(ctx: { code: string; domain?: string; base: Record<string, unknown> }): Record<string, unknown> {
  if (ctx.code === "date") return { ...ctx.base, type: "string", format: "date-time", "x-flyte-type": "date" };
  if (ctx.code === "domain" && ctx.domain === "bigint") return { ...ctx.base, type: "string", pattern: "^-?[0-9]+$", "x-flyte-type": "bigint" };
  return ctx.base;
}

/**
 * JSON Schema (draft 2020-12) of a schema: through Standard JSON Schema (`~standard.jsonSchema`) when the
 * library provides it, else zod 4's `z.toJSONSchema`; arktype through its own `toJsonSchema`, valibot by reading its
 * schema objects; `undefined` when the schema cannot be expressed.
 * @param o.io which side of a transforming schema to describe. @default "input"
 */
export function schemaToJsonSchema(schema: SchemaLike, o: { io?: "input" | "output" } = {}): Record<string, unknown> | undefined {
  const io = o.io ?? "input";
  const std = schema["~standard"] as Partial<StandardJSONSchemaV1.Props>;
  if (std.vendor === "valibot" && isValibotSchema(schema)) return valibotToJsonSchema(schema as never);
  const ark = schema as unknown as { toJsonSchema?: (o: object) => Record<string, unknown> };
  if (std.vendor === "arktype" && typeof ark.toJsonSchema === "function") {
    // arktype's own exporter (rather than ~standard.jsonSchema) keeps defaults and lets Date/bigint say how they are stored.
    try {
      return ark.toJsonSchema({ fallback: arktypeFallback });
    } catch {
      return undefined;
    }
  }
  const isZod = std.vendor === "zod";
  const libraryOptions = isZod ? { unrepresentable: "any", override: zodOverride } : undefined;
  try {
    if (std.jsonSchema) return std.jsonSchema[io]({ target: "draft-2020-12", ...(libraryOptions ? { libraryOptions } : {}) });
  } catch {
    return undefined;
  }
  if (isZod && "_zod" in schema) {
    try {
      // Loaded only here (zod 4 releases before Standard JSON Schema), so importing flyte-ts never loads zod.
      const { z } = createRequire(import.meta.url)("zod") as typeof import("zod");
      return z.toJSONSchema(schema as unknown as import("zod").ZodType, { io, unrepresentable: "any", override: zodOverride }) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** True when the schema describes an object (a zod object, or a JSON Schema with `type: "object"`). */
export function isObjectSchema(schema: SchemaLike): boolean {
  const s = schema as unknown as { _zod?: { def?: { type?: string } }; _def?: { typeName?: string } };
  if (s._zod?.def?.type !== undefined) return s._zod.def.type === "object";
  if (s._def?.typeName !== undefined) return s._def.typeName === "ZodObject";
  return schemaToJsonSchema(schema)?.type === "object";
}
