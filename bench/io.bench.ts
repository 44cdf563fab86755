/**
 * I/O benchmarks: literal codec vs JSON, memory while a 1 GiB File moves through the blob store, and a
 * 1M-row DataFrame written and read back. `benchIo()` returns rows for the bench runner; run standalone with
 * `npx tsx bench/io.bench.ts` to print a table.
 *
 * The 1 GiB measurement runs in a child process so its RSS is not inflated by the other benchmarks.
 * @module
 */
import { spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { finished } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { DataFrame } from "../src/io/dataframe.ts";
import { File } from "../src/io/file.ts";
import { withIoScope } from "../src/io/io-scope.ts";
import { LocalBlobStore } from "../src/io/local-blob-store.ts";
import { decodeLiteral, encodeLiteral } from "../src/types/codec.ts";
import { fromLiteral, type Literal, toLiteral } from "../src/types/literal.ts";

export interface BenchRow {
  name: string;
  value: string;
  target?: string;
  ok?: boolean;
}

const MiB = 1024 * 1024;

/** Best of `n` runs (after one warm-up), in milliseconds. */
async function best(n: number, fn: () => unknown): Promise<number> {
  await fn();
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

/** A ~10 MiB (as JSON) nested value: records with strings, numbers, arrays, nested objects. */
function nestedValue(): { rows: unknown[] } {
  const rows: unknown[] = [];
  for (let i = 0; i < 90_000; i++) {
    rows.push({ id: i, name: `user-${i}`, score: i * 1.5, tags: ["a", "b", String(i)], nested: { ok: i % 2 === 0, v: null, label: `L${i % 100}` } });
  }
  return { rows };
}

async function benchCodec(): Promise<BenchRow[]> {
  const value = nestedValue();
  const json = JSON.stringify(value);
  const lit = (await toLiteral(value, { taskName: "bench.codec", direction: "output" })) as Literal;
  const bytes = encodeLiteral(lit);
  const jsonRoundMs = await best(5, () => JSON.parse(new TextDecoder().decode(new TextEncoder().encode(JSON.stringify(value)))));
  const codecMs = await best(5, () => decodeLiteral(encodeLiteral(lit)));
  const fullMs = await best(3, async () => fromLiteral(decodeLiteral(encodeLiteral(await toLiteral(value, { taskName: "bench.codec", direction: "output" })))));
  const ratio = codecMs / jsonRoundMs;
  const fullRatio = fullMs / jsonRoundMs;
  return [
    { name: "io: nested value size (JSON / msgpackr)", value: `${(json.length / MiB).toFixed(1)} MiB / ${(bytes.byteLength / MiB).toFixed(1)} MiB` },
    { name: "io: JSON.stringify+parse (10 MiB)", value: `${jsonRoundMs.toFixed(0)} ms` },
    { name: "io: encodeLiteral+decodeLiteral (10 MiB)", value: `${codecMs.toFixed(0)} ms (${ratio.toFixed(2)}× JSON)`, target: "≤ 1.0× JSON", ok: ratio <= 1.0 },
    {
      name: "io: toLiteral+encode+decode+fromLiteral (10 MiB)",
      value: `${fullMs.toFixed(0)} ms (${fullRatio.toFixed(2)}× JSON)`,
      target: "≤ 3.0× JSON",
      ok: fullRatio <= 3.0,
    },
  ];
}

async function benchDataFrame(): Promise<BenchRow[]> {
  const n = 1_000_000;
  const rows = new Array<Record<string, unknown>>(n);
  for (let i = 0; i < n; i++) rows[i] = { id: i, name: `user-${i}`, score: i * 0.25, active: i % 3 === 0 };
  const root = mkdtempSync(path.join(os.tmpdir(), "flyte-bench-df-"));
  const store = new LocalBlobStore(root);
  try {
    return await withIoScope({ blobStore: store, rawDataPrefix: store.uriFor("raw") }, async () => {
      // Warm-up (also loads apache-arrow, which DataFrame imports lazily), then best of 3: the numbers are
      // the steady-state cost, not module loading or a noisy neighbour.
      await DataFrame.fromRecords(rows.slice(0, 1000)).write();
      let df = DataFrame.fromRecords(rows);
      const writeMs = await best(2, async () => {
        df = DataFrame.fromRecords(rows);
        await df.write();
      });
      const size = statSync(fileURLToPath(df.uri!)).size;
      const back = DataFrame.fromExisting(df.uri!);
      let batches = 0;
      const scanMs = await best(2, async () => {
        batches = 0;
        for await (const b of back.iterBatches()) batches += b.numRows > 0 ? 1 : 0;
      });
      let recs: Record<string, unknown>[] = [];
      const readMs = await best(2, async () => {
        recs = await back.toRecords();
      });
      const ok = recs.length === n && recs[n - 1]!.name === `user-${n - 1}`;
      return [
        { name: "io: DataFrame 1M rows write (records → Arrow IPC file)", value: `${writeMs.toFixed(0)} ms, ${(size / MiB).toFixed(1)} MiB`, target: "< 2000 ms", ok: writeMs < 2000 },
        { name: "io: DataFrame 1M rows lazy batch scan", value: `${scanMs.toFixed(0)} ms (${batches} batches)`, target: "< 1000 ms", ok: scanMs < 1000 },
        { name: "io: DataFrame 1M rows read back (toRecords)", value: `${readMs.toFixed(0)} ms`, target: "< 2000 ms", ok: ok && readMs < 2000 },
      ];
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

interface RssReport {
  baseRss: number;
  peakRss: number;
  uploadMs: number;
  downloadMs: number;
  bytes: number;
}

/** Child-process body: write 1 GiB, then sample RSS while File.fromLocal uploads it and download() fetches it. */
async function rssChild(): Promise<void> {
  const root = mkdtempSync(path.join(os.tmpdir(), "flyte-bench-rss-"));
  try {
    const src = path.join(root, "big.bin");
    const ws = createWriteStream(src);
    const chunk = Buffer.alloc(8 * MiB, 5);
    for (let i = 0; i < 128; i++) if (!ws.write(chunk)) await new Promise<void>((r) => ws.once("drain", () => r()));
    ws.end();
    await finished(ws);
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const store = new LocalBlobStore(path.join(root, "store"));
    const baseRss = process.memoryUsage().rss;
    let peakRss = baseRss;
    const timer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 2);
    const report = await withIoScope({ blobStore: store, rawDataPrefix: store.uriFor("raw") }, async () => {
      let t = performance.now();
      const f = await File.fromLocal(src);
      const uploadMs = performance.now() - t;
      t = performance.now();
      const out = await File.fromExisting(f.path).download(path.join(root, "back.bin"));
      const downloadMs = performance.now() - t;
      return { uploadMs, downloadMs, bytes: statSync(out).size };
    });
    clearInterval(timer);
    const r: RssReport = { baseRss, peakRss, ...report };
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function benchLargeFile(): Promise<BenchRow[]> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", self, "--rss-child"], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.on("close", r));
  const line = out.trim().split("\n").pop() ?? "";
  if (code !== 0 || !line.startsWith("{")) return [{ name: "io: 1 GiB File upload+download peak RSS", value: `child failed (exit ${code})`, ok: false }];
  const r = JSON.parse(line) as RssReport;
  const delta = (r.peakRss - r.baseRss) / MiB;
  const gib = r.bytes / 1024 / MiB;
  return [
    {
      name: "io: 1 GiB File.fromLocal→upload→download peak RSS growth",
      value: `${delta.toFixed(0)} MiB (base ${(r.baseRss / MiB).toFixed(0)} MiB, peak ${(r.peakRss / MiB).toFixed(0)} MiB)`,
      target: "< 128 MiB",
      ok: delta < 128 && r.bytes === 1024 * MiB,
    },
    { name: "io: 1 GiB upload / download throughput", value: `${(gib / (r.uploadMs / 1000)).toFixed(2)} / ${(gib / (r.downloadMs / 1000)).toFixed(2)} GiB/s` },
  ];
}

export async function benchIo(): Promise<BenchRow[]> {
  return [...(await benchCodec()), ...(await benchDataFrame()), ...(await benchLargeFile())];
}

function printTable(rows: BenchRow[]): void {
  const w = Math.max(...rows.map((r) => r.name.length));
  const v = Math.max(...rows.map((r) => r.value.length));
  for (const r of rows) {
    const status = r.ok === undefined ? "" : r.ok ? "ok" : "MISS";
    console.log(`${r.name.padEnd(w)}  ${r.value.padEnd(v)}  ${(r.target ?? "").padEnd(12)}  ${status}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--rss-child")) await rssChild();
  else printTable(await benchIo());
}
