/**
 * The action page's File, Dir and DataFrame values: a file's first bytes as text (or its download), a directory's
 * listing, a data frame's first rows. Everything is read through the public io API (`File`, `Dir`, `DataFrame`),
 * and only a URI that one of the action's inputs or outputs holds (or a file listed under a directory they hold)
 * is served: the request names a URI, never a path, and an arbitrary URI is refused as if it did not exist.
 */
import { Readable } from "node:stream";
import type { Context, Hono } from "hono";
import { getRun } from "../index.ts";
import { DataFrame, Dir, File } from "../io/index.ts";
import { toWire } from "./wire.ts";

/** How much of a file the text preview reads. */
export const PREVIEW_BYTES = 64 * 1024;
/** Entries of a directory listing, rows of a data frame preview. */
const LIST_MAX = 1000;
const ROWS_MAX = 50;
/** A downloaded blob is never rendered by the browser, in the page or anywhere else. */
const DOWNLOAD_CSP = "default-src 'none'; sandbox";

export type BlobRef =
  | { kind: "file"; uri: string; name?: string }
  | { kind: "dir"; uri: string; name?: string }
  | { kind: "dataframe"; uri: string; format: "arrow" | "parquet"; numRows?: number };

/** The File, Dir and DataFrame values found in `values` (an action's inputs and outputs), one per URI. */
export function blobRefs(...values: unknown[]): BlobRef[] {
  const found = new Map<string, BlobRef>();
  const seen = new WeakSet<object>();
  const visit = (v: unknown, depth: number): void => {
    if (v === null || typeof v !== "object" || depth > 32 || seen.has(v)) return;
    seen.add(v);
    if (v instanceof File) {
      if (!found.has(v.path)) found.set(v.path, { kind: "file", uri: v.path, ...(v.name ? { name: v.name } : {}) });
    } else if (v instanceof Dir) {
      if (!found.has(v.path)) found.set(v.path, { kind: "dir", uri: v.path, ...(v.name ? { name: v.name } : {}) });
    } else if (v instanceof DataFrame) {
      if (v.uri && !found.has(v.uri)) found.set(v.uri, { kind: "dataframe", uri: v.uri, format: v.format, ...(v.numRows !== undefined ? { numRows: v.numRows } : {}) });
    } else if (Array.isArray(v)) {
      for (const x of v) visit(x, depth + 1);
    } else if (v instanceof Map) {
      for (const x of v.values()) visit(x, depth + 1);
    } else if (v instanceof Set) {
      for (const x of v) visit(x, depth + 1);
    } else if (!ArrayBuffer.isView(v)) {
      for (const x of Object.values(v)) visit(x, depth + 1);
    }
  };
  for (const v of values) visit(v, 0);
  return [...found.values()];
}

/** The file `uri` when the action's values hold it, or list it under one of their directories. */
async function servedFile(refs: BlobRef[], uri: string): Promise<File | undefined> {
  const direct = refs.find((r) => r.uri === uri && (r.kind === "file" || r.kind === "dataframe"));
  if (direct) return File.fromExisting(uri, direct.kind === "file" && direct.name ? { name: direct.name } : {});
  for (const r of refs) {
    if (r.kind !== "dir" || !uri.startsWith(`${r.uri}/`)) continue;
    for await (const f of Dir.fromExisting(r.uri).walk()) if (f.path === uri) return f;
  }
  return undefined;
}

const refused = (c: Context) =>
  c.json({ error: { name: "NotFound", message: "This action's inputs and outputs hold no file, directory or data frame at that URI." } }, 404);
const unreadable = (c: Context) =>
  c.json({ error: { name: "NotFound", message: "The blob cannot be read: it may have been deleted from the blob store." } }, 404);

/** `attachment` with the name as ASCII (others replaced) and as UTF-8 (RFC 6266 / 5987). */
function disposition(name: string): string {
  const ascii = name.replace(/[^\w.\- ]/g, "_") || "download";
  const utf8 = encodeURIComponent(name).replace(/['()*!]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${utf8}`;
}

/** The first `max` bytes of `file` (fewer at its end), and whether there were more. */
async function head(file: File, max: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  const stream = await file.open("rb");
  const chunks: Buffer[] = [];
  let n = 0;
  let truncated = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      n += chunk.length;
      if (n > max) {
        truncated = true;
        break;
      }
    }
  } finally {
    stream.destroy();
  }
  return { bytes: Buffer.concat(chunks).subarray(0, max), truncated };
}

/** Text when the bytes are UTF-8 without NUL bytes (a character cut at the end is allowed), else undefined. */
function asText(bytes: Buffer): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes, { stream: true });
  } catch {
    return undefined;
  }
}

/** An Arrow cell as JSON can carry it (nested vectors and rows by their `toJSON`, typed arrays as arrays). */
function cell(v: unknown): unknown {
  if (v === null || v === undefined || typeof v !== "object") return v ?? null;
  if (v instanceof Date) return v.toISOString();
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  const j = (v as { toJSON?: () => unknown }).toJSON;
  return typeof j === "function" ? j.call(v) : v;
}

/**
 * `GET /api/runs/:name/actions/:action/blob?uri=…&view=…` with `view`: `download` (default, the file's bytes as an
 * attachment), `text` (JSON: the first `PREVIEW_BYTES` as text, or `binary`), `list` (JSON: a directory's files),
 * `rows` (JSON: a data frame's columns and first rows).
 */
export function registerBlobRoutes(app: Hono): void {
  app.get("/api/runs/:name/actions/:action/blob", async (c) => {
    const uri = c.req.query("uri") ?? "";
    const view = c.req.query("view") ?? "download";
    if (!["download", "text", "list", "rows"].includes(view)) {
      return c.json({ error: { name: "ValidationError", message: "view must be one of download, text, list, rows." } }, 400);
    }
    const action = await (await getRun(c.req.param("name"))).action(c.req.param("action"));
    const io = await action.io();
    const refs = blobRefs(io.inputs, io.outputs);
    if (!uri) return refused(c);

    if (view === "list") {
      const dir = refs.find((r) => r.kind === "dir" && r.uri === uri);
      if (!dir) return refused(c);
      const entries: { path: string; uri: string }[] = [];
      let truncated = false;
      try {
        for await (const f of Dir.fromExisting(uri).walk()) {
          if (entries.length === LIST_MAX) {
            truncated = true;
            break;
          }
          entries.push({ path: f.path.startsWith(`${uri}/`) ? f.path.slice(uri.length + 1) : (f.name ?? f.path), uri: f.path });
        }
      } catch {
        return unreadable(c);
      }
      return c.json({ entries, truncated });
    }

    if (view === "rows") {
      const df = refs.find((r): r is Extract<BlobRef, { kind: "dataframe" }> => r.kind === "dataframe" && r.uri === uri);
      if (!df) return refused(c);
      const columns: { name: string; type: string }[] = [];
      const rows: unknown[][] = [];
      let truncated = false;
      try {
        for await (const batch of DataFrame.fromExisting(uri, { format: df.format }).iterBatches()) {
          if (columns.length === 0) for (const f of batch.schema.fields) columns.push({ name: f.name, type: String(f.type) });
          for (let i = 0; i < batch.numRows; i++) {
            if (rows.length === ROWS_MAX) {
              truncated = true;
              break;
            }
            rows.push(batch.schema.fields.map((_, j) => cell(batch.getChildAt(j)?.get(i))));
          }
          if (truncated) break;
        }
      } catch {
        return unreadable(c);
      }
      return c.json(toWire({ columns, rows, truncated, ...(df.numRows !== undefined ? { numRows: df.numRows } : {}) }) as object);
    }

    const file = await servedFile(refs, uri);
    if (!file) return refused(c);
    if (view === "text") {
      let got: { bytes: Buffer; truncated: boolean };
      try {
        got = await head(file, PREVIEW_BYTES);
      } catch {
        return unreadable(c);
      }
      const text = asText(got.bytes);
      return c.json(text === undefined ? { kind: "binary", truncated: got.truncated } : { kind: "text", text, truncated: got.truncated });
    }
    let stream: Readable;
    try {
      stream = (await file.open("rb")) as Readable;
    } catch {
      return unreadable(c);
    }
    const name = file.name ?? uri.split("/").filter(Boolean).pop() ?? "download";
    return c.body(Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>, 200, {
      "Content-Type": "application/octet-stream",
      "Content-Disposition": disposition(name),
      "Content-Security-Policy": DOWNLOAD_CSP,
      "X-Content-Type-Options": "nosniff",
      "Cache-Control": "no-store",
    });
  });
}
