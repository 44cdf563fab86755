/**
 * A cache hit or a recovered output whose blob is gone is not trusted (issue #13 item 4): the action runs
 * again, says why in its logs, and its cache entry is replaced.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { TaskEnvironment, run, withRunContext } from "flyte-ts";
import { File } from "flyte-ts/io";
import { freshRuntime } from "./helpers/runtime.ts";

let root: string;
beforeAll(async () => {
  root = await freshRuntime("flyte-blobs-");
});

function blobFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? blobFiles(p) : [p];
  });
}

const env = new TaskEnvironment({ name: "blobs", cache: "auto" });
let bigCalls = 0;
// maxInlineIoBytes makes the output an offloaded blob rather than an inline value.
const big = env.task({ maxInlineIoBytes: 64 }, async function big({ n }: { n: number }) {
  bigCalls++;
  return `${"x".repeat(1000)}${n}`;
});
let fileCalls = 0;
const makeFile = env.task(async function makeFile({ text }: { text: string }) {
  fileCalls++;
  const local = join(mkdtempSync(join(tmpdir(), "flyte-blobs-src-")), "out.txt");
  writeFileSync(local, text);
  return File.fromLocal(local);
});

const callBig = env.task({ cache: "disable" }, async function callBig({ n }: { n: number }) {
  return (await big({ n })).length;
});
const callFile = env.task({ cache: "disable" }, async function callFile({ text }: { text: string }) {
  return (await makeFile({ text })).text();
});

async function logsOf(r: Awaited<ReturnType<typeof run>>, shortName: string): Promise<string[]> {
  const action = (await r.details()).root.children.find((c) => c.shortName === shortName)!;
  const lines: string[] = [];
  for await (const l of r.logs({ action: action.name })) lines.push(l.message);
  return lines;
}

describe("stored outputs whose blobs are gone", () => {
  it("a cache entry whose offloaded output was deleted is a miss: the task runs again and the entry is replaced", async () => {
    expect(await (await run(callBig, { n: 1 })).outputs()).toBe(1001);
    const hit = await run(callBig, { n: 1 });
    expect(await hit.outputs()).toBe(1001);
    expect((await hit.details()).root.children[0]!.cacheHit).toBe(true);
    expect(bigCalls).toBe(1);

    const outputs = blobFiles(join(root, ".flyte/blobs")).filter((f) => f.endsWith("/outputs"));
    expect(outputs).toHaveLength(1);
    rmSync(outputs[0]!);

    const miss = await run(callBig, { n: 1 });
    expect(await miss.outputs()).toBe(1001);
    expect((await miss.details()).root.children[0]!.cacheHit).toBe(false);
    expect(bigCalls).toBe(2);
    expect(await logsOf(miss, "big")).toEqual([
      `[flyte] cache entry not used: its blob ${new URL(`file://${outputs[0]}`).href} is missing or damaged; running blobs.big again.`,
    ]);

    const again = await run(callBig, { n: 1 });
    expect(await again.outputs()).toBe(1001);
    expect((await again.details()).root.children[0]!.cacheHit).toBe(true);
    expect(bigCalls).toBe(2);
  });

  it("a cached File output whose blob was deleted is a miss", async () => {
    expect(await (await run(callFile, { text: "hello" })).outputs()).toBe("hello");
    const first = await run(callFile, { text: "hello" });
    expect(await first.outputs()).toBe("hello");
    expect((await first.details()).root.children[0]!.cacheHit).toBe(true);
    const uploaded = blobFiles(join(root, ".flyte/blobs/raw")).filter((f) => f.endsWith("/out.txt"));
    expect(uploaded).toHaveLength(1);
    rmSync(uploaded[0]!);
    const miss = await run(callFile, { text: "hello" });
    expect(await miss.outputs()).toBe("hello");
    expect((await miss.details()).root.children[0]!.cacheHit).toBe(false);
    expect(fileCalls).toBe(2);
  });

  it("a recovered action whose offloaded output was deleted runs again instead of being reused", async () => {
    let fail = true;
    const uncached = new TaskEnvironment({ name: "blobs-rec" });
    let calls = 0;
    const produce = uncached.task({ maxInlineIoBytes: 64 }, async function produce({ n }: { n: number }) {
      calls++;
      return "y".repeat(500 + n);
    });
    const parent = uncached.task(async function parent({ n }: { n: number }) {
      const v = await produce({ n });
      if (fail) throw new Error("parent failed after its child succeeded");
      return v.length;
    });
    const first = await withRunContext({ name: "rec-src" }).run(parent, { n: 3 });
    await first.wait();
    expect(calls).toBe(1);
    const produced = blobFiles(join(root, ".flyte/blobs/default")).filter((f) => f.includes("/rec-src/") && f.endsWith("/outputs"));
    expect(produced).toHaveLength(1);

    fail = false;
    const kept = await withRunContext({ recoverFrom: "rec-src", name: "rec-kept" }).run(parent, { n: 3 });
    expect(await kept.outputs()).toBe(503);
    expect((await kept.details()).root.children[0]!.recovered).toBe(true);
    expect(calls).toBe(1);

    rmSync(produced[0]!);
    const rerun = await withRunContext({ recoverFrom: "rec-src", name: "rec-rerun" }).run(parent, { n: 3 });
    expect(await rerun.outputs()).toBe(503);
    expect((await rerun.details()).root.children[0]!.recovered).toBe(false);
    expect(calls).toBe(2);
    expect(await logsOf(rerun, "produce")).toEqual([
      `[flyte] recovered output not used: its blob ${new URL(`file://${produced[0]}`).href} is missing or damaged; running blobs-rec.produce again.`,
    ]);
  });

  it("a recovered action whose offloaded output lost its data (a power cut under process durability) runs again", async () => {
    // What a cut leaves when the row was fsynced but the blob's data was not: the file is there, but short.
    let fail = true;
    const env2 = new TaskEnvironment({ name: "blobs-cut" });
    let calls = 0;
    const produce = env2.task({ maxInlineIoBytes: 64 }, async function produce({ n }: { n: number }) {
      calls++;
      return "z".repeat(500 + n);
    });
    const parent = env2.task(async function parent({ n }: { n: number }) {
      const v = await produce({ n });
      if (fail) throw new Error("parent failed after its child succeeded");
      return v.length;
    });
    await (await withRunContext({ name: "cut-src" }).run(parent, { n: 4 })).wait();
    const produced = blobFiles(join(root, ".flyte/blobs/default")).filter((f) => f.includes("/cut-src/") && f.endsWith("/outputs"));
    expect(produced).toHaveLength(1);
    truncateSync(produced[0]!, 0);

    fail = false;
    const rerun = await withRunContext({ recoverFrom: "cut-src", name: "cut-rerun" }).run(parent, { n: 4 });
    expect(await rerun.outputs()).toBe(504);
    expect((await rerun.details()).root.children[0]!.recovered).toBe(false);
    expect(calls).toBe(2);
    expect(await logsOf(rerun, "produce")).toEqual([
      `[flyte] recovered output not used: its blob ${new URL(`file://${produced[0]}`).href} is missing or damaged; running blobs-cut.produce again.`,
    ]);
  });
});
