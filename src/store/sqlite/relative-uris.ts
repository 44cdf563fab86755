/**
 * Blob URIs under the state dir are stored relative to it (`flyte-state:blobs/...`), so a project that is
 * moved or copied reads its own blobs, never the original's. Only the encoded literals that mention the
 * state dir (found with a byte search, so plain values cost nothing) are decoded and rewritten.
 */
import { pathToFileURL } from "node:url";
import { decodeLiteral, encodeLiteral } from "../../types/codec.ts";
import type { Literal } from "../../types/literal.ts";

const MARK = "flyte-state:";
const MARK_BYTES = Buffer.from(MARK);

export class RelativeUris {
  /** `file:///abs/state/dir/` */
  readonly #base: string;
  readonly #baseBytes: Buffer;

  constructor(stateDir: string) {
    this.#base = `${pathToFileURL(stateDir).href.replace(/\/$/, "")}/`;
    this.#baseBytes = Buffer.from(this.#base);
  }

  /** An encoded literal as stored: URIs under the state dir made relative. */
  toStored(bytes: Uint8Array | null): Uint8Array | null {
    if (!bytes || asBuffer(bytes).indexOf(this.#baseBytes) < 0) return bytes;
    return encodeLiteral(rewrite(decodeLiteral(bytes), (u) => (u.startsWith(this.#base) ? MARK + u.slice(this.#base.length) : u)));
  }

  /** A stored literal with its relative URIs resolved against this state dir. */
  fromStored(bytes: Uint8Array | null): Uint8Array | null {
    if (!bytes || asBuffer(bytes).indexOf(MARK_BYTES) < 0) return bytes;
    return encodeLiteral(rewrite(decodeLiteral(bytes), (u) => (u.startsWith(MARK) ? this.#base + u.slice(MARK.length) : u)));
  }

  /** A blob URI as stored: relative when it is under the state dir. */
  uriToStored(uri: string): string {
    return uri.startsWith(this.#base) ? MARK + uri.slice(this.#base.length) : uri;
  }

  /** A stored blob URI resolved against this state dir. */
  uriFromStored(uri: string): string {
    return uri.startsWith(MARK) ? this.#base + uri.slice(MARK.length) : uri;
  }
}

const asBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** Rewrites the `uri` of every tagged reference (offloaded, file, dir, dataframe) in a literal. */
function rewrite(v: Literal, map: (uri: string) => string): Literal {
  if (Array.isArray(v)) return v.map((x) => rewrite(x, map));
  if (!v || typeof v !== "object") return v;
  const out: { [k: string]: Literal } = {};
  const tagged = typeof v.$flyte === "string";
  for (const [k, x] of Object.entries(v)) out[k] = tagged && k === "uri" && typeof x === "string" ? map(x) : rewrite(x, map);
  return out;
}
