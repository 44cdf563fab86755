/**
 * Values ⇄ literals (API.md §12.1): the JSON form in which inputs and outputs cross action boundaries.
 *
 * Plain JSON data is its own literal; everything else uses a tagged object `{"$flyte": <tag>, ...}`:
 * `number` (NaN/±Infinity), `date`, `bigint`, `map`, `set`, `bytes`, `class` (registered classes),
 * `file`, `dir`, `dataframe`, `offloaded`, and `undefined` (flyte-ts extension: `undefined` as the whole
 * value or as an array/Map/Set element, where omitting it is impossible). Anything else is refused with a
 * `TypeTransformerFailedError` naming the task, the field and the type: nothing is dropped or turned into `{}`.
 *
 * The walk is synchronous (fast on large values); the few asynchronous steps (uploading a local File,
 * writing a DataFrame, custom transformers) leave a placeholder that is filled in before the call resolves.
 *
 * @example
 * ```ts
 * const lit = await toLiteral({ when: new Date(0), n: 10n }, { taskName: "env.f", direction: "output" });
 * // { when: { $flyte: "date", value: "1970-01-01T00:00:00.000Z" }, n: { $flyte: "bigint", value: "10" } }
 * const value = await fromLiteral(lit); // { when: Date, n: 10n }
 * ```
 * @module
 */
import { currentIoScope } from "../io/io-scope.ts";
import { isIoValue, TO_LITERAL } from "../io/io-value.ts";
import { DataFrame } from "../io/dataframe.ts";
import { Dir } from "../io/dir.ts";
import { File } from "../io/file.ts";
import { decodeTagged, decodeTaggedNow } from "./decode.ts";
import { type FieldContext, fieldOf, rethrowAt, type Seg, transformFailed } from "./field.ts";
import { exactEntry, type RegistryEntry, scanEntry, type SerializationContext } from "./registry.ts";
import { validateWithSchema } from "./schema.ts";

/** The JSON form of a value (tagged objects included). */
export type Literal = null | boolean | number | string | Literal[] | { [key: string]: Literal };

export interface LiteralContext {
  /** Task FQN used in error messages, e.g. `"env.f"`. */
  taskName: string;
  direction: "input" | "output";
  /** Field the value sits in (prefix of error paths). */
  path?: string;
}

const TYPED_ARRAYS = new Set([
  "Int8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
  "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array",
]);

/**
 * Converts a value to its literal. File/Dir/DataFrame values still local are uploaded to the current I/O
 * scope's blob store (`withIoScope`) first.
 */
export async function toLiteral(value: unknown, ctx: LiteralContext | FieldContext): Promise<Literal> {
  return toLiteralNow(value, ctx);
}

/**
 * `toLiteral`, synchronous when nothing has to be uploaded first (the common case): the literal itself, else
 * a promise of it. The runtime converts every action's inputs and output, so it avoids a promise when it can.
 */
export function toLiteralNow(value: unknown, ctx: LiteralContext | FieldContext): Literal | Promise<Literal> {
  const pending: Promise<void>[] = [];
  const root = new Encoder(ctx, pending, [], new Map());
  let lit: Literal;
  try {
    lit = root.enc(value);
  } catch (e) {
    throw tooDeep(e, ctx);
  }
  if (pending.length === 0) return lit;
  return (async () => {
    try {
      while (pending.length) await Promise.all(pending.splice(0));
    } catch (e) {
      throw tooDeep(e, ctx);
    }
    return lit;
  })();
}

function tooDeep(e: unknown, ctx: LiteralContext | FieldContext): unknown {
  return e instanceof RangeError && /call stack/i.test(e.message)
    ? transformFailed(ctx, [], `is nested too deeply to convert (${e.message}). Flatten the structure or pass it as a File.`, e)
    : e;
}

/** Converts a literal back to a value with the same types (`Date` stays `Date`, `bigint` stays `bigint`, ...). */
export async function fromLiteral(lit: unknown, ctx: FieldContext = {}): Promise<unknown> {
  return decodeTagged(lit, ctx, IO_FACTORIES);
}

/** `fromLiteral`, synchronous when the literal holds no offloaded value and no registered class. */
export function fromLiteralNow(lit: unknown, ctx: FieldContext = {}): unknown {
  return decodeTaggedNow(lit, ctx, IO_FACTORIES);
}

const IO_FACTORIES = { file: File.fromLiteral, dir: Dir.fromLiteral, dataframe: DataFrame.fromLiteral };

class Encoder {
  constructor(
    private readonly ctx: FieldContext,
    private readonly pending: Promise<void>[],
    private readonly segs: Seg[],
    /** Objects on the current path (→ their depth), to tell a cycle from a shared reference. */
    private readonly ancestors: Map<object, number>,
  ) {}

  enc(v: unknown): Literal {
    switch (typeof v) {
      case "string":
      case "boolean":
        return v;
      case "number":
        return Number.isFinite(v) ? v : { $flyte: "number", value: Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity" };
      case "bigint":
        return { $flyte: "bigint", value: v.toString() };
      case "undefined":
        return { $flyte: "undefined" };
      case "symbol":
        throw this.fail(`is a symbol (${String(v)}), which cannot cross an action boundary. Use a string instead.`);
      case "function":
        throw this.fail(
          `is a function (${v.name || "anonymous"}), which cannot cross an action boundary. Pass data instead, and call the function inside the task.`,
        );
    }
    if (v === null) return null;
    const o = v as object;
    const depth = this.ancestors.get(o);
    if (depth !== undefined) {
      const target = fieldOf(this.ctx, this.segs.slice(0, depth));
      throw this.fail(
        `is a circular reference (it points back to ${this.ctx.direction === "output" ? `".${target}"` : (target ? JSON.stringify(target) : "the inputs object")}). Break the cycle, e.g. store an id instead of the object.`,
      );
    }
    if (Array.isArray(o)) return this.nested(o, () => this.encArray(o));
    const proto: unknown = Object.getPrototypeOf(o);
    if (proto === Object.prototype || proto === null) return this.nested(o, () => this.encObject(o as Record<string, unknown>));
    const exact = exactEntry(o);
    if (exact) return this.encRegistered(o, exact);
    if (o instanceof Date) {
      const t = o.getTime();
      return { $flyte: "date", value: Number.isNaN(t) ? "Invalid Date" : o.toISOString() };
    }
    if (o instanceof Uint8Array) {
      return { $flyte: "bytes", base64: Buffer.from(o.buffer, o.byteOffset, o.byteLength).toString("base64") };
    }
    if (o instanceof Map) return this.nested(o, () => this.encMap(o));
    if (o instanceof Set) return this.nested(o, () => this.encSet(o));
    if (isIoValue(o)) return this.encIo(o);
    const scanned = scanEntry(o);
    if (scanned) return this.encRegistered(o, scanned);
    if (isForeignPlainObject(proto)) return this.nested(o, () => this.encObject(o as Record<string, unknown>));
    throw this.fail(unsupported(o));
  }

  private nested(o: object, fn: () => Literal): Literal {
    this.ancestors.set(o, this.segs.length);
    try {
      return fn();
    } finally {
      this.ancestors.delete(o);
    }
  }

  private encArray(a: readonly unknown[]): Literal[] {
    const out = new Array<Literal>(a.length);
    const segs = this.segs;
    for (let i = 0; i < a.length; i++) {
      segs.push(i);
      out[i] = this.enc(a[i]);
      segs.pop();
    }
    return out;
  }

  private encObject(o: Record<string, unknown>): Literal {
    const out: { [k: string]: Literal } = {};
    const segs = this.segs;
    for (const k of Object.keys(o)) {
      const val = o[k];
      if (val === undefined) continue; // §12.1: an undefined property is omitted, as in JSON
      if (k === "$flyte") {
        throw this.fail(`has a property "$flyte", which is reserved for flyte-ts tagged values. Rename the property.`);
      }
      segs.push(k);
      if (k === "__proto__") {
        // Own "__proto__" keys (from JSON.parse) would turn into a prototype in some decoders; refuse loudly.
        throw this.fail(`is an own property named "__proto__", which cannot be stored safely. Rename the property.`);
      }
      out[k] = this.enc(val);
      segs.pop();
    }
    const syms = Object.getOwnPropertySymbols(o);
    for (const s of syms) {
      if (Object.prototype.propertyIsEnumerable.call(o, s)) {
        throw this.fail(`has a symbol-keyed property ${String(s)}, which cannot be serialized. Use a string key.`);
      }
    }
    return out;
  }

  private encMap(m: Map<unknown, unknown>): Literal {
    const entries: Literal[] = [];
    let i = 0;
    for (const [k, val] of m) {
      const seg = typeof k === "string" || typeof k === "number" ? k : `<key ${i}>`;
      this.segs.push(`<key ${i}>`);
      const key = this.enc(k);
      this.segs.pop();
      this.segs.push(seg);
      entries.push([key, this.enc(val)]);
      this.segs.pop();
      i++;
    }
    return { $flyte: "map", entries };
  }

  private encSet(s: Set<unknown>): Literal {
    const values: Literal[] = [];
    let i = 0;
    for (const val of s) {
      this.segs.push(i++);
      values.push(this.enc(val));
      this.segs.pop();
    }
    return { $flyte: "set", values };
  }

  /** File/Dir/DataFrame: upload or write now (async), fill the placeholder when done. */
  private encIo(o: { [TO_LITERAL](): Promise<Record<string, string | number>> }): Literal {
    const node: { [k: string]: Literal } = {};
    const segs = [...this.segs];
    const what = o instanceof File ? "File" : o instanceof Dir ? "Dir" : o instanceof DataFrame ? "DataFrame" : "I/O value";
    this.defer(async () => {
      try {
        Object.assign(node, await o[TO_LITERAL]());
      } catch (e) {
        rethrowAt(e, this.ctx, segs, `a ${what} that could not be stored`);
      }
    });
    return node;
  }

  private encRegistered(o: object, entry: RegistryEntry): Literal {
    const node: { [k: string]: Literal } = { $flyte: "class", name: entry.name, value: null };
    const segs = [...this.segs];
    const ancestors = new Map(this.ancestors).set(o, segs.length);
    const scope = currentIoScope();
    const field = fieldOf(this.ctx, segs);
    const sctx: SerializationContext = {
      ...(this.ctx.taskName !== undefined ? { taskName: this.ctx.taskName } : {}),
      ...(this.ctx.direction !== undefined ? { direction: this.ctx.direction } : {}),
      path: field,
      blobStore: scope.blobStore,
      rawDataPrefix: scope.rawDataPrefix,
    };
    this.defer(async () => {
      let out: unknown;
      try {
        out = await entry.transformer.toLiteral(o, sctx);
      } catch (e) {
        rethrowAt(e, this.ctx, segs, `transformer "${entry.name}" failed`);
      }
      if (entry.schema) {
        out = await validateWithSchema(entry.schema, out, {
          ...(this.ctx.taskName !== undefined ? { taskName: this.ctx.taskName } : {}),
          direction: this.ctx.direction ?? "output",
          path: field,
        });
      }
      node.value = new Encoder(this.ctx, this.pending, segs, ancestors).enc(out);
    });
    return node;
  }

  private defer(fn: () => Promise<void>): void {
    const p = fn();
    p.catch(() => undefined); // observed by the Promise.all in toLiteral; avoids an unhandled rejection if another fails first
    this.pending.push(p);
  }

  private fail(rest: string): Error {
    return transformFailed(this.ctx, this.segs, rest);
  }
}

/** A plain object from another realm (vm context, worker): its prototype is that realm's Object.prototype. */
function isForeignPlainObject(proto: unknown): boolean {
  return (
    typeof proto === "object" && proto !== null && Object.getPrototypeOf(proto) === null &&
    (proto as { constructor?: { name?: string } }).constructor?.name === "Object"
  );
}

/** The rest of the message for a value no rule accepts, with the fix for its kind. */
function unsupported(o: object): string {
  const ctorName = (o as { constructor?: { name?: string } }).constructor?.name ?? "";
  if (o instanceof Promise || typeof (o as { then?: unknown }).then === "function") {
    return "is a Promise. Await it before passing or returning it.";
  }
  if (o instanceof WeakMap || o instanceof WeakSet || o instanceof WeakRef) {
    return `is ${withArticle(ctorName || "weak collection")}, whose entries cannot be enumerated or serialized. Use a Map or Set instead.`;
  }
  if (o instanceof Error) {
    return `is an Error (${o.name}: ${o.message}). Errors cannot be passed as values; throw it, or pass { name, message } instead.`;
  }
  if (TYPED_ARRAYS.has(ctorName)) {
    return `is ${withArticle(ctorName)}; only Uint8Array/Buffer is supported as binary data. Pass Array.from(value) or new Uint8Array(value.buffer).`;
  }
  if (o instanceof ArrayBuffer || o instanceof DataView || (typeof SharedArrayBuffer !== "undefined" && o instanceof SharedArrayBuffer)) {
    return `is ${withArticle(ctorName)}; wrap it as new Uint8Array(buffer) to pass binary data.`;
  }
  const cls = ctorName || "(anonymous)";
  return `is an instance of class ${cls}, which has no registered transformer. Use TypeEngine.registerClass(${cls}, ...)`;
}

function withArticle(name: string): string {
  return `${/^[aeiou]/i.test(name) ? "an" : "a"} ${name}`;
}
