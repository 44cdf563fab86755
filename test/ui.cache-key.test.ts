/**
 * `Action.details().cache`: what the cache did for an action (hit, miss, overwrite, disabled) and the parts its key
 * was computed from, read through the public API and the web UI's action endpoint. The key is recomputed here from
 * its parts (API.md §5), so the parts are the ones that made it.
 */
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { Cache, TaskEnvironment, getRun, run, withRunContext, type ActionCacheDetails } from "flyte-ts";
import { startUiServer } from "flyte-ts/ui";
import { freshRuntime } from "./helpers/runtime.ts";

const env = new TaskEnvironment({ name: "ck" });
let executions = 0;
const measure = env.task(
  { cache: new Cache({ behavior: "auto", versionOverride: "v1", ignoredInputs: ["note"] }) },
  async function measure({ x, label }: { x: number; label: string; note?: string }) {
    executions++;
    return `${label}:${x * 2}`;
  },
);
const always = env.task({ cache: "override" }, async function always({ x }: { x: number }) {
  return x;
});
const never = env.task({ cache: "disable" }, async function never({ x }: { x: number }) {
  return x;
});
/** A parent (not cached) calling the cached task: the child's record is kept too. */
const parent = env.task(async function parent({ x }: { x: number }) {
  return measure({ x, label: "child" });
});

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

async function cacheOf(runName: string, action = "a0"): Promise<ActionCacheDetails | undefined> {
  return (await (await getRun(runName)).action(action)).details().then((d) => d.cache);
}

async function ran(p: ReturnType<typeof run>): Promise<string> {
  const r = await p;
  expect(await r.wait()).toBe("succeeded");
  return r.name;
}

describe("the cache key's parts", () => {
  beforeAll(async () => {
    await freshRuntime("flyte-cache-key-");
  });

  it("a miss then a hit: the same key from the same parts, the hit naming the action that wrote the entry", async () => {
    const first = await ran(run(measure, { x: 3, label: "m", note: "first" }));
    const miss = await cacheOf(first);
    expect(miss).toMatchObject({ outcome: "miss", behavior: "auto", taskName: "ck.measure", cacheVersion: "v1", versionOverride: "v1", ignoredInputs: ["note"], serialize: false });
    expect(miss?.reason).toBeUndefined();
    // Every part of the key, and the key recomputed from them.
    expect(miss?.key).toBe(sha256(miss!.inputsHash! + miss!.taskName! + miss!.interfaceHash! + miss!.cacheVersion!));
    // The ignored input is not among the hashed ones.
    expect(miss?.inputs?.map((i) => i.name)).toEqual(["label", "x"]);

    const second = await ran(run(measure, { x: 3, label: "m", note: "second" }));
    expect(executions).toBe(1);
    const hit = await cacheOf(second);
    expect(hit).toMatchObject({ outcome: "hit", source: { runName: first, action: "a0" } });
    const { outcome: _o, source: _s, ...hitParts } = hit!;
    const { outcome: _m, ...missParts } = miss!;
    expect(hitParts).toEqual(missParts);
    const d = await (await (await getRun(second)).action("a0")).details();
    expect(d.cacheHit).toBe(true);
  });

  it("another input value gives another inputs hash and key, and only that input's hash changes", async () => {
    const a = (await cacheOf(await ran(run(measure, { x: 10, label: "k" }))))!;
    const b = (await cacheOf(await ran(run(measure, { x: 11, label: "k" }))))!;
    expect(b.outcome).toBe("miss");
    expect(b.key).not.toBe(a.key);
    expect(b.inputsHash).not.toBe(a.inputsHash);
    expect([b.taskName, b.cacheVersion, b.interfaceHash]).toEqual([a.taskName, a.cacheVersion, a.interfaceHash]);
    const hashes = (c: ActionCacheDetails) => Object.fromEntries(c.inputs!.map((i) => [i.name, i.hash]));
    expect(hashes(b).label).toBe(hashes(a).label);
    expect(hashes(b).x).not.toBe(hashes(a).x);
  });

  it("records a child action's cache, overwrite and disabled behaviors, and the run options that change them", async () => {
    const p = await ran(run(parent, { x: 42 }));
    const details = await (await getRun(p)).details();
    const child = details.root.children[0]!;
    expect((await cacheOf(p, child.name))).toMatchObject({ outcome: "miss", taskName: "ck.measure" });
    expect(await cacheOf(p)).toEqual({ outcome: "disabled", behavior: "disable" });

    expect(await cacheOf(await ran(run(always, { x: 1 })))).toMatchObject({ outcome: "overwrite", behavior: "override", taskName: "ck.always" });
    expect(await cacheOf(await ran(run(never, { x: 1 })))).toEqual({ outcome: "disabled", behavior: "disable" });
    const over = await cacheOf(await ran(withRunContext({ overwriteCache: true }).run(measure, { x: 3, label: "m" })));
    expect(over).toMatchObject({ outcome: "overwrite", behavior: "auto", reason: "the run overwrites the cache (overwriteCache)" });
    expect(over?.key).toBeDefined();
    const off = await cacheOf(await ran(withRunContext({ disableRunCache: true }).run(measure, { x: 3, label: "m" })));
    expect(off).toEqual({ outcome: "disabled", behavior: "auto", reason: "the run disabled the cache (disableRunCache)" });
  });

  it("the web UI's action endpoint carries the record", async () => {
    const name = await ran(run(measure, { x: 5, label: "ui" }));
    const server = await startUiServer({ port: 0 });
    try {
      const res = await fetch(`${server.url}/api/runs/${name}/actions/a0`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { cache?: ActionCacheDetails };
      expect(body.cache).toEqual(await cacheOf(name));
    } finally {
      await server.close();
    }
  });
});
