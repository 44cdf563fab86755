/**
 * JSON Schema of a valibot schema, read from valibot's public schema objects (`type`, `entries`, `wrapped`,
 * `item`, `options`, `pipe`) so flyte-ts needs no `@valibot/to-json-schema`. Types without a JSON form are
 * described as flyte-ts stores them (`x-flyte-type`: date, bigint, map, set); anything else is `{}` (any value).
 * @module
 */

interface ValibotNode {
  kind?: string;
  type?: string;
  entries?: Record<string, ValibotNode>;
  wrapped?: ValibotNode;
  default?: unknown;
  item?: ValibotNode;
  items?: ValibotNode[];
  options?: unknown[];
  literal?: unknown;
  enum?: Record<string, unknown>;
  key?: ValibotNode;
  value?: ValibotNode;
  rest?: ValibotNode;
  pipe?: ValibotNode[];
  description?: string;
  requirement?: unknown;
}

export function isValibotSchema(s: unknown): boolean {
  const std = (s as { "~standard"?: { vendor?: string } } | null)?.["~standard"];
  return std?.vendor === "valibot" && (s as ValibotNode).kind === "schema";
}

const OPTIONAL = new Set(["optional", "exact_optional", "nullish", "undefinedable"]);
const NULLABLE = new Set(["nullable", "nullish"]);

/** JSON Schema (draft 2020-12) of a valibot schema. */
export function valibotToJsonSchema(s: ValibotNode, depth = 0): Record<string, unknown> {
  if (depth > 32 || typeof s !== "object" || s === null) return {};
  const js = node(s, depth);
  for (const action of s.pipe ?? []) {
    if (action.kind === "metadata" && action.type === "description" && typeof action.description === "string") js.description = action.description;
    if (action.kind !== "validation") continue;
    if (action.type === "integer" && js.type === "number") js.type = "integer";
    else if (action.type === "min_value" && typeof action.requirement === "number") js.minimum = action.requirement;
    else if (action.type === "max_value" && typeof action.requirement === "number") js.maximum = action.requirement;
    else if (action.type === "min_length" && typeof action.requirement === "number") js[js.type === "array" ? "minItems" : "minLength"] = action.requirement;
    else if (action.type === "max_length" && typeof action.requirement === "number") js[js.type === "array" ? "maxItems" : "maxLength"] = action.requirement;
  }
  return js;
}

function node(s: ValibotNode, depth: number): Record<string, unknown> {
  const sub = (x: ValibotNode | undefined) => (x ? valibotToJsonSchema(x, depth + 1) : {});
  switch (s.type) {
    case "string":
      return { type: "string" };
    case "number":
      return { type: "number" };
    case "boolean":
      return { type: "boolean" };
    case "null":
      return { type: "null" };
    case "bigint":
      return { type: "string", pattern: "^-?[0-9]+$", "x-flyte-type": "bigint" };
    case "date":
      return { type: "string", format: "date-time", "x-flyte-type": "date" };
    case "literal":
      return jsonValue(s.literal) ? { const: s.literal } : {};
    case "picklist":
      return { enum: s.options ?? [] };
    case "enum":
      return { enum: Object.values(s.enum ?? {}) };
    case "array":
      return { type: "array", items: sub(s.item) };
    case "tuple":
    case "strict_tuple":
    case "loose_tuple":
    case "tuple_with_rest": {
      const items = (s.items ?? []).map(sub);
      return { type: "array", prefixItems: items, ...(s.type === "tuple_with_rest" ? { items: sub(s.rest) } : s.type === "strict_tuple" ? { items: false } : {}) };
    }
    case "object":
    case "strict_object":
    case "loose_object":
    case "object_with_rest": {
      const properties: Record<string, unknown> = {};
      const required: string[] = [];
      for (const [k, v] of Object.entries(s.entries ?? {})) {
        properties[k] = valibotToJsonSchema(v, depth + 1);
        if (!OPTIONAL.has(v.type ?? "")) required.push(k);
      }
      const additional = s.type === "object_with_rest" ? sub(s.rest) : s.type !== "strict_object";
      return { type: "object", properties, ...(required.length ? { required } : {}), additionalProperties: additional };
    }
    case "record":
      return { type: "object", additionalProperties: sub(s.value) };
    case "map":
      return { type: "array", "x-flyte-type": "map" };
    case "set":
      return { type: "array", "x-flyte-type": "set" };
    case "union":
    case "variant":
      return { anyOf: (s.options as ValibotNode[] | undefined ?? []).map(sub) };
    case "optional":
    case "exact_optional":
    case "nullish":
    case "nullable":
    case "undefinedable": {
      const inner = sub(s.wrapped);
      const withNull = NULLABLE.has(s.type) ? { anyOf: [inner, { type: "null" }] } : inner;
      // A default given as a function is computed per call: only a plain value is shown.
      return s.default !== undefined && typeof s.default !== "function" && jsonValue(s.default) ? { ...withNull, default: s.default } : withNull;
    }
    default:
      return {};
  }
}

function jsonValue(v: unknown): boolean {
  return v === null || ["string", "number", "boolean"].includes(typeof v) || (typeof v === "object" && !(v instanceof Date));
}
