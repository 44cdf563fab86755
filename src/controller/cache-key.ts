/**
 * Cache keys (API.md §5): hex SHA-256 of inputs hash + task FQN + interface hash + cache version.
 * Versions and interface hashes are memoised per template because tokenising a function body on every
 * call would dominate cache-hit latency.
 */
import type { TaskTemplate } from "../authoring/task-template.ts";
import { canonicalJson, sha256Hex } from "../types/codec.ts";
import { schemaToJsonSchema } from "../types/schema.ts";
import type { Literal } from "../types/literal.ts";

const sha256 = sha256Hex;

const versions = new WeakMap<object, string>();
const interfaces = new WeakMap<object, string>();

/** The cache version of a task (versionOverride, or the hash of its policies). */
export function cacheVersion(task: TaskTemplate): string {
  let v = versions.get(task);
  if (v === undefined) {
    const fn = (task as { fn?: Function }).fn;
    v = task.cache.getVersion({ fn, get image() { return task.image; } });
    versions.set(task, v);
  }
  return v;
}

const schemas = new WeakMap<object, { inputs?: object; output?: object } | null>();
/** The JSON schemas of a task's inputs and output (null when it declares no schemas). */
export function interfaceSchemas(task: TaskTemplate): { inputs?: object; output?: object } | null {
  let s = schemas.get(task);
  if (s === undefined) {
    const { inputs, output } = task.interface;
    // `flyte run` attaches the schemas derived from a schema-less task's TypeScript signature (never hashed:
    // a task's cache keys must not depend on whether it was started from the CLI).
    const derived = task.interface.jsonSchema as { inputs?: object; output?: object } | undefined;
    const i = inputs ? schemaToJsonSchema(inputs) : derived?.inputs;
    const o = output ? schemaToJsonSchema(output) : derived?.output;
    s = i || o ? { ...(i ? { inputs: i } : {}), ...(o ? { output: o } : {}) } : null;
    schemas.set(task, s);
  }
  return s;
}

/** Hash of the task's input/output JSON schemas ("" when it declares none). */
export function interfaceHash(task: TaskTemplate): string {
  let h = interfaces.get(task);
  if (h === undefined) {
    const { inputs, output } = task.interface;
    const schema = {
      inputs: inputs ? (schemaToJsonSchema(inputs) ?? null) : null,
      output: output ? (schemaToJsonSchema(output) ?? null) : null,
    };
    h = inputs || output ? sha256(canonicalJson(schema as Literal)) : "";
    interfaces.set(task, h);
  }
  return h;
}

/** Hash of the literal inputs (keys sorted); `ignored` inputs are left out. */
export function inputsHash(inputs: Literal, ignored: readonly string[] = []): string {
  if (inputs === null || inputs === undefined) return "";
  let lit: Literal = inputs;
  if (ignored.length > 0 && typeof inputs === "object" && !Array.isArray(inputs)) {
    lit = Object.fromEntries(Object.entries(inputs).filter(([k]) => !ignored.includes(k))) as Literal;
  }
  return sha256(canonicalJson(lit));
}

export function cacheKey(task: TaskTemplate, inputs: Literal): string {
  return keyOf(inputsHash(inputs, task.cache.ignoredInputs), task.name, interfaceHash(task), cacheVersion(task));
}

/** The key from its parts (the one formula `cacheKey` and `cacheKeyParts` share). */
function keyOf(inputsHash: string, taskName: string, interfaceHash: string, cacheVersion: string): string {
  return sha256(inputsHash + taskName + interfaceHash + cacheVersion);
}

/** What `cacheKey` is computed from, with the key: what an action records so a reader can see why it hit or missed. */
export interface CacheKeyParts {
  key: string;
  taskName: string;
  cacheVersion: string;
  /** Set when the version is the task's `versionOverride` (otherwise it is the hash of its policies). */
  versionOverride?: string;
  interfaceHash: string;
  inputsHash: string;
  /** Each hashed input (the ignored ones left out) with the hash of its own literal, in name order. */
  inputs: { name: string; hash: string }[];
  ignoredInputs: string[];
}

export function cacheKeyParts(task: TaskTemplate, lit: Literal): CacheKeyParts {
  const ignored = task.cache.ignoredInputs;
  const ih = inputsHash(lit, ignored);
  const iface = interfaceHash(task);
  const version = cacheVersion(task);
  const inputs = lit !== null && typeof lit === "object" && !Array.isArray(lit)
    ? Object.keys(lit).filter((k) => !ignored.includes(k)).sort()
      .map((name) => ({ name, hash: sha256(canonicalJson((lit as Record<string, Literal>)[name]!)) }))
    : [];
  return {
    key: keyOf(ih, task.name, iface, version), taskName: task.name, cacheVersion: version,
    ...(task.cache.versionOverride !== undefined ? { versionOverride: task.cache.versionOverride } : {}),
    interfaceHash: iface, inputsHash: ih, inputs, ignoredInputs: [...ignored],
  };
}
