/**
 * Literal → value (the inverse of the encoder in literal.ts).
 *
 * Decoding is synchronous except for registered classes, whose `fromLiteral` is async. When the registry has
 * entries, a first pass collects the `class` nodes innermost-first and resolves them; the main pass then
 * picks the resolved instances up by node identity. Values without classes take the single fast pass.
 * @module
 */
import { currentIoScope } from "../io/io-scope.ts";
import { type FieldContext, fieldOf, rethrowAt, type Seg, transformFailed } from "./field.ts";
import { entryByName, hasEntries, type SerializationContext } from "./registry.ts";
import { validateWithSchema } from "./schema.ts";
import { unpackIo } from "./offload.ts";

type Obj = { [k: string]: unknown };
/** Builders for the I/O tags (File/Dir/DataFrame), passed in to keep this module free of the io classes. */
export type IoFactories = Record<"file" | "dir" | "dataframe", (lit: Obj) => unknown>;

const NONE_RESOLVED: ReadonlyMap<object, unknown> = new Map();

/**
 * `decodeTagged`, synchronous when it can be (no offloaded value, no registered classes): the value itself,
 * else a promise of it. Every action's output is decoded for its caller, so the common case stays cheap.
 */
export function decodeTaggedNow(lit: unknown, ctx: FieldContext, io: IoFactories): unknown {
  if (isTagged(lit, "offloaded") || hasEntries()) return decodeTagged(lit, ctx, io);
  try {
    return new Decoder(ctx, io, NONE_RESOLVED, []).dec(lit);
  } catch (e) {
    throw tooDeep(e, ctx);
  }
}

function tooDeep(e: unknown, ctx: FieldContext): unknown {
  return e instanceof RangeError && /call stack/i.test(e.message) ? transformFailed(ctx, [], `is nested too deeply to decode (${e.message}).`, e) : e;
}

export async function decodeTagged(lit: unknown, ctx: FieldContext, io: IoFactories): Promise<unknown> {
  if (isTagged(lit, "offloaded")) lit = await unpackIo(lit as never, ctx);
  const resolved = new Map<object, unknown>();
  if (hasEntries()) {
    const classNodes: Array<{ node: Obj; segs: Seg[] }> = [];
    collectClasses(lit, [], classNodes);
    for (const { node, segs } of classNodes) resolved.set(node, await resolveClass(node, segs, ctx, io, resolved));
  }
  try {
    return new Decoder(ctx, io, resolved, []).dec(lit);
  } catch (e) {
    throw tooDeep(e, ctx);
  }
}

function isTagged(v: unknown, tag: string): boolean {
  return typeof v === "object" && v !== null && (v as Obj).$flyte === tag;
}

/** Post-order: a class nested in another class's value is resolved first. `segs` is shared and restored. */
function collectClasses(l: unknown, segs: Seg[], out: Array<{ node: Obj; segs: Seg[] }>): void {
  if (l === null || typeof l !== "object") return;
  if (Array.isArray(l)) {
    for (let i = 0; i < l.length; i++) {
      segs.push(i);
      collectClasses(l[i], segs, out);
      segs.pop();
    }
    return;
  }
  const o = l as Obj;
  if (o.$flyte === "class") {
    collectClasses(o.value, segs, out);
    out.push({ node: o, segs: [...segs] });
    return;
  }
  for (const k of Object.keys(o)) {
    segs.push(k);
    collectClasses(o[k], segs, out);
    segs.pop();
  }
}

async function resolveClass(node: Obj, segs: Seg[], ctx: FieldContext, io: IoFactories, resolved: Map<object, unknown>): Promise<unknown> {
  const name = String(node.name);
  const entry = entryByName(name);
  if (!entry) throw unregistered(ctx, segs, name);
  let value = new Decoder(ctx, io, resolved, segs).dec(node.value);
  const field = fieldOf(ctx, segs);
  if (entry.schema) {
    value = await validateWithSchema(entry.schema, value, {
      ...(ctx.taskName !== undefined ? { taskName: ctx.taskName } : {}),
      direction: ctx.direction ?? "output",
      path: field,
    });
  }
  const scope = currentIoScope();
  const sctx: SerializationContext = {
    ...(ctx.taskName !== undefined ? { taskName: ctx.taskName } : {}),
    ...(ctx.direction !== undefined ? { direction: ctx.direction } : {}),
    path: field,
    blobStore: scope.blobStore,
    rawDataPrefix: scope.rawDataPrefix,
  };
  try {
    return await entry.transformer.fromLiteral(value, sctx);
  } catch (e) {
    rethrowAt(e, ctx, segs, `transformer "${name}" failed to rebuild the value`);
  }
}

function unregistered(ctx: FieldContext, segs: readonly Seg[], name: string): Error {
  return transformFailed(
    ctx,
    segs,
    `was stored as class "${name}", which is not registered in this process. Call TypeEngine.registerClass(${name}, ...) (or TypeEngine.register) before reading it.`,
  );
}

class Decoder {
  constructor(
    private readonly ctx: FieldContext,
    private readonly io: IoFactories,
    private readonly resolved: ReadonlyMap<object, unknown>,
    private readonly segs: Seg[],
  ) {}

  dec(l: unknown): unknown {
    if (l === null || typeof l !== "object") return l;
    const segs = this.segs;
    if (Array.isArray(l)) {
      const out = new Array<unknown>(l.length);
      for (let i = 0; i < l.length; i++) {
        segs.push(i);
        out[i] = this.dec(l[i]);
        segs.pop();
      }
      return out;
    }
    const o = l as Obj;
    const tag = o.$flyte;
    if (tag === undefined) {
      const out: Obj = {};
      for (const k of Object.keys(o)) {
        segs.push(k);
        const v = this.dec(o[k]);
        segs.pop();
        if (k === "__proto__") Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
        else out[k] = v;
      }
      return out;
    }
    return this.decTagged(o, tag);
  }

  private decTagged(o: Obj, tag: unknown): unknown {
    switch (tag) {
      case "number":
        if (o.value === "NaN") return NaN;
        if (o.value === "Infinity") return Infinity;
        if (o.value === "-Infinity") return -Infinity;
        break;
      case "date":
        if (typeof o.value === "string") return new Date(o.value);
        break;
      case "bigint":
        if (typeof o.value === "string" && /^-?\d+$/.test(o.value)) return BigInt(o.value);
        break;
      case "undefined":
        return undefined;
      case "bytes":
        if (typeof o.base64 === "string") return new Uint8Array(Buffer.from(o.base64, "base64"));
        break;
      case "map":
        if (Array.isArray(o.entries)) {
          const m = new Map<unknown, unknown>();
          o.entries.forEach((e: unknown, i) => {
            if (!Array.isArray(e) || e.length !== 2) throw this.malformed(tag, `entry ${i} is not a [key, value] pair`);
            this.segs.push(`<key ${i}>`);
            const k = this.dec(e[0]);
            this.segs.pop();
            this.segs.push(typeof k === "string" || typeof k === "number" ? k : `<key ${i}>`);
            m.set(k, this.dec(e[1]));
            this.segs.pop();
          });
          return m;
        }
        break;
      case "set":
        if (Array.isArray(o.values)) {
          const s = new Set<unknown>();
          o.values.forEach((v: unknown, i) => {
            this.segs.push(i);
            s.add(this.dec(v));
            this.segs.pop();
          });
          return s;
        }
        break;
      case "class":
        if (this.resolved.has(o)) return this.resolved.get(o);
        throw unregistered(this.ctx, this.segs, String(o.name));
      case "file":
      case "dir":
      case "dataframe":
        if (typeof o.uri === "string") return this.io[tag](o);
        break;
      case "offloaded":
        throw transformFailed(this.ctx, this.segs, `is an offloaded literal nested inside another value; only whole inputs/outputs are offloaded. The data is corrupted.`);
      default:
        throw transformFailed(
          this.ctx,
          this.segs,
          `has an unknown tag {"$flyte": ${JSON.stringify(tag)}}. It was written by a newer flyte-ts or is corrupted; upgrade flyte-ts to read it.`,
        );
    }
    throw this.malformed(tag, "required fields are missing or have the wrong type");
  }

  private malformed(tag: unknown, why: string): Error {
    return transformFailed(this.ctx, this.segs, `is a malformed {"$flyte": ${JSON.stringify(tag)}} literal: ${why}.`);
  }
}
