import { afterEach, describe, it, expect, vi } from "vitest";
import { ValidationError } from "../errors.ts";
import { ReusePolicy } from "./reuse-policy.ts";

const bad = (f: () => unknown, re: RegExp) => {
  expect(f).toThrow(ValidationError);
  expect(f).toThrow(re);
};

afterEach(() => vi.restoreAllMocks());

describe("ReusePolicy defaults and normalisation", () => {
  it("defaults to 2 replicas, 30 s TTLs, concurrency 1, global scope", () => {
    const p = new ReusePolicy();
    expect(p.replicas).toEqual([2, 2]);
    expect([p.minReplicas, p.maxReplicas, p.idleTtl, p.scaledownTtl, p.concurrency, p.scope]).toEqual([2, 2, 30, 30, 1, "global"]);
    expect(p.capacity).toBe(2);
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.replicas)).toBe(true);
  });
  it("normalises replicas and durations", () => {
    const p = ReusePolicy({ replicas: [0, 4], idleTtl: "10m", scaledownTtl: 45, concurrency: 8, scope: "run" });
    expect(p).toBeInstanceOf(ReusePolicy);
    expect([p.minReplicas, p.maxReplicas, p.idleTtl, p.scaledownTtl, p.concurrency, p.scope]).toEqual([0, 4, 600, 45, 8, "run"]);
    expect(p.capacity).toBe(32);
    expect(new ReusePolicy({ replicas: 3 }).replicas).toEqual([3, 3]);
  });
});

describe("ReusePolicy validation", () => {
  it("rejects non-integer replicas", () => bad(() => new ReusePolicy({ replicas: 1.5 }), /ReusePolicy: replicas must be an integer or a \[min, max\] pair of integers, got 1.5/));
  it("rejects a malformed pair", () => bad(() => new ReusePolicy({ replicas: [1, 2, 3] as never }), /replicas must be an integer or a \[min, max\] pair/));
  it("rejects min < 0", () => bad(() => new ReusePolicy({ replicas: [-1, 2] }), /ReusePolicy: replicas minimum must be >= 0, got -1/));
  it("rejects max < 1", () => bad(() => new ReusePolicy({ replicas: 0 }), /ReusePolicy: replicas maximum must be >= 1, got 0/));
  it("rejects min > max", () => bad(() => new ReusePolicy({ replicas: [4, 2] }), /ReusePolicy: replicas minimum 4 is greater than maximum 2. Use replicas: \[2, 4\]/));
  it("rejects idleTtl under 30 s with the documented message", () =>
    bad(() => new ReusePolicy({ idleTtl: 10 }), /^ReusePolicy: idleTtl must be at least 30 seconds, got 10. Use idleTtl >= 30 \(or "30s"\)\.$/));
  it("rejects a string idleTtl under 30 s", () => bad(() => new ReusePolicy({ idleTtl: "29s" }), /idleTtl must be at least 30 seconds, got "29s"/));
  it("rejects scaledownTtl under 30 s", () => bad(() => new ReusePolicy({ scaledownTtl: "5s" }), /ReusePolicy: scaledownTtl must be at least 30 seconds, got "5s"/));
  it("rejects a malformed ttl", () => bad(() => new ReusePolicy({ idleTtl: "forever" }), /ReusePolicy: idleTtl "forever" has an unknown unit/));
  it.each([0, 1.5, "2"])("rejects concurrency %s", (c) => bad(() => new ReusePolicy({ concurrency: c as never }), /ReusePolicy: concurrency must be an integer >= 1/));
  it("rejects an unknown scope", () => bad(() => new ReusePolicy({ scope: "project" as never }), /ReusePolicy: scope must be "global" or "run", got "project"/));
  it("rejects unknown options", () => bad(() => new ReusePolicy({ idle_ttl: 60 } as never), /Unknown option "idle_ttl" for ReusePolicy. Did you mean "idleTtl"\?/));
});

describe("ReusePolicy starvation warning", () => {
  it("warns (without failing) for one replica with concurrency 1", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    new ReusePolicy({ replicas: 1 });
    expect(warn).toHaveBeenCalledOnce();
    expect(warn.mock.calls[0]![0]).toMatch(/maxReplicas 1 with concurrency 1 .* starve/);
  });
  it("does not warn otherwise", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    new ReusePolicy({ replicas: 1, concurrency: 2 });
    new ReusePolicy({ replicas: [1, 2] });
    expect(warn).not.toHaveBeenCalled();
  });
});
