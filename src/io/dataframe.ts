/**
 * `DataFrame` (API.md §12.4): tabular data on Apache Arrow, stored as an Arrow IPC file (`.arrow`) or, with
 * the optional `parquet-wasm`, as Parquet. Data is written lazily, when the value crosses an action boundary,
 * and read lazily: `iterBatches()` fetches one record batch at a time through ranged reads (the IPC file
 * footer says where each batch lives), so a remote frame never has to be downloaded whole.
 *
 * @example
 * ```ts
 * const df = DataFrame.fromRecords([{ id: 1, name: "a" }, { id: 2, name: "b" }]);
 * const rows = await df.toRecords();
 * for await (const batch of df.iterBatches()) console.log(batch.numRows);
 * ```
 * @module
 */
import { existsSync, promises as fsp } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { Readable } from "node:stream";
import type { FileHandle as ArrowFileHandle, RecordBatch, Table } from "apache-arrow";
import { FlyteError, StoreError, ValidationError } from "../errors.ts";
import type { BlobStore } from "./blob-store.ts";
import { currentIoScope } from "./io-scope.ts";
import { type IoLiteral, type IoLiteralSource, randomSegment, TO_LITERAL } from "./io-value.ts";
import { localPathOf } from "./local-blob-store.ts";
import { storeForUri } from "./storage.ts";

export type DataFrameFormat = "arrow" | "parquet";

/** Rows per stored record batch: the unit of lazy reads. */
const BATCH_ROWS = 65_536;
/**
 * apache-arrow (~0.4 s to import) and the record converters load on first use, so processes that never touch
 * a DataFrame (most task runs, the CLI) do not pay for them.
 */
type ArrowLib = typeof import("apache-arrow") & typeof import("./arrow-records.ts");
let arrowLoading: Promise<ArrowLib> | undefined;
function arrowLib(): Promise<ArrowLib> {
  arrowLoading ??= Promise.all([import("apache-arrow"), import("./arrow-records.ts")]).then(([arrow, conv]) => ({ ...arrow, ...conv }));
  return arrowLoading;
}

const PARQUET_MISSING = "Parquet support requires the optional dependency parquet-wasm";

interface DataFrameInit {
  format: DataFrameFormat;
  uri?: string;
  numRows?: number;
  hash?: string;
  table?: Table;
  records?: Record<string, unknown>[];
}

export class DataFrame implements IoLiteralSource {
  readonly format: DataFrameFormat;
  #uri: string | undefined;
  #numRows: number | undefined;
  #hash: string | undefined;
  #table: Table | undefined;
  #records: Record<string, unknown>[] | undefined;
  #writing: Promise<void> | undefined;

  private constructor(init: DataFrameInit) {
    this.format = checkFormat(init.format);
    this.#uri = init.uri;
    this.#numRows = init.numRows;
    this.#hash = init.hash;
    this.#table = init.table;
    this.#records = init.records;
  }

  /** URI of the stored data; `undefined` until it is written. */
  get uri(): string | undefined {
    return this.#uri;
  }
  get numRows(): number | undefined {
    return this.#numRows;
  }
  /** SHA-256 of the stored file, once written. */
  get hash(): string | undefined {
    return this.#hash;
  }

  static fromRecords(rows: Record<string, unknown>[], o: { format?: DataFrameFormat } = {}): DataFrame {
    if (!Array.isArray(rows)) throw new ValidationError(`DataFrame.fromRecords: expected an array of records, got ${typeof rows}.`);
    return new DataFrame({ format: o.format ?? "arrow", records: rows, numRows: rows.length });
  }

  static fromArrow(table: Table, o: { format?: DataFrameFormat } = {}): DataFrame {
    if (!isArrowTable(table)) throw new ValidationError("DataFrame.fromArrow: expected an apache-arrow Table.");
    return new DataFrame({ format: o.format ?? "arrow", table, numRows: table.numRows });
  }

  /** A reference to stored data; the format defaults from the extension (`.parquet` → parquet, else arrow). */
  static fromExisting(uri: string, o: { format?: DataFrameFormat; numRows?: number } = {}): DataFrame {
    const format = o.format ?? (/\.parquet$/i.test(uri) ? "parquet" : "arrow");
    return new DataFrame({ format, uri, ...(o.numRows !== undefined ? { numRows: o.numRows } : {}) });
  }

  /** @internal Builds a DataFrame from its literal. */
  static fromLiteral(lit: Record<string, unknown>): DataFrame {
    return new DataFrame({
      format: lit.format === "parquet" ? "parquet" : "arrow",
      uri: String(lit.uri),
      ...(typeof lit.numRows === "number" ? { numRows: lit.numRows } : {}),
      ...(typeof lit.hash === "string" ? { hash: lit.hash } : {}),
    });
  }

  async toRecords(): Promise<Record<string, unknown>[]> {
    if (this.#records) return this.#records.slice();
    const { tableToRecords } = await arrowLib();
    if (this.#table) return tableToRecords(this.#table);
    const rows: Record<string, unknown>[] = [];
    for await (const b of this.iterBatches()) for (const r of tableToRecords(b)) rows.push(r);
    return rows;
  }

  async toArrow(): Promise<Table> {
    if (this.#table) return this.#table;
    const { recordsToTable, Table } = await arrowLib();
    if (this.#records) return (this.#table = recordsToTable(this.#records));
    if (this.format === "parquet") return this.#readParquet();
    const batches: RecordBatch[] = [];
    let schema;
    for await (const b of this.#readArrow((s) => (schema = s))) batches.push(b);
    return schema ? new Table(schema, batches) : new Table(batches);
  }

  /** Record batches, read one at a time from storage (in memory for frames not yet written). */
  async *iterBatches(): AsyncIterable<RecordBatch> {
    if (this.#table || this.#records) {
      yield* sliceBatches(await this.toArrow());
      return;
    }
    if (this.format === "parquet") {
      yield* sliceBatches(await this.#readParquet());
      return;
    }
    yield* this.#readArrow();
  }

  async *#readArrow(onSchema?: (s: Table["schema"]) => void): AsyncIterable<RecordBatch> {
    const uri = this.#requireUri();
    const { RecordBatchReader } = await arrowLib();
    const handle = await openRandomAccess(uri);
    try {
      const reader = await RecordBatchReader.from(handle as unknown as ArrowFileHandle);
      await reader.open();
      onSchema?.(reader.schema);
      for await (const batch of reader) yield batch;
    } catch (e) {
      throw corrupt(uri, e);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  async #readParquet(): Promise<Table> {
    const uri = this.#requireUri();
    const pq = await loadParquet();
    const { tableFromIPC } = await arrowLib();
    const bytes = await storeForUri(uri).getBytes(uri);
    try {
      return tableFromIPC(pq.readParquet(bytes).intoIPCStream());
    } catch (e) {
      throw corrupt(uri, e);
    }
  }

  #requireUri(): string {
    if (!this.#uri) throw new ValidationError("DataFrame has no data: create it with fromRecords, fromArrow or fromExisting.");
    return this.#uri;
  }

  /** Writes in-memory data to the current scope's raw-data prefix (once). */
  async write(): Promise<void> {
    if (this.#uri) return;
    this.#writing ??= this.#doWrite();
    try {
      await this.#writing;
    } catch (e) {
      this.#writing = undefined;
      throw e;
    }
  }

  async #doWrite(): Promise<void> {
    const table = await this.toArrow();
    const { RecordBatchFileWriter, Table, tableToIPC } = await arrowLib();
    const scope = currentIoScope();
    const ext = this.format === "parquet" ? "parquet" : "arrow";
    const dest = `${scope.rawDataPrefix}/${randomSegment()}/data.${ext}`;
    const store: BlobStore = storeForUri(dest);
    let r;
    if (this.format === "parquet") {
      const pq = await loadParquet();
      r = await store.put(dest, pq.writeParquet(pq.Table.fromIPCStream(tableToIPC(table, "stream"))));
    } else {
      const sliced = new Table(table.schema, [...sliceBatches(table)]);
      r = await store.put(dest, Readable.from(RecordBatchFileWriter.writeAll(sliced)));
    }
    this.#uri = r.uri;
    this.#hash = r.sha256;
    this.#numRows = table.numRows;
  }

  async [TO_LITERAL](): Promise<IoLiteral> {
    await this.write();
    return {
      $flyte: "dataframe",
      uri: this.#uri!,
      format: this.format,
      ...(this.#numRows !== undefined ? { numRows: this.#numRows } : {}),
      ...(this.#hash !== undefined ? { hash: this.#hash } : {}),
    } as IoLiteral;
  }

  toJSON(): Record<string, string | number> {
    return { $flyte: "dataframe", format: this.format, ...(this.#uri ? { uri: this.#uri } : {}), ...(this.#numRows !== undefined ? { numRows: this.#numRows } : {}) };
  }
}

function isArrowTable(t: unknown): t is Table {
  const x = t as Partial<Table> | null;
  return typeof x === "object" && x !== null && Array.isArray(x.batches) && typeof x.numRows === "number" && x.schema !== undefined;
}

/** Splits a table's batches into batches of at most BATCH_ROWS rows (zero-copy slices). */
function* sliceBatches(table: Table): Iterable<RecordBatch> {
  for (const b of table.batches) {
    if (b.numRows <= BATCH_ROWS) yield b;
    else for (let i = 0; i < b.numRows; i += BATCH_ROWS) yield b.slice(i, Math.min(b.numRows, i + BATCH_ROWS));
  }
}

interface RandomAccess {
  fd: number;
  stat(): Promise<{ size: number }>;
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number; buffer: Uint8Array }>;
  close(): Promise<void>;
}

/**
 * A FileHandle-shaped view of a blob for Arrow's random-access file reader: a real handle for local files,
 * ranged GETs for remote ones.
 */
async function openRandomAccess(uri: string): Promise<RandomAccess> {
  const store = storeForUri(uri);
  if (uri.startsWith("file:") || !uri.includes("://")) {
    try {
      return (await fsp.open(localPathOf(uri), "r")) as unknown as RandomAccess;
    } catch (e) {
      await store.getBytes(uri); // raises the store's named "FileNotFound" error
      throw e;
    }
  }
  const st = await store.stat(uri);
  if (!st) await store.get(uri); // raises FileNotFound
  const size = st?.size ?? 0;
  return {
    fd: -1,
    stat: async () => ({ size }),
    read: async (buffer, offset, length, position) => {
      const b = await store.readRange(uri, position, length);
      // Arrow loops until it has the bytes it asked for; an empty read would spin forever.
      if (b.byteLength === 0 && length > 0) throw new StoreError(`Blob ${uri} ended early at byte ${position} of ${size}: it is truncated.`, { code: "BlobTruncated" });
      buffer.set(b, offset);
      return { bytesRead: b.byteLength, buffer };
    },
    close: async () => undefined,
  };
}

function corrupt(uri: string, e: unknown): Error {
  if (e instanceof FlyteError) return e;
  return new StoreError(
    `DataFrame ${uri} cannot be read as an Arrow IPC file: ${(e as Error)?.message ?? String(e)}. The blob is truncated or not an Arrow file; re-run the action that wrote it.`,
    { code: "CorruptDataFrame", cause: e },
  );
}

function checkFormat(format: unknown): DataFrameFormat {
  if (format !== "arrow" && format !== "parquet") {
    throw new ValidationError(`DataFrame: format must be "arrow" or "parquet", got ${JSON.stringify(format)}.`, { field: "format" });
  }
  if (format === "parquet" && !parquetInstalled()) throw new ValidationError(PARQUET_MISSING, { field: "format" });
  return format;
}

/** Whether parquet-wasm is on the module search path (a sync check, so constructors can fail early). */
function parquetInstalled(): boolean {
  const dirs = createRequire(import.meta.url).resolve.paths("parquet-wasm") ?? [];
  return dirs.some((d) => existsSync(path.join(d, "parquet-wasm", "package.json")));
}

interface ParquetWasm {
  writeParquet(table: unknown): Uint8Array;
  readParquet(bytes: Uint8Array): { intoIPCStream(): Uint8Array };
  Table: { fromIPCStream(bytes: Uint8Array): unknown };
}

async function loadParquet(): Promise<ParquetWasm> {
  // A variable specifier keeps bundlers and tsc from requiring the optional dependency.
  const name = "parquet-wasm";
  try {
    return (await import(/* @vite-ignore */ name)) as ParquetWasm;
  } catch (e) {
    throw new ValidationError(PARQUET_MISSING, { cause: e, field: "format" });
  }
}
