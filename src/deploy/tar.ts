/**
 * A minimal deterministic tar (POSIX ustar, with a pax `path` record for names ustar cannot hold): regular files
 * and symlinks only, every entry owned by 0:0 with mtime 0 and mode 0644 (0755 when executable), in the order
 * given. The same files therefore always give the same bytes, and so the same content hash. No tar library is a
 * dependency of flyte-ts (tar-stream is only a transitive install-time one), and this is all a code bundle needs.
 * @module
 */

export interface TarEntry {
  /** `/`-separated path inside the archive (no leading slash, no `..`). */
  path: string;
  type: "file" | "symlink";
  /** File contents (empty for symlinks). */
  data?: Uint8Array;
  /** Symlink target. */
  target?: string;
  executable?: boolean;
}

const BLOCK = 512;
const enc = new TextEncoder();

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, "0")}\0`;
}

function writeString(buf: Uint8Array, at: number, width: number, s: string): void {
  const bytes = enc.encode(s);
  if (bytes.length > width) throw new Error(`tar: field too long (${s})`);
  buf.set(bytes, at);
}

/** Splits a path into ustar's prefix (≤155 bytes) and name (≤100 bytes) at a `/`, when possible. */
function splitUstar(path: string): { prefix: string; name: string } | undefined {
  const bytes = enc.encode(path).length;
  if (bytes <= 100) return { prefix: "", name: path };
  for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (enc.encode(prefix).length <= 155 && enc.encode(name).length <= 100 && name !== "") return { prefix, name };
  }
  return undefined;
}

function header(o: { name: string; prefix: string; size: number; mode: number; type: string; linkname?: string }): Uint8Array {
  const h = new Uint8Array(BLOCK);
  writeString(h, 0, 100, o.name);
  writeString(h, 100, 8, octal(o.mode, 8));
  writeString(h, 108, 8, octal(0, 8));
  writeString(h, 116, 8, octal(0, 8));
  writeString(h, 124, 12, octal(o.size, 12));
  writeString(h, 136, 12, octal(0, 12));
  writeString(h, 148, 8, "        ");
  writeString(h, 156, 1, o.type);
  if (o.linkname) writeString(h, 157, 100, o.linkname);
  writeString(h, 257, 6, "ustar\0");
  writeString(h, 263, 2, "00");
  writeString(h, 345, 155, o.prefix);
  let sum = 0;
  for (const b of h) sum += b;
  writeString(h, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return h;
}

/** A pax extended-header record: `"<len> key=value\n"`, where len counts the whole record. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLength = enc.encode(body).length;
  let len = bodyLength + String(bodyLength).length;
  while (bodyLength + String(len).length !== len) len = bodyLength + String(len).length;
  return `${len}${body}`;
}

const pad = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;

/** Writes the entries (in the order given) as one tar archive. */
export function writeTar(entries: readonly TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  const push = (b: Uint8Array) => {
    parts.push(b);
    total += b.length;
  };
  for (const e of entries) {
    const data = e.type === "file" ? (e.data ?? new Uint8Array()) : new Uint8Array();
    const linkname = e.type === "symlink" ? (e.target ?? "") : undefined;
    let split = splitUstar(e.path);
    const longLink = linkname !== undefined && enc.encode(linkname).length > 100;
    if (!split || longLink) {
      const records = enc.encode((split ? "" : paxRecord("path", e.path)) + (longLink ? paxRecord("linkpath", linkname) : ""));
      push(header({ name: "PaxHeader", prefix: "", size: records.length, mode: 0o644, type: "x" }));
      push(records);
      push(new Uint8Array(pad(records.length)));
      split ??= { prefix: "", name: e.path.slice(-100).replace(/^[^/]*\//, "") || "long-name" };
    }
    const mode = e.type === "symlink" ? 0o777 : e.executable ? 0o755 : 0o644;
    push(header({ name: split.name, prefix: split.prefix, size: data.length, mode, type: e.type === "file" ? "0" : "2", ...(linkname !== undefined && !longLink ? { linkname } : {}) }));
    push(data);
    push(new Uint8Array(pad(data.length)));
  }
  push(new Uint8Array(BLOCK * 2));
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const dec = new TextDecoder();
const str = (b: Uint8Array, at: number, width: number) => {
  const s = b.subarray(at, at + width);
  const end = s.indexOf(0);
  return dec.decode(end < 0 ? s : s.subarray(0, end));
};

/** Reads an archive `writeTar` wrote (ustar with pax `path`/`linkpath` records); other entry types are skipped. */
export function readTar(buf: Uint8Array): TarEntry[] {
  const out: TarEntry[] = [];
  let pax: Record<string, string> = {};
  for (let at = 0; at + BLOCK <= buf.length; ) {
    const h = buf.subarray(at, at + BLOCK);
    if (h.every((b) => b === 0)) break;
    const size = parseInt(str(h, 124, 12).trim() || "0", 8);
    const type = String.fromCharCode(h[156]!);
    const data = buf.subarray(at + BLOCK, at + BLOCK + size);
    at += BLOCK + size + pad(size);
    if (type === "x") {
      pax = {};
      for (const line of dec.decode(data).split("\n")) {
        const m = /^\d+ ([^=]+)=(.*)$/.exec(line);
        if (m) pax[m[1]!] = m[2]!;
      }
      continue;
    }
    const prefix = str(h, 345, 155);
    const path = pax.path ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
    const mode = parseInt(str(h, 100, 8).trim() || "0", 8);
    if (type === "0" || type === "\0") out.push({ path, type: "file", data: data.slice(), executable: (mode & 0o111) !== 0 });
    else if (type === "2") out.push({ path, type: "symlink", target: pax.linkpath ?? str(h, 157, 100) });
    pax = {};
  }
  return out;
}
