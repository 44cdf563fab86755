import { describe, it, expect } from "vitest";
import { ValidationError } from "../errors.ts";
import { Timeout, normalizeTimeout } from "./timeout.ts";

const bad = (f: () => unknown, re: RegExp) => {
  expect(f).toThrow(ValidationError);
  expect(f).toThrow(re);
};

describe("Timeout", () => {
  it("is unbounded by default", () => {
    const t = new Timeout();
    expect([t.maxRuntime, t.maxQueuedTime, t.deadline]).toEqual([undefined, undefined, undefined]);
    expect(Object.isFrozen(t)).toBe(true);
  });
  it("normalises every bound to seconds", () => {
    const t = Timeout({ maxRuntime: "1h30m", maxQueuedTime: 90, deadline: "500ms" });
    expect(t).toBeInstanceOf(Timeout);
    expect([t.maxRuntime, t.maxQueuedTime, t.deadline]).toEqual([5400, 90, 0.5]);
  });
  it("treats 0 as unbounded", () => {
    const t = new Timeout({ maxRuntime: 0, deadline: "0s" });
    expect(t.maxRuntime).toBeUndefined();
    expect(t.deadline).toBeUndefined();
  });
  it("rejects a negative bound", () => bad(() => new Timeout({ maxRuntime: -1 }), /Timeout: maxRuntime -1 is negative/));
  it("rejects an unknown unit", () => bad(() => new Timeout({ deadline: "5y" }), /Timeout: deadline "5y" has an unknown unit or format/));
  it("rejects a non-finite bound", () => bad(() => new Timeout({ maxQueuedTime: NaN }), /Timeout: maxQueuedTime .* is not a finite number/));
  it("rejects unknown options", () => bad(() => new Timeout({ maxRunTime: 5 } as never), /Unknown option "maxRunTime" for Timeout. Did you mean "maxRuntime"\?/));
});

describe("normalizeTimeout", () => {
  it("reads a bare duration as maxRuntime", () => {
    expect(normalizeTimeout(600, "env.task").maxRuntime).toBe(600);
    expect(normalizeTimeout("10m", "env.task").maxRuntime).toBe(600);
    expect(normalizeTimeout(0, "env.task").maxRuntime).toBeUndefined();
  });
  it("accepts a plain object and returns a Timeout unchanged", () => {
    const t = normalizeTimeout({ deadline: "1h" }, "env.task");
    expect(t).toBeInstanceOf(Timeout);
    expect(t.deadline).toBe(3600);
    expect(normalizeTimeout(t, "env.task")).toBe(t);
  });
  it("names the owner for a bad bare duration", () => bad(() => normalizeTimeout("soon", 'Task "f"'), /^Task "f": timeout "soon" has an unknown unit or format/));
  it("rejects other types", () => bad(() => normalizeTimeout(true as never, 'Task "f"'), /^Task "f": timeout must be a duration, a Timeout or \{ maxRuntime, maxQueuedTime, deadline \}, got true/));
  it("rejects unknown keys in a plain object", () => bad(() => normalizeTimeout({ max: 1 } as never, "env.task"), /Unknown option "max" for Timeout/));
});
