import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withRunContext } from "flyte-ts";
import { TaskTimeoutError } from "flyte-ts/errors";
import { shutdownWarmPools, warmPools } from "../src/controller/isolation/reuse-pool.ts";
import { freshRuntime } from "./helpers/runtime.ts";
import { leakyCaller, warmCounter, warmFanOut, warmSpin } from "./fixtures/isolation/tasks.ts";

const isolated = () => withRunContext({ isolation: "process" });

beforeAll(async () => {
  process.env.FLYTE_ISOLATION_GRACE_MS = "500";
  await freshRuntime("flyte-isolation-reuse-");
});

afterAll(() => shutdownWarmPools());

describe("ReusePolicy warm pools (isolation on)", () => {
  it("a replica keeps module state between attempts", async () => {
    const outs: { calls: number; pid: number }[] = [];
    for (let i = 0; i < 3; i++) outs.push(await (await isolated().run(warmCounter, { waitMs: 0 })).outputs());
    expect(outs.map((o) => o.pid).every((p) => p === outs[0]!.pid)).toBe(true);
    expect(outs[0]!.pid).not.toBe(process.pid);
    expect(outs.map((o) => o.calls - outs[0]!.calls)).toEqual([0, 1, 2]);
    expect(warmPools().find((p) => p.env === "iso-warm")).toMatchObject({ replicas: 1, running: 0, capacity: 1 });
  }, 60_000);

  it("scales up to max replicas under load, never beyond", async () => {
    const outs = await (await isolated().run(warmFanOut, { n: 5, waitMs: 1500 })).outputs();
    const pids = new Set(outs.map((o) => o.pid));
    expect(pids.size).toBe(2);
    const pool = warmPools().find((p) => p.env === "iso-warm")!;
    expect(pool.replicas).toBe(2);
    expect(pool.capacity).toBe(2);
  }, 60_000);

  it("a replica that leaks past its memory limit is recycled; the attempt on it is retried as a system retry", async () => {
    const r = await isolated().run(leakyCaller, { calls: 4 });
    const outs = await r.outputs();
    // 128 MiB per call on 50-80 MiB of its own: the third call takes the replica past 384Mi.
    expect(outs.map((o) => o.held)).toEqual([1, 2, 1, 2]);
    expect(outs[2]!.pid).not.toBe(outs[0]!.pid);
    const tree = await r.details();
    const attempts = tree.root!.children.map((c) => c.attempts.map((a) => a.error?.code ?? a.phase));
    expect(attempts).toEqual([["succeeded"], ["succeeded"], ["ReplicaLost", "succeeded"], ["succeeded"]]);
  }, 90_000);

  it("a replica running an attempt that spins past its timeout is killed; the pool starts another", async () => {
    const before = await (await isolated().run(warmSpin, { spin: false })).outputs();
    const r = await isolated().run(warmSpin, { spin: true });
    const e = await r.outputs().then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(TaskTimeoutError);
    expect((await (await r.action("a0")).details()).phase).toBe("timed_out");
    const after = await (await isolated().run(warmSpin, { spin: false })).outputs();
    expect(after).not.toBe(before);
  }, 60_000);
});
