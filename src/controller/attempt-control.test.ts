/** Abort handling of one attempt (AttemptControl) and the run's abort reaching its attempts in flight. */
import { describe, expect, it } from "vitest";
import type { TaskTemplate } from "../authoring/task-template.ts";
import { AttemptControl } from "./attempt-control.ts";
import type { RunOptionsResolved } from "./controller.ts";
import { RunState } from "./run-state.ts";

/** What `p` has settled to after every pending microtask ran, or "pending". */
async function state<T>(p: Promise<T>): Promise<{ value: T } | { error: unknown } | "pending"> {
  let out: { value: T } | { error: unknown } | "pending" = "pending";
  p.then((value) => (out = { value }), (error: unknown) => (out = { error }));
  await new Promise((r) => setImmediate(r));
  return out;
}

const never = () => new Promise<never>(() => undefined);

describe("AttemptControl", () => {
  it("starts live; abort records the reason, and the first reason wins", () => {
    const c = new AttemptControl();
    expect([c.aborted, c.reason]).toEqual([false, undefined]);
    const first = new Error("maxRuntime");
    c.abort(first);
    c.abort(new Error("run aborted"));
    expect(c.aborted).toBe(true);
    expect(c.reason).toBe(first);
  });

  it("race settles with the promise while the attempt lives", async () => {
    const c = new AttemptControl();
    expect(await c.race(Promise.resolve(42))).toBe(42);
    const boom = new Error("body failed");
    expect(await state(c.race(Promise.reject(boom)))).toEqual({ error: boom });
    // A race that has settled is not disturbed by a later abort.
    const done = c.race(Promise.resolve("kept"));
    expect(await done).toBe("kept");
    c.abort(new Error("late"));
    expect(await done).toBe("kept");
  });

  it("abort rejects the pending race at once with the reason, even if the promise never settles", async () => {
    const c = new AttemptControl();
    const raced = c.race(never());
    expect(await state(raced)).toBe("pending");
    const reason = new Error("timed out");
    c.abort(reason);
    expect(await state(raced)).toEqual({ error: reason });
  });

  it("abort wins over a result that arrives later", async () => {
    const c = new AttemptControl();
    let resolve!: (v: string) => void;
    const raced = c.race(new Promise<string>((r) => (resolve = r)));
    const reason = new Error("aborted first");
    c.abort(reason);
    resolve("too late");
    expect(await state(raced)).toEqual({ error: reason });
  });

  it("race on an aborted attempt rejects with the first reason without waiting", async () => {
    const c = new AttemptControl();
    const reason = new Error("gone");
    c.abort(reason);
    c.abort(new Error("second"));
    expect(await state(c.race(never()))).toEqual({ error: reason });
    expect(await state(c.race(Promise.resolve(1)))).toEqual({ error: reason });
  });

  it("the signal, read before the abort, fires once with the same reason", () => {
    const c = new AttemptControl();
    const signal = c.signal;
    expect(c.signal).toBe(signal);
    expect(signal.aborted).toBe(false);
    const seen: unknown[] = [];
    signal.addEventListener("abort", () => seen.push(signal.reason));
    const reason = new Error("first");
    c.abort(reason);
    c.abort(new Error("second"));
    expect(signal.aborted).toBe(true);
    expect(seen).toEqual([reason]);
  });

  it("the signal, first read after the abort, is made aborted with the first reason", () => {
    const c = new AttemptControl();
    const reason = new Error("before anyone looked");
    c.abort(reason);
    c.abort(new Error("second"));
    expect(c.signal.aborted).toBe(true);
    expect(c.signal.reason).toBe(reason);
  });
});

describe("the run's abort reaches its attempts", () => {
  function newRunState(): RunState {
    const options = { maxActionConcurrency: 0, envVars: {}, customContext: {} } as unknown as RunOptionsResolved;
    return new RunState({
    name: "r-abort", task: {} as TaskTemplate, options, store: {} as never, blobStore: {} as never, secrets: {} as never, rawDataPrefix: "",
    emit: () => undefined, systemRetries: 0, offload: false, lease: { owner: "o", epoch: 1, expiresAt: 0 }, dispatcher: {} as never,
    startCall: () => Promise.resolve(),
  });
  }

  it("aborts every tracked attempt with the run's reason, but not the released ones", async () => {
    const run = newRunState();
    const [a, b, c] = [new AttemptControl(), new AttemptControl(), new AttemptControl()];
    for (const x of [a, b, c]) run.trackAttempt(x);
    const racing = b.race(never());
    run.releaseAttempt(a);
    run.releaseAttempt(c);
    const reason = new Error('Run "r-abort" was aborted: stop');
    run.abort.abort(reason);
    expect([a.aborted, b.aborted, c.aborted]).toEqual([false, true, false]);
    expect(b.reason).toBe(reason);
    expect(await state(racing)).toEqual({ error: reason });
  });

  it("an attempt tracked after the run was aborted is aborted at once", () => {
    const run = newRunState();
    const reason = new Error("already aborted");
    run.abort.abort(reason);
    const late = new AttemptControl();
    run.trackAttempt(late);
    expect(late.aborted).toBe(true);
    expect(late.reason).toBe(reason);
  });

  it("releasing attempts in any order keeps the others tracked", () => {
    const run = newRunState();
    const all = Array.from({ length: 5 }, () => new AttemptControl());
    for (const x of all) run.trackAttempt(x);
    // From the list's middle, its neighbour (whose links the first release changed), its head (the last tracked) and its tail.
    for (const i of [2, 1, 4, 0]) run.releaseAttempt(all[i]!);
    run.abort.abort(new Error("stop"));
    expect(all.map((x) => x.aborted)).toEqual([false, false, false, true, false]);
  });
});
