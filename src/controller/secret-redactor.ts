/**
 * Finds secret values in text and data. A value can surface in forms other than itself: printed line by line
 * (a PEM key), without the trailing newline its file had, or JSON-escaped (`"` and `\` doubled up when a
 * record or an object holding it is serialised). Each of these forms is searched for.
 */
import { SecretLeakError, type ErrorRecord } from "../errors.ts";
import { MIN_SECRET_LENGTH } from "../secrets/secret-store.ts";
import { describeField, withFieldInfo, type FieldContext } from "../types/field.ts";
import type { Literal } from "../types/literal.ts";


const MASK = "****";

export class SecretRedactor {
  /** value → the secret's name (`key` or `group/key`). */
  readonly #values = new Map<string, string>();
  /** form → the secret's name. */
  readonly #forms = new Map<string, string>();
  #pattern: RegExp | undefined;

  get size(): number {
    return this.#values.size;
  }

  add(value: string, name: string): void {
    if (this.#values.has(value)) return;
    this.#values.set(value, name);
    this.#pattern = undefined;
  }

  /** Every form of every value, longest first (so a whole value is masked before one of its lines). */
  #regex(): RegExp | undefined {
    if (this.#pattern || this.#values.size === 0) return this.#pattern;
    const forms = this.#forms;
    forms.clear();
    for (const [v, name] of this.#values) {
      const base = [v, v.replace(/\r?\n$/, ""), ...v.split(/\r?\n/)];
      for (const f of base) {
        if (!forms.has(f)) forms.set(f, name);
        const escaped = JSON.stringify(f).slice(1, -1);
        if (!forms.has(escaped)) forms.set(escaped, name);
      }
    }
    const needles = [...forms.keys()].filter((f) => f.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
    if (needles.length === 0) return undefined;
    this.#pattern = new RegExp(needles.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g");
    return this.#pattern;
  }

  redact(text: string): string {
    const re = this.#regex();
    return re ? text.replace(re, MASK) : text;
  }

  /** The name of a secret whose value appears in `text`, or `undefined`. */
  secretIn(text: string): string | undefined {
    const re = this.#regex();
    if (!re) return undefined;
    re.lastIndex = 0;
    const m = re.exec(text);
    re.lastIndex = 0;
    return m ? this.#forms.get(m[0]) : undefined;
  }

  /** An error record with every string in it (code, message, stack, extra fields) redacted. */
  redactRecord(r: ErrorRecord): ErrorRecord {
    if (this.#values.size === 0) return r;
    return this.#deep(r) as ErrorRecord;
  }

  #deep(v: unknown): unknown {
    if (typeof v === "string") return this.redact(v);
    if (Array.isArray(v)) return v.map((x) => this.#deep(x));
    if (v && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [this.redact(k), this.#deep(x)]));
    }
    return v;
  }

  /**
   * Where a literal holds a secret value: the dotted path of the first string, object key or bytes value
   * containing one (`""` for the literal itself) and the secret's name; `undefined` when there is none.
   */
  findIn(lit: Literal): { field: string; secret: string } | undefined {
    if (this.#values.size === 0) return undefined;
    return this.#find(lit, []);
  }

  #find(v: Literal, path: Array<string | number>): { field: string; secret: string } | undefined {
    const at = (text: string, p: Array<string | number>) => {
      const secret = this.secretIn(text);
      return secret === undefined ? undefined : { field: p.join("."), secret };
    };
    if (typeof v === "string") return at(v, path);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const hit = this.#find(v[i]!, [...path, i]);
        if (hit) return hit;
      }
      return undefined;
    }
    if (v && typeof v === "object") {
      if (v.$flyte === "bytes" && typeof v.base64 === "string") return at(Buffer.from(v.base64, "base64").toString("utf8"), path);
      for (const [k, x] of Object.entries(v)) {
        const hit = at(k, [...path, k]) ?? this.#find(x, [...path, k]);
        if (hit) return hit;
      }
    }
    return undefined;
  }
}

/** Throws `SecretLeakError` naming the field when `lit` (a value about to be stored) holds a secret value. */
export function refuseSecrets(redactor: SecretRedactor, lit: Literal, ctx: FieldContext): void {
  const hit = redactor.findIn(lit);
  if (!hit) return;
  const err = new SecretLeakError(
    `${describeField(ctx, hit.field)} holds the value of secret "${hit.secret}". Secret values are never stored ` +
      `(outputs, inputs, trace results and cache entries are): use the secret inside the task and pass on something that does not contain it.`,
  );
  throw withFieldInfo(err, ctx, hit.field);
}
