/**
 * Admission of child calls (admission.ts): at most 64 calls start per event-loop turn, in the order they were
 * made, never inside the code that made them. setImmediate is faked, so each `turn()` below is exactly one
 * event-loop turn of the runtime; microtasks run for real.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TaskTemplate } from "../authoring/task-template.ts";
import { Admission, type Caller } from "./admission.ts";

const PER_TURN = 64;
const TASK = {} as TaskTemplate;
const CALLER: Caller = { action: "a0", epoch: 1 };

/** Admits call `i`; `start` is what runs once it is admitted. The one place that knows RunState's admit signature. */
function newAdmitter(start: (i: number) => Promise<unknown>): (i: number) => Promise<unknown> {
  const admission = new Admission((_caller, _scope, _task, inputs) => start(inputs as number));
  return (i) => admission.admit(CALLER, {} as never, TASK, i);
}

/** Waits until no microtask is left (a nextTick callback runs only once the microtask queue is empty). */
const microtasks = async () => {
  for (let i = 0; i < 3; i++) await new Promise((r) => process.nextTick(r));
};

/** One event-loop turn: the runtime's pending setImmediate callback, then every microtask it causes. */
async function turn(): Promise<void> {
  expect(vi.getTimerCount(), "a turn to be scheduled").toBe(1);
  vi.runOnlyPendingTimers();
  await microtasks();
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setImmediate", "clearImmediate"] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("RunState.admit", () => {
  it("starts 64 calls per turn, in call order, and resolves each call to what its start returned", async () => {
    const started: number[] = [];
    const admit = newAdmitter(async (i) => {
      started.push(i);
      return `done ${i}`;
    });
    const calls = range(0, 200).map((i) => admit(i));
    // Never inside the code that made the call.
    expect(started).toEqual([]);
    await microtasks();
    expect(started).toEqual(range(0, PER_TURN));
    await turn();
    expect(started).toEqual(range(0, 2 * PER_TURN));
    await turn();
    expect(started).toEqual(range(0, 3 * PER_TURN));
    await turn();
    expect(started).toEqual(range(0, 200));
    expect(await Promise.all(calls)).toEqual(range(0, 200).map((i) => `done ${i}`));
  });

  it("a call made when the turn's budget is spent waits for the next turn; the budget is per turn, not per batch", async () => {
    const started: number[] = [];
    const admit = newAdmitter(async (i) => void started.push(i));
    range(0, 60).forEach((i) => void admit(i));
    await microtasks();
    expect(started).toHaveLength(60);
    // Same turn: 60 + 10 would pass 64, so the ten wait (as one batch) for the next turn.
    range(60, 70).forEach((i) => void admit(i));
    await microtasks();
    expect(started).toHaveLength(60);
    await turn();
    expect(started).toEqual(range(0, 70));
    // Within the new turn's budget, a later call starts in the same turn.
    void admit(70);
    await microtasks();
    expect(started).toEqual(range(0, 71));
  });

  it("calls made by started calls count against the same budget", async () => {
    const perTurn: number[] = [0];
    let total = 0;
    // A tree: each call makes three more until 400 calls have been made.
    const admit: (i: number) => Promise<unknown> = newAdmitter(async () => {
      perTurn[perTurn.length - 1]!++;
      const children = [];
      for (let k = 0; k < 3 && total < 400; k++) children.push(admit(total++));
      await Promise.all(children);
    });
    const root = admit(total++);
    await microtasks();
    while (vi.getTimerCount() > 0) {
      perTurn.push(0);
      vi.runOnlyPendingTimers();
      await microtasks();
      expect(perTurn.length, "admission to finish").toBeLessThan(100);
    }
    await root;
    expect(perTurn.reduce((a, b) => a + b, 0)).toBe(400);
    expect(Math.max(...perTurn)).toBeLessThanOrEqual(PER_TURN);
    // The budget is used, not wasted: all but the last turns start a full 64 or close to it.
    expect(perTurn.length).toBeLessThanOrEqual(Math.ceil(400 / 32) + 2);
  });

  it("stops scheduling turns once nothing waits", async () => {
    const admit = newAdmitter(async () => undefined);
    await Promise.all([admit(1), admit(2)]);
    // A turn or two to renew the budget the two calls used; then the run schedules none (no idle loop).
    for (let i = 0; i < 2 && vi.getTimerCount() > 0; i++) vi.runOnlyPendingTimers();
    expect(vi.getTimerCount()).toBe(0);
    // A later call schedules turns again.
    const later = admit(3);
    expect(vi.getTimerCount()).toBe(1);
    await microtasks();
    await later;
  });

  it("a call whose start throws rejects alone; the calls around it still run", async () => {
    const admit = newAdmitter(async (i) => {
      if (i === 1) throw new Error("start failed");
      return i;
    });
    const out = await Promise.allSettled([admit(0), admit(1), admit(2)]);
    expect(out.map((o) => (o.status === "fulfilled" ? o.value : (o.reason as Error).message))).toEqual([0, "start failed", 2]);
  });
});
