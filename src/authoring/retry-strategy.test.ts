import { describe, it, expect } from "vitest";
import { ValidationError } from "../errors.ts";
import { Backoff, RetryStrategy, normalizeRetries } from "./retry-strategy.ts";

const bad = (f: () => unknown, re: RegExp) => {
  expect(f).toThrow(ValidationError);
  expect(f).toThrow(re);
};

describe("Backoff", () => {
  it("normalises durations to seconds and defaults factor to 1", () => {
    const b = new Backoff({ base: "500ms" });
    expect([b.base, b.factor, b.cap]).toEqual([0.5, 1, undefined]);
    expect(Object.isFrozen(b)).toBe(true);
    expect(new Backoff({ base: 10, factor: 2, cap: "5m" }).cap).toBe(300);
  });

  it("computes min(base * factor ** n, cap)", () => {
    const b = Backoff({ base: "10s", factor: 2, cap: "5m" });
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => b.computeDelay(n))).toEqual([10, 20, 40, 80, 160, 300, 300]);
    expect(new Backoff({ base: 3 }).computeDelay(10)).toBe(3);
  });

  it("rejects a negative base", () => bad(() => new Backoff({ base: -1 }), /Backoff: base -1 is negative/));
  it("rejects a missing base", () => bad(() => new Backoff({} as never), /Backoff: base is required/));
  it("rejects a non-finite factor", () => bad(() => new Backoff({ base: 1, factor: Infinity, cap: 10 }), /Backoff: factor must be a finite number >= 1, got Infinity/));
  it("rejects a factor below 1", () => bad(() => new Backoff({ base: 1, factor: 0.5 }), /Backoff: factor must be a finite number >= 1, got 0.5/));
  it("rejects a negative cap", () => bad(() => new Backoff({ base: 1, cap: "-5s" }), /Backoff: cap "-5s" is negative/));
  it("requires a cap when factor > 1", () => bad(() => new Backoff({ base: 1, factor: 2 }), /Backoff.cap is required when factor > 1/));
  it("rejects a negative retry index", () => bad(() => new Backoff({ base: 1 }).computeDelay(-1), /Backoff.computeDelay: n must be an integer >= 0/));
  it("rejects unknown options", () => bad(() => new Backoff({ base: 1, max: 3 } as never), /Unknown option "max" for Backoff/));
});

describe("RetryStrategy", () => {
  it("keeps count and backoff", () => {
    const backoff = new Backoff({ base: 1 });
    const r = new RetryStrategy({ count: 3, backoff });
    expect(r.count).toBe(3);
    expect(r.backoff).toBe(backoff);
    expect(Object.isFrozen(r)).toBe(true);
    expect(new RetryStrategy({ count: 0 }).backoff).toBeUndefined();
  });
  it("accepts backoff options and builds a Backoff", () => {
    const r = RetryStrategy({ count: 2, backoff: { base: "1s" } });
    expect(r).toBeInstanceOf(RetryStrategy);
    expect(r.backoff).toBeInstanceOf(Backoff);
    expect(r.backoff!.base).toBe(1);
  });
  it.each([-1, 1.5, "3", undefined])("rejects count %s", (count) =>
    bad(() => new RetryStrategy({ count } as never), /RetryStrategy: count must be an integer >= 0, got/));
  it("rejects a backoff of the wrong type", () => bad(() => new RetryStrategy({ count: 1, backoff: 5 as never }), /RetryStrategy: backoff must be a Backoff, got 5/));
  it("rejects unknown options", () => bad(() => new RetryStrategy({ count: 1, retries: 2 } as never), /Unknown option "retries" for RetryStrategy/));
});

describe("normalizeRetries", () => {
  it("turns a count into a RetryStrategy", () => {
    const r = normalizeRetries(4, "env.task");
    expect(r).toBeInstanceOf(RetryStrategy);
    expect(r.count).toBe(4);
  });
  it("returns a RetryStrategy unchanged", () => {
    const r = new RetryStrategy({ count: 1 });
    expect(normalizeRetries(r, "env.task")).toBe(r);
  });
  it("rejects anything else, naming the owner", () => bad(() => normalizeRetries(-2, 'Task "f"'), /^Task "f": retries must be an integer >= 0 or a RetryStrategy, got -2/));
});
