/**
 * `npm run bench`: runs the runtime benchmarks, then the I/O and sandbox ones when their files exist, and
 * prints one table (name | value | target | ok). Optional arguments pick sections: `npm run bench -- runtime io`.
 * The cluster section (a local PostgreSQL and worker processes, ~1-2 min) runs only when named: `npm run bench -- cluster`;
 * so does the isolation section (child processes, ~30 s): `npm run bench -- isolation`.
 */
import { existsSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchRuntime, type BenchRow } from "./runtime.bench.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const wanted = new Set(process.argv.slice(2));
const want = (name: string) => wanted.size === 0 || wanted.has(name);

/** Imports `file` and calls its `fn` export; a missing file or export gives one "not available" row. */
async function optional(section: string, file: string, fn: string): Promise<BenchRow[]> {
  if (!existsSync(join(HERE, file))) return [{ name: section, value: "not available" }];
  try {
    const mod = (await import(`./${file}`)) as Record<string, unknown>;
    const bench = mod[fn];
    if (typeof bench !== "function") return [{ name: section, value: `not available (${file} has no ${fn} export)` }];
    const rows = (await bench()) as unknown;
    return Array.isArray(rows) ? (rows as BenchRow[]) : [{ name: section, value: "not available (returned no rows)" }];
  } catch (e) {
    return [{ name: section, value: `error: ${(e as Error).message.split("\n")[0]}`, ok: false }];
  }
}

function table(rows: BenchRow[]): string {
  const cells = rows.map((r) => [r.name, r.value, r.target ?? "", r.ok === undefined ? "" : r.ok ? "ok" : "MISS"]);
  const head = ["name", "value", "target", "ok"];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.map(line)].join("\n");
}

const t0 = performance.now();
const rows: BenchRow[] = [];
if (want("runtime")) rows.push(...(await benchRuntime()));
if (want("io")) rows.push(...(await optional("io benchmarks", "io.bench.ts", "benchIo")));
if (want("sandbox")) rows.push(...(await optional("sandbox benchmarks", "sandbox.bench.ts", "benchSandbox")));
if (wanted.has("cluster")) rows.push(...(await optional("cluster benchmarks", "cluster.bench.ts", "benchCluster")));
if (wanted.has("isolation")) rows.push(...(await optional("isolation benchmarks", "isolation.bench.ts", "benchIsolation")));

console.log(`\nflyte-ts benchmarks — node ${process.version}, ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
console.log(table(rows));
const missed = rows.filter((r) => r.ok === false).length;
console.log(`\n${missed === 0 ? "all targets met" : `${missed} row(s) missed their target`}`);
process.exit(0);
