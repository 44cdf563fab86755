/**
 * The process-wide table of type transformers and registered classes that `toLiteral`/`fromLiteral` consult.
 * `TypeEngine` (type-engine.ts) is the public face; this module only stores and looks up.
 * @module
 */
import type { BlobStore } from "../io/blob-store.ts";
import { ValidationError } from "../errors.ts";
import type { SchemaLike } from "./schema.ts";

/** What a transformer knows about the value being converted. */
export interface SerializationContext {
  /** Task FQN (`"env.f"`), when converting a task's inputs or outputs. */
  readonly taskName?: string;
  readonly direction?: "input" | "output";
  /** Dotted field path of the value (`"items.3.price"`; `""` for the root). */
  readonly path: string;
  /** Where files and offloaded data of the current attempt are written. */
  readonly blobStore: BlobStore;
  readonly rawDataPrefix: string;
}

/**
 * Converts values of one type. `toLiteral` may return anything the type engine itself can convert (JSON
 * data, Date, Map, other registered classes, ...); `fromLiteral` receives that value already decoded.
 */
export interface TypeTransformer<T> {
  /** Unique name; stored in the literal (`{"$flyte":"class","name":...}`), so keep it stable. */
  name: string;
  isInstance(v: unknown): v is T;
  toLiteral(v: T, ctx: SerializationContext): Promise<unknown>;
  fromLiteral(lit: unknown, ctx: SerializationContext): Promise<T>;
}

export interface RegistryEntry {
  readonly name: string;
  readonly transformer: TypeTransformer<unknown>;
  /** Set for `registerClass` entries: exact-constructor lookups are O(1). */
  readonly cls?: abstract new (...a: never[]) => unknown;
  readonly schema?: SchemaLike;
}

// Keyed by Symbol.for so that two copies of flyte-ts in one process share registrations.
const KEY = Symbol.for("flyte-ts.type-registry");
type Registry = { byName: Map<string, RegistryEntry>; byClass: Map<unknown, RegistryEntry>; ordered: RegistryEntry[] };
const g = globalThis as unknown as Record<symbol, Registry | undefined>;
const registry: Registry = (g[KEY] ??= { byName: new Map(), byClass: new Map(), ordered: [] });

export function addEntry(e: RegistryEntry): void {
  if (!e.name) throw new ValidationError("TypeEngine.register: a transformer needs a non-empty name.");
  if (registry.byName.has(e.name)) {
    throw new ValidationError(
      `TypeEngine: a transformer named "${e.name}" is already registered. Names are stored with the data and must be unique; pass { name } to choose another.`,
      { field: "name" },
    );
  }
  registry.byName.set(e.name, e);
  if (e.cls) registry.byClass.set(e.cls, e);
  registry.ordered.push(e);
}

export function removeEntry(name: string): boolean {
  const e = registry.byName.get(name);
  if (!e) return false;
  registry.byName.delete(name);
  if (e.cls) registry.byClass.delete(e.cls);
  registry.ordered.splice(registry.ordered.indexOf(e), 1);
  return true;
}

export function entryByName(name: string): RegistryEntry | undefined {
  return registry.byName.get(name);
}

/** The entry registered for exactly this value's class (checked before built-in types, so it can override them). */
export function exactEntry(v: object): RegistryEntry | undefined {
  if (registry.byClass.size === 0) return undefined;
  return registry.byClass.get((v as { constructor?: unknown }).constructor);
}

/** The first entry whose `isInstance` accepts the value (subclasses, structural transformers). */
export function scanEntry(v: object): RegistryEntry | undefined {
  for (const e of registry.ordered) if (e.transformer.isInstance(v)) return e;
  return undefined;
}

export function hasEntries(): boolean {
  return registry.ordered.length > 0;
}
