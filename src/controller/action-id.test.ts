/**
 * Deterministic action names (action-id.ts) and the sequence numbers RunState.childName gives repeated
 * identical calls. The expected names are computed here from the documented formula with node:crypto, not with
 * the code under test.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { TaskTemplate } from "../authoring/task-template.ts";
import { ROOT_ACTION, actionName, base36 } from "./action-id.ts";
import type { RunOptionsResolved } from "./controller.ts";
import { RunState } from "./run-state.ts";

/** `base36(md5("<parent>-<inputsHash>-<task>-<seq>[-<group>]"))`, as flyte-sdk's sequencer names a call. */
const expected = (parent: string, task: string, ih: string, seq: number, group?: string) =>
  BigInt(`0x${createHash("md5").update(`${parent}-${ih}-${task}-${seq}${group ? `-${group}` : ""}`).digest("hex")}`).toString(36);

/** A run with nothing behind it: childName only reads and writes the run's action map. */
function newRunState(): RunState {
  const options = { maxActionConcurrency: 0, envVars: {}, customContext: {} } as unknown as RunOptionsResolved;
  return new RunState({
    name: "r-ids", task: {} as TaskTemplate, options, store: {} as never, blobStore: {} as never, secrets: {} as never, rawDataPrefix: "",
    emit: () => undefined, systemRetries: 0, offload: false, lease: { owner: "o", epoch: 1, expiresAt: 0 }, dispatcher: {} as never,
    startCall: () => Promise.resolve(),
  });
}

describe("actionName", () => {
  it("is base36(md5) of parent, inputs hash, task, sequence number and group", () => {
    expect(actionName("a0", "env.square", "ih1", 1, null)).toBe(expected("a0", "env.square", "ih1", 1));
    expect(actionName("a0", "env.square", "ih1", 2, "g")).toBe(expected("a0", "env.square", "ih1", 2, "g"));
    // The same call always gets the same name: a re-executed parent finds its finished children by it.
    expect(actionName("a0", "env.square", "ih1", 1, null)).toBe(actionName("a0", "env.square", "ih1", 1, null));
  });

  it("changes with every component", () => {
    const names = [
      actionName("a0", "env.t", "ih", 1, null),
      actionName("other", "env.t", "ih", 1, null),
      actionName("a0", "env.u", "ih", 1, null),
      actionName("a0", "env.t", "ih2", 1, null),
      actionName("a0", "env.t", "ih", 2, null),
      actionName("a0", "env.t", "ih", 1, "g"),
      actionName("a0", "env.t", "ih", 1, "h"),
    ];
    expect(new Set(names).size).toBe(names.length);
  });

  it("treats an empty group as no group", () => {
    expect(actionName("a0", "env.t", "ih", 1, "")).toBe(actionName("a0", "env.t", "ih", 1, null));
  });

  it("base36 renders a hex number in base 36; the root action is a0", () => {
    expect(base36("ff")).toBe("73");
    expect(base36("0")).toBe("0");
    expect(base36("d41d8cd98f00b204e9800998ecf8427e")).toBe(BigInt("0xd41d8cd98f00b204e9800998ecf8427e").toString(36));
    expect(ROOT_ACTION).toBe("a0");
  });
});

describe("RunState.childName", () => {
  it("numbers identical calls of one attempt 1, 2, 3 and claims each name", () => {
    const run = newRunState();
    const epoch = run.nextEpoch();
    const names = [1, 2, 3].map(() => run.childName("a0", epoch, "env.t", "ih", null));
    expect(names).toEqual([1, 2, 3].map((seq) => expected("a0", "env.t", "ih", seq)));
    for (const n of names) expect(run.actions.get(n)).toMatchObject({ phase: "queued", parent: "a0", epoch });
  });

  it("keeps a separate count per task, inputs, group and parent, so interleaving does not change names", () => {
    const a = newRunState();
    const ea = a.nextEpoch();
    const inOrder = [
      a.childName("a0", ea, "env.t", "x", null),
      a.childName("a0", ea, "env.t", "x", null),
      a.childName("a0", ea, "env.t", "y", null),
      a.childName("a0", ea, "env.u", "x", null),
      a.childName("a0", ea, "env.t", "x", "g"),
      a.childName("p1", ea, "env.t", "x", null),
    ];
    const b = newRunState();
    const eb = b.nextEpoch();
    // The same calls scheduled in another order.
    const p1 = b.childName("p1", eb, "env.t", "x", null);
    const g = b.childName("a0", eb, "env.t", "x", "g");
    const u = b.childName("a0", eb, "env.u", "x", null);
    const x1 = b.childName("a0", eb, "env.t", "x", null);
    const y = b.childName("a0", eb, "env.t", "y", null);
    const x2 = b.childName("a0", eb, "env.t", "x", null);
    expect([x1, x2, y, u, g, p1]).toEqual(inOrder);
    expect(inOrder).toEqual([
      expected("a0", "env.t", "x", 1), expected("a0", "env.t", "x", 2), expected("a0", "env.t", "y", 1),
      expected("a0", "env.u", "x", 1), expected("a0", "env.t", "x", 1, "g"), expected("p1", "env.t", "x", 1),
    ]);
  });

  it("a new attempt of the parent (a new epoch) numbers its calls afresh and gets the same names", () => {
    const run = newRunState();
    const first = run.nextEpoch();
    const before = [1, 2, 3].map(() => run.childName("a0", first, "env.t", "ih", null));
    const retry = run.nextEpoch();
    expect(retry).not.toBe(first);
    const after = [1, 2].map(() => run.childName("a0", retry, "env.t", "ih", null));
    expect(after).toEqual(before.slice(0, 2));
    // The states are reused and now belong to the new attempt; the third call of the first attempt was not repeated.
    expect(run.actions.size).toBe(3);
    expect(after.map((n) => run.actions.get(n)!.epoch)).toEqual([retry, retry]);
    expect(run.actions.get(before[2]!)!.epoch).toBe(first);
    // The retry calling it a third time continues the count: the name claimed by the first attempt comes back.
    expect(run.childName("a0", retry, "env.t", "ih", null)).toBe(before[2]);
  });

  it("two attempts of different actions interleaving keep their own counts", () => {
    const run = newRunState();
    const e1 = run.nextEpoch();
    const e2 = run.nextEpoch();
    const n1 = run.childName("a0", e1, "env.t", "ih", null);
    const m1 = run.childName("p2", e2, "env.t", "ih", null);
    const n2 = run.childName("a0", e1, "env.t", "ih", null);
    const m2 = run.childName("p2", e2, "env.t", "ih", null);
    expect([n1, n2]).toEqual([expected("a0", "env.t", "ih", 1), expected("a0", "env.t", "ih", 2)]);
    expect([m1, m2]).toEqual([expected("p2", "env.t", "ih", 1), expected("p2", "env.t", "ih", 2)]);
  });

  it("the count of a long run of identical calls stays exact", () => {
    const run = newRunState();
    const epoch = run.nextEpoch();
    const names = Array.from({ length: 500 }, () => run.childName("a0", epoch, "env.t", "ih", null));
    expect(new Set(names).size).toBe(500);
    expect(names[499]).toBe(expected("a0", "env.t", "ih", 500));
  });
});
