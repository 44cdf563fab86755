/**
 * What `flyte run` knows about a task's inputs: one `InputSpec` per input, read from the task's inputs schema
 * (zod, valibot, arktype, ...), else from the JSON Schema derived from its TypeScript signature, else only the
 * names of its destructured parameter (read with acorn; then values are JSON or text).
 * @module
 */
import * as acorn from "acorn";
import type { TaskTemplate } from "../../index.ts";
import { schemaToJsonSchema } from "../../types/schema.ts";

export type InputKind = "string" | "number" | "integer" | "boolean" | "bigint" | "date" | "file" | "dir" | "array" | "object" | "unknown";

/** The type of one value (an input, or the items of an array input). */
export interface ValueSpec {
  type: InputKind;
  /** Allowed values (from a literal union / enum). */
  enum?: readonly (string | number | boolean)[];
  /** Item type of an array. */
  items?: ValueSpec;
}

export interface InputSpec extends ValueSpec {
  name: string;
  required: boolean;
  description?: string;
  /** The default, when the schema or the destructuring states one as a literal. */
  default?: unknown;
  /** The default's source text, when it is not a literal (`{ when = new Date() }`). */
  defaultText?: string;
}

type Js = Record<string, unknown>;

/** Derived signature schemas, attached by `flyte run` to schema-less tasks (see task-signatures.ts). */
export interface DerivedInterface {
  inputs?: Js;
  output?: Js;
}

export function derivedInterface(task: TaskTemplate): DerivedInterface | undefined {
  return task.interface.jsonSchema as DerivedInterface | undefined;
}

/** The inputs of a task, from the best source it has. */
export function inputSpecs(task: TaskTemplate): InputSpec[] {
  const js = task.interface.inputs ? schemaToJsonSchema(task.interface.inputs) : derivedInterface(task)?.inputs;
  if (js && typeof js.properties === "object" && js.properties !== null) return specsFromJsonSchema(js);
  const fn = (task as { fn?: Function }).fn;
  return fn ? paramsFromSource(fn) : [];
}

export function specsFromJsonSchema(js: Js): InputSpec[] {
  const props = js.properties as Record<string, Js>;
  const required = Array.isArray(js.required) ? (js.required as string[]) : [];
  return Object.entries(props).map(([name, p]) => {
    const spec: InputSpec = { name, ...valueSpec(p), required: required.includes(name) && !("default" in p) };
    if (typeof p.description === "string" && p.description) spec.description = p.description;
    if ("default" in p) spec.default = p.default;
    if (typeof p["x-flyte-default-text"] === "string") spec.defaultText = p["x-flyte-default-text"];
    return spec;
  });
}

function valueSpec(p: Js, depth = 0): ValueSpec {
  if (depth > 8) return { type: "unknown" };
  const flyteType = p["x-flyte-type"];
  if (flyteType === "date" || flyteType === "bigint" || flyteType === "file" || flyteType === "dir") return { type: flyteType };
  if (flyteType === "map" || flyteType === "set") return { type: "unknown" };
  for (const key of ["anyOf", "oneOf"] as const) {
    const alts = p[key];
    if (Array.isArray(alts)) {
      const nonNull = (alts as Js[]).filter((a) => a.type !== "null");
      return nonNull.length === 1 ? valueSpec(nonNull[0]!, depth + 1) : { type: "unknown" };
    }
  }
  const values = Array.isArray(p.enum) ? (p.enum as unknown[]) : "const" in p ? [p.const] : undefined;
  let type = Array.isArray(p.type) ? (p.type as unknown[]).filter((t) => t !== "null") : [p.type];
  if (type.length !== 1 || type[0] === undefined) {
    if (values && values.every((v) => typeof v === typeof values[0])) type = [typeof values[0]];
    else return { type: "unknown" };
  }
  const t = type[0];
  const spec: ValueSpec =
    t === "string" || t === "number" || t === "integer" || t === "boolean" || t === "object" ? { type: t } : t === "array" ? { type: "array" } : { type: "unknown" };
  if (values && values.every((v) => ["string", "number", "boolean"].includes(typeof v))) spec.enum = values as (string | number | boolean)[];
  if (spec.type === "array") {
    const items = p.items;
    spec.items = items && typeof items === "object" && !Array.isArray(items) ? valueSpec(items as Js, depth + 1) : { type: "unknown" };
  }
  return spec;
}

/** `<number>`, `<a|b>`, `<string>...`: how an input's value is written on the command line. */
export function placeholder(s: ValueSpec): string {
  if (s.enum) return s.enum.map(String).join("|");
  switch (s.type) {
    case "date":
      return "ISO-8601 date";
    case "file":
      return "file path";
    case "dir":
      return "directory path";
    case "bigint":
      return "integer";
    case "object":
      return "JSON object";
    case "unknown":
      return "value";
    case "array":
      return placeholder(s.items ?? { type: "unknown" });
    default:
      return s.type;
  }
}

/** True when the function declares a parameter (so its task has inputs worth typing). */
export function hasParameter(fn: Function): boolean {
  if (fn.length > 0) return true;
  return firstParam(fn) !== undefined;
}

/** Reads `{ a, b = 1 }` from a function's first parameter (for JavaScript tasks the compiler could not type). */
function paramsFromSource(fn: Function): InputSpec[] {
  const param = firstParam(fn);
  if (!param) return [];
  const pattern = param.type === "AssignmentPattern" ? param.left : param;
  if (pattern.type !== "ObjectPattern") return [];
  const specs: InputSpec[] = [];
  for (const prop of pattern.properties) {
    if (prop.type !== "Property" || prop.key.type !== "Identifier") continue;
    specs.push({ name: prop.key.name, type: "unknown", required: prop.value.type !== "AssignmentPattern" });
  }
  return specs;
}

function firstParam(fn: Function): acorn.Pattern | undefined {
  const src = fn.toString();
  let program: acorn.Program | undefined;
  for (const candidate of [`(${src})`, `({${src}})`]) {
    try {
      program = acorn.parse(candidate, { ecmaVersion: "latest" });
      break;
    } catch {
      // try the next wrapping (method shorthand)
    }
  }
  if (!program) return undefined;
  let param: acorn.Pattern | undefined;
  const visit = (node: acorn.Node | null | undefined): void => {
    if (!node || param) return;
    const n = node as acorn.Node & { params?: acorn.Pattern[]; expression?: acorn.Node; properties?: acorn.Node[]; value?: acorn.Node };
    if (n.params) param = n.params[0];
    else if (n.expression) visit(n.expression);
    else if (n.properties) n.properties.forEach((p) => visit((p as { value?: acorn.Node }).value));
  };
  visit(program.body[0]);
  return param;
}
