/**
 * Host side of the sandbox boundary: values go in and come out as JSON text, never as shared objects, so
 * nothing the sandbox does can reach a host object or prototype.
 *
 * - In: null, booleans, finite numbers, strings, arrays and plain objects pass; File/Dir/DataFrame become
 *   opaque handles `{ __flyte_io_type__: "File", ref: "1" }`; anything else is a `RestrictedTypeError`.
 * - Out: JSON is parsed with a reviver that rejects `__proto__` keys and turns handles back into the host
 *   objects they stand for (a handle the host never issued is a `RestrictedTypeError`).
 * @module
 * @internal
 */
import { RestrictedTypeError } from "../errors.ts";
import { isIoValue } from "../io/io-value.ts";
import { typeName } from "../types/schema.ts";
import { IO_HANDLE_KEY } from "./prelude.ts";

/** File/Dir/DataFrame objects handed to one sandbox attempt, by handle id (and back). */
export class IoHandles {
  readonly #byRef = new Map<string, object>();
  readonly #refs = new Map<object, string>();

  handleFor(value: object): { [IO_HANDLE_KEY]: string; ref: string } {
    let ref = this.#refs.get(value);
    if (ref === undefined) {
      ref = String(this.#byRef.size + 1);
      this.#byRef.set(ref, value);
      this.#refs.set(value, ref);
    }
    return { [IO_HANDLE_KEY]: ioKind(value), ref };
  }

  lookup(ref: unknown): object | undefined {
    return typeof ref === "string" ? this.#byRef.get(ref) : undefined;
  }
}

function ioKind(v: object): string {
  const name = (v.constructor as { name?: string } | undefined)?.name;
  return name === "Dir" || name === "DataFrame" ? name : "File";
}

const ALLOWED = "Only null, booleans, finite numbers, strings, arrays, plain objects and File/Dir/DataFrame can cross the sandbox boundary";

/** JSON for the sandbox (`undefined` stays undefined); `where` names the value in error messages. */
export function toSandboxJson(value: unknown, handles: IoHandles, where: string, typeCheck: boolean): string | undefined {
  if (value === undefined) return undefined;
  return JSON.stringify(toPlain(value, handles, where, "", typeCheck, []));
}

function toPlain(v: unknown, handles: IoHandles, where: string, path: string, typeCheck: boolean, ancestors: object[]): unknown {
  if (v === null || v === undefined || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") {
    if (Number.isFinite(v) || !typeCheck) return v;
    throw restricted(where, path, typeName(v));
  }
  if (typeof v !== "object") {
    if (!typeCheck) return typeof v === "bigint" ? String(v) : undefined;
    throw restricted(where, path, typeof v);
  }
  if (ancestors.includes(v)) {
    throw new RestrictedTypeError(`${where}${path ? ` at ${path}` : ""} is cyclic (an object that contains itself), which cannot cross the sandbox boundary.`);
  }
  if (isIoValue(v)) return handles.handleFor(v);
  ancestors.push(v);
  try {
    if (Array.isArray(v)) return v.map((x, i) => toPlain(x, handles, where, `${path}[${i}]`, typeCheck, ancestors));
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      if (typeCheck) throw restricted(where, path, typeName(v));
      return JSON.parse(JSON.stringify(v) ?? "null");
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === "__proto__") throw new RestrictedTypeError(`${where} has a "__proto__" key, which cannot cross the sandbox boundary.`);
      out[k] = toPlain(x, handles, where, path ? `${path}.${k}` : k, typeCheck, ancestors);
    }
    return out;
  } finally {
    ancestors.pop();
  }
}

function restricted(where: string, path: string, type: string): RestrictedTypeError {
  return new RestrictedTypeError(`${where}${path ? ` at ${path}` : ""} is a ${type}, which cannot cross the sandbox boundary. ${ALLOWED}; convert it first (e.g. date.toISOString()).`);
}

/** Parses JSON coming out of the sandbox into host values. */
export function fromSandboxJson(json: string | undefined, handles: IoHandles, where: string): unknown {
  if (json === undefined) return undefined;
  // Without a handle or a "__proto__" key in the text the reviver has nothing to do, and it is the slow part.
  if (!json.includes(IO_HANDLE_KEY) && !json.includes("__proto__") && !json.includes("\\u")) return JSON.parse(json);
  return JSON.parse(json, function (this: unknown, key: string, value: unknown) {
    if (key === "__proto__") throw new RestrictedTypeError(`${where} has a "__proto__" key, which cannot cross the sandbox boundary.`);
    if (value !== null && typeof value === "object" && !Array.isArray(value) && IO_HANDLE_KEY in value) {
      const rec = value as Record<string, unknown>;
      const host = handles.lookup(rec.ref);
      if (!host) {
        throw new RestrictedTypeError(
          `${where} contains a ${String(rec[IO_HANDLE_KEY])} handle the sandbox did not receive from a task or its inputs. File/Dir/DataFrame values can only be passed through, not created, inside the sandbox.`,
        );
      }
      return host;
    }
    return value;
  });
}
