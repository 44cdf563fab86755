/**
 * `TypeEngine` (exported from `flyte-ts/extend`): teaches flyte-ts new types, and converts values with
 * optional schema validation (API.md §12.1).
 *
 * @example
 * ```ts
 * class Point { constructor(public x = 0, public y = 0) {} }
 * TypeEngine.registerClass(Point);                       // stored as {"$flyte":"class","name":"Point","value":{x,y}}
 * const lit = await TypeEngine.toLiteral(new Point(1, 2));
 * const p = await TypeEngine.toValue(lit);               // Point { x: 1, y: 2 }
 * ```
 * @module
 */
import { ValidationError } from "../errors.ts";
import type { FieldContext } from "./field.ts";
import { fromLiteral, type Literal, toLiteral } from "./literal.ts";
import { addEntry, removeEntry, type TypeTransformer } from "./registry.ts";
import { type SchemaLike, validateWithSchema } from "./schema.ts";

export type { SerializationContext, TypeTransformer } from "./registry.ts";
export type { Literal } from "./literal.ts";

export interface RegisterClassOptions<T> {
  /** Name stored with the data. @default cls.name */
  name?: string;
  /** Validates the JSON form on both sides (after `toJSON`, before `fromJSON`). */
  schema?: SchemaLike;
  /** @default own enumerable properties */
  toJSON?: (v: T) => unknown;
  /** @default Object.assign(Object.create(cls.prototype), json) */
  fromJSON?: (json: unknown) => T;
}

export interface ConvertOptions {
  /** Validate (and parse) the value with this schema: before encoding in toLiteral, after decoding in toValue. */
  schema?: SchemaLike;
  /** Field path used in error messages. */
  path?: string;
  taskName?: string;
  direction?: "input" | "output";
}

export class TypeEngine {
  /** Registers a transformer. Duplicate name → `ValidationError`. */
  static register<T>(t: TypeTransformer<T>): void {
    if (typeof t?.isInstance !== "function" || typeof t.toLiteral !== "function" || typeof t.fromLiteral !== "function") {
      throw new ValidationError("TypeEngine.register: a transformer needs name, isInstance, toLiteral and fromLiteral.");
    }
    addEntry({ name: t.name, transformer: t as TypeTransformer<unknown> });
  }

  /** Registers a class so its instances cross action boundaries (default: own enumerable properties). */
  static registerClass<T extends object>(cls: new (...args: never[]) => T, o: RegisterClassOptions<T> = {}): void {
    if (typeof cls !== "function") throw new ValidationError(`TypeEngine.registerClass: expected a class, got ${typeof cls}.`);
    const name = o.name ?? cls.name;
    if (!name) throw new ValidationError("TypeEngine.registerClass: the class is anonymous. Pass { name }.", { field: "name" });
    const toJSON = o.toJSON ?? ((v: T) => Object.fromEntries(Object.entries(v)));
    const fromJSON = o.fromJSON ?? ((j: unknown) => Object.assign(Object.create(cls.prototype) as T, j));
    const transformer: TypeTransformer<T> = {
      name,
      isInstance: (v: unknown): v is T => v instanceof cls,
      toLiteral: async (v: T) => toJSON(v),
      fromLiteral: async (j: unknown) => fromJSON(j),
    };
    addEntry({ name, transformer: transformer as TypeTransformer<unknown>, cls, ...(o.schema ? { schema: o.schema } : {}) });
  }

  /** Removes a registration (mainly for tests and hot reload); true when one was removed. */
  static unregister(name: string): boolean {
    return removeEntry(name);
  }

  /** Value → literal, validating with `o.schema` first when given. */
  static async toLiteral(v: unknown, o: ConvertOptions = {}): Promise<Literal> {
    const ctx = fieldContext(o);
    const value = o.schema ? await validateWithSchema(o.schema, v, { ...ctx, direction: ctx.direction ?? "output" }) : v;
    return toLiteral(value, ctx);
  }

  /** Literal → value, validating with `o.schema` afterwards (unions decode to the first matching branch). */
  static async toValue(lit: unknown, o: ConvertOptions = {}): Promise<unknown> {
    const ctx = fieldContext(o);
    const value = await fromLiteral(lit, ctx);
    return o.schema ? validateWithSchema(o.schema, value, { ...ctx, direction: ctx.direction ?? "output" }) : value;
  }
}

function fieldContext(o: ConvertOptions): FieldContext {
  return {
    ...(o.taskName !== undefined ? { taskName: o.taskName } : {}),
    ...(o.direction !== undefined ? { direction: o.direction } : {}),
    ...(o.path !== undefined ? { path: o.path } : {}),
  };
}
