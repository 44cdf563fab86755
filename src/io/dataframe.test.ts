import { mkdtempSync, truncateSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { tableFromArrays } from "apache-arrow";
import { describe, expect, it } from "vitest";
import { RuntimeUserError, StoreError, ValidationError } from "../errors.ts";
import { decodeLiteral, encodeLiteral } from "../types/codec.ts";
import { fromLiteral, toLiteral } from "../types/literal.ts";
import { DataFrame } from "./dataframe.ts";
import { withIoScope } from "./io-scope.ts";
import { LocalBlobStore } from "./local-blob-store.ts";

const tmp = (): string => mkdtempSync(path.join(os.tmpdir(), "flyte-df-"));
function inScope<T>(fn: (store: LocalBlobStore) => Promise<T>): Promise<T> {
  const store = new LocalBlobStore(tmp());
  return withIoScope({ blobStore: store, rawDataPrefix: store.uriFor("raw") }, () => fn(store));
}
const ctx = { taskName: "env.df", direction: "output" } as const;

async function crossed(df: DataFrame): Promise<DataFrame> {
  const lit = await toLiteral(df, ctx);
  return (await fromLiteral(decodeLiteral(encodeLiteral(lit)))) as DataFrame;
}

describe("DataFrame", () => {
  it("keeps JS types through Arrow: numbers, strings, booleans, bigints, Dates, bytes, nulls, nested", async () => {
    const rows = [
      { n: 1.5, s: "a", b: true, big: 1n, d: new Date(1000), bytes: new Uint8Array([1, 2]), none: null, obj: { x: 1, y: "p" }, list: [1, 2] },
      { n: -2, s: null, b: false, big: -(2n ** 62n), d: null, bytes: null, none: null, obj: { x: 2, y: "q" }, list: [3] },
    ];
    await inScope(async () => {
      const back = await crossed(DataFrame.fromRecords(rows));
      expect(back.numRows).toBe(2);
      expect(back.format).toBe("arrow");
      expect(back.uri).toMatch(/\/data\.arrow$/);
      expect(await back.toRecords()).toEqual(rows);
    });
  });

  it("is lazy: nothing is written until the value crosses a boundary", async () => {
    await inScope(async () => {
      const df = DataFrame.fromRecords([{ a: 1 }]);
      expect(df.uri).toBeUndefined();
      expect(await df.toRecords()).toEqual([{ a: 1 }]);
      const lit = (await toLiteral(df, ctx)) as Record<string, unknown>;
      expect(lit).toEqual({ $flyte: "dataframe", uri: df.uri, format: "arrow", numRows: 1, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    });
  });

  it("round-trips 1 million rows, read back in batches", async () => {
    const n = 1_000_000;
    const rows = new Array<Record<string, unknown>>(n);
    for (let i = 0; i < n; i++) rows[i] = { id: i, name: `user-${i}`, score: i * 0.25, active: i % 3 === 0 };
    await inScope(async () => {
      const back = await crossed(DataFrame.fromRecords(rows));
      expect(back.numRows).toBe(n);
      let batches = 0;
      let total = 0;
      for await (const b of back.iterBatches()) {
        batches++;
        total += b.numRows;
      }
      expect(total).toBe(n);
      expect(batches).toBe(Math.ceil(n / 65_536));
      const recs = await back.toRecords();
      expect(recs.length).toBe(n);
      expect(recs[0]).toEqual(rows[0]);
      expect(recs[777_777]).toEqual(rows[777_777]);
      expect(recs[n - 1]).toEqual(rows[n - 1]);
    });
  }, 60_000);

  it("string columns keep unicode and nulls, also in sliced batches", async () => {
    const words = ["plain", "ünïcödé", "日本語", "emoji 😀", "", null];
    const rows = Array.from({ length: 70_000 }, (_, i) => ({ i, w: words[i % words.length]! }));
    const { tableToRecords } = await import("./arrow-records.ts");
    const df = DataFrame.fromRecords(rows);
    const seen: Record<string, unknown>[] = [];
    for await (const b of df.iterBatches()) seen.push(...tableToRecords(b)); // second batch is a slice with a non-zero offset
    expect(seen).toEqual(rows);
    await inScope(async () => expect(await (await crossed(df)).toRecords()).toEqual(rows));
  });

  it("from and to Arrow tables", async () => {
    const table = tableFromArrays({ a: Int32Array.from([1, 2, 3]), b: ["x", "y", "z"] });
    await inScope(async () => {
      const back = await crossed(DataFrame.fromArrow(table));
      const t = await back.toArrow();
      expect(t.numRows).toBe(3);
      expect(t.schema.fields.map((f) => f.name)).toEqual(["a", "b"]);
      expect(await back.toRecords()).toEqual([{ a: 1, b: "x" }, { a: 2, b: "y" }, { a: 3, b: "z" }]);
    });
  });

  it("an empty frame round-trips", async () => {
    await inScope(async () => {
      const back = await crossed(DataFrame.fromRecords([]));
      expect(back.numRows).toBe(0);
      expect(await back.toRecords()).toEqual([]);
    });
  });

  it("a column mixing types is refused, naming the column and the row", async () => {
    await inScope(async () => {
      const err = await toLiteral({ df: DataFrame.fromRecords([{ a: 1 }, { a: "x" }]) }, ctx).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as Error).message).toMatch(/^Task "env\.df": output "\.df" \(a DataFrame that could not be stored\): DataFrame\.fromRecords: column "a" mixes number and string values \(row 1/);
    });
  });

  it('"parquet" needs the optional dependency parquet-wasm', () => {
    expect(() => DataFrame.fromRecords([{ a: 1 }], { format: "parquet" })).toThrow(ValidationError);
    expect(() => DataFrame.fromRecords([{ a: 1 }], { format: "parquet" })).toThrow("Parquet support requires the optional dependency parquet-wasm");
    expect(() => DataFrame.fromExisting("s3://b/x.parquet")).toThrow("Parquet support requires the optional dependency parquet-wasm");
  });

  it("a truncated Arrow blob is a named StoreError; a missing one is FileNotFound", async () => {
    await inScope(async (store) => {
      const df = DataFrame.fromRecords(Array.from({ length: 1000 }, (_, i) => ({ i })));
      await df.write();
      const file = fileURLToPath(df.uri!);
      truncateSync(file, Math.floor(statSync(file).size / 2));
      const err = await DataFrame.fromExisting(df.uri!).toRecords().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect((err as StoreError).code).toBe("CorruptDataFrame");
      expect((err as Error).message).toContain(df.uri!);
      const missing = await DataFrame.fromExisting(store.uriFor("nope.arrow")).toArrow().catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(RuntimeUserError);
      expect((missing as RuntimeUserError).code).toBe("FileNotFound");
    });
  });
});
