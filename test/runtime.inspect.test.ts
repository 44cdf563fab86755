/**
 * Reading and changing recorded runs through the public API — what `flyte get`, `flyte cache clear`, `flyte abort`
 * and the live view of `flyte run` are built on: listRuns, Run.action/Action, Run.source, Run.watch, clearCache.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  Cache, TaskEnvironment, clearCache, getRun, listRuns, run, withRunContext, type ActionUpdate, type LiveLogLine,
} from "flyte-ts";
import { ActionNotFoundError, RunNotFoundError, ValidationError } from "flyte-ts/errors";
import { freshRuntime } from "./helpers/runtime.ts";

beforeAll(async () => {
  await freshRuntime("flyte-inspect-");
});

const env = new TaskEnvironment({ name: "inspect" });
const square = env.task({ cache: new Cache({ behavior: "auto" }) }, async function square({ x }: { x: number }) {
  console.log(`squaring ${x}`);
  return { sq: x * x };
});
const sum = env.task(async function sum({ n }: { n: number }) {
  const parts = await Promise.all(Array.from({ length: n }, (_, x) => square({ x })));
  return parts.reduce((a, p) => a + p.sq, 0);
});
let tries = 0;
const flaky = env.task({ retries: 1 }, async function flaky() {
  if (tries++ === 0) throw new Error("first try fails");
  return "ok";
});
const shout = env.task(async function shout({ n }: { n: number }) {
  for (let i = 0; i < n; i++) console.log(`line ${i}`);
  return n;
});
const broken = env.task(async function broken() {
  throw new Error("always broken");
});

describe("listRuns", () => {
  it("lists runs newest first, filtered by phase, task and label, with a limit", async () => {
    const a = await withRunContext({ name: "list-a", labels: { team: "red" } }).run(sum, { n: 1 });
    await a.wait();
    const b = await withRunContext({ name: "list-b" }).run(broken);
    await b.wait();
    const all = await listRuns();
    expect(all.map((r) => r.name).slice(0, 2)).toEqual(["list-b", "list-a"]);
    expect(all[1]).toMatchObject({ name: "list-a", taskName: "inspect.sum", phase: "succeeded", mode: "local", labels: { team: "red" } });
    expect(all[1]!.createdAt).toBeInstanceOf(Date);
    expect(all[1]!.endedAt!.getTime()).toBeGreaterThanOrEqual(all[1]!.startedAt!.getTime());
    expect((await listRuns({ phase: "failed" })).map((r) => r.name)).toEqual(["list-b"]);
    expect((await listRuns({ task: "broken" })).map((r) => r.name)).toEqual(["list-b"]);
    expect((await listRuns({ label: ["team", "red"] })).map((r) => r.name)).toEqual(["list-a"]);
    expect(await listRuns({ limit: 1 })).toHaveLength(1);
    expect(await listRuns({ project: "elsewhere" })).toEqual([]);
  });

  it("refuses a bad limit, phase or label with a ValidationError naming it", async () => {
    await expect(listRuns({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(listRuns({ limit: 1.5 })).rejects.toThrow(/^listRuns: limit must be a whole number >= 1, got 1\.5\.$/);
    await expect(listRuns({ phase: "done" as never })).rejects.toThrow(/^listRuns: phase must be one of queued, .*, timed_out, got "done"\.$/);
    await expect(listRuns({ label: ["team"] as never })).rejects.toThrow(/^listRuns: label must be a \[key, value\] pair of strings, got \["team"\]\.$/);
  });
});

describe("Run.action and the Action handle", () => {
  it("decodes an action's inputs and outputs, with its interface schema and subtree", async () => {
    const r = await withRunContext({ name: "act-io" }).run(sum, { n: 2 });
    await r.wait();
    const root = await r.action("a0");
    expect(root.name).toBe("a0");
    expect(root.runName).toBe("act-io");
    expect(await root.inputs()).toEqual({ n: 2 });
    expect(await root.outputs()).toBe(1);
    expect(await root.phase()).toBe("succeeded");
    const tree = await root.details();
    expect(tree.children).toHaveLength(2);
    const child = await r.action(tree.children[0]!.name);
    const io = await child.io();
    expect(io.inputs).toEqual({ x: expect.any(Number) });
    expect(io.outputs).toEqual({ sq: (io.inputs as { x: number }).x ** 2 });
    expect((await child.details()).taskName).toBe("inspect.square");
  });

  it("gives undefined outputs for an action that did not succeed, and names a missing action or run", async () => {
    const r = await withRunContext({ name: "act-fail" }).run(broken);
    await r.wait();
    const a = await r.action("a0");
    expect(await a.outputs()).toBeUndefined();
    expect((await a.details()).error?.message).toBe("always broken");
    await expect(r.action("nope")).rejects.toThrow(new ActionNotFoundError('Action "nope" does not exist in run "act-fail". See its actions with: flyte get run act-fail'));
    const gone = await getRun("act-fail");
    await expect(gone.action("a0")).resolves.toBeDefined();
    await expect(getRun("never-ran")).rejects.toBeInstanceOf(RunNotFoundError);
  });
});

describe("Run.source", () => {
  it("reports the task, its file and the context a recovery re-applies", async () => {
    const r = await withRunContext({ name: "src-1", envVars: { A: "1" }, customContext: { who: "me" } }).run(sum, { n: 1 });
    await r.wait();
    const s = await r.source();
    expect(s).toEqual({ taskName: "inspect.sum", file: expect.stringMatching(/runtime\.inspect\.test\.ts$/), customContext: { who: "me" }, envVars: { A: "1" } });
  });
});

describe("clearCache", () => {
  it("deletes all entries or one task's, and says how many", async () => {
    await (await run(sum, { n: 3 })).wait();
    const again = await run(sum, { n: 3 });
    await again.wait();
    expect((await again.details()).root.children.every((c) => c.cacheHit)).toBe(true);
    expect(await clearCache({ task: "inspect.nothing" })).toBe(0);
    expect(await clearCache({ task: "inspect.square" })).toBe(3);
    expect(await clearCache()).toBe(0);
    const third = await run(sum, { n: 3 });
    await third.wait();
    expect((await third.details()).root.children.some((c) => c.cacheHit)).toBe(false);
    await expect(clearCache({ task: "" })).rejects.toThrow(/^clearCache: task must be a task's full name \(env.task\), got ""\.$/);
  });
});

describe("Run.watch", () => {
  it("delivers every action's phase changes, with the error of a failed attempt while its retry runs", async () => {
    const r = await withRunContext({ name: "watched" }).run(flaky);
    const updates: ActionUpdate[] = [];
    const w = r.watch({ onAction: (u) => updates.push(u) });
    await r.wait();
    await w.close();
    expect(updates.every((u) => u.run === "watched" && u.action === "a0")).toBe(true);
    const retry = updates.find((u) => u.attempt === 1 && u.phase === "running");
    expect(retry?.previousAttemptError?.message).toBe("first try fails");
    expect(updates.at(-1)).toMatchObject({ phase: "succeeded", attempt: 1 });
  });

  it("gives a failed action's error, and the console lines of the run's attempts instead of echoing them", async () => {
    const r = await withRunContext({ name: "watched-logs" }).run(shout, { n: 2 });
    const lines: LiveLogLine[] = [];
    const updates: ActionUpdate[] = [];
    const w = r.watch({ onAction: (u) => updates.push(u), onLog: (l) => lines.push(l) });
    await r.wait();
    await w.close();
    expect(lines).toEqual([
      { label: "shout", stream: "stdout", message: "line 0" },
      { label: "shout", stream: "stdout", message: "line 1" },
    ]);
    expect(updates.map((u) => u.phase)).toContain("succeeded");

    const b = await withRunContext({ name: "watched-fail" }).run(broken);
    const seen: ActionUpdate[] = [];
    const w2 = b.watch({ onAction: (u) => seen.push(u) });
    await b.wait();
    await w2.close();
    expect(seen.at(-1)).toMatchObject({ phase: "failed", error: { name: "Error", message: "always broken" } });
  });
});
