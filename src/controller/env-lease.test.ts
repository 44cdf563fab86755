/** Environment-variable leases of concurrent attempts sharing one process (env-lease.ts). */
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from "vitest";
import { leaseEnv } from "./env-lease.ts";

// Names no other code in the process reads; each test starts with them unset except where it sets one.
const A = "FLYTE_TEST_LEASE_A";
const B = "FLYTE_TEST_LEASE_B";

let warn: MockInstance<typeof process.emitWarning>;
beforeEach(() => {
  delete process.env[A];
  delete process.env[B];
  warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
});
afterEach(() => {
  warn.mockRestore();
  delete process.env[A];
  delete process.env[B];
});

describe("leaseEnv", () => {
  it("sets the variables and restores what was there when released", () => {
    process.env[B] = "original";
    const release = leaseEnv({ [A]: "1", [B]: "leased" }, "r/a1");
    expect([process.env[A], process.env[B]]).toEqual(["1", "leased"]);
    release();
    expect(A in process.env).toBe(false);
    expect(process.env[B]).toBe("original");
    expect(warn).not.toHaveBeenCalled();
  });

  it("two holders of the same value: the variable stays until the last one ends, without a warning", () => {
    process.env[A] = "before";
    const first = leaseEnv({ [A]: "same" }, "r/a1");
    const second = leaseEnv({ [A]: "same" }, "r/a2");
    first();
    expect(process.env[A]).toBe("same");
    second();
    expect(process.env[A]).toBe("before");
    expect(warn).not.toHaveBeenCalled();
  });

  it("a holder wanting another value warns, naming the variable and the newcomer, and restores the original at the end", () => {
    const first = leaseEnv({ [A]: "one" }, "r/a1");
    const second = leaseEnv({ [A]: "two" }, "r/a2", (n) => `${n} (a secret)`);
    expect(process.env[A]).toBe("two");
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toBe(
      `Environment variable ${A} (a secret) is set to different values by concurrently running actions (now r/a2). In local mode they share process.env; use getSecret()/ctx() for per-action values or a worker mode for isolation.`,
    );
    second();
    expect(process.env[A]).toBe("two");
    first();
    expect(A in process.env).toBe(false);
  });

  it("releases only what it leased", () => {
    const a = leaseEnv({ [A]: "a" }, "r/a1");
    const b = leaseEnv({ [B]: "b" }, "r/a2");
    a();
    expect(A in process.env).toBe(false);
    expect(process.env[B]).toBe("b");
    b();
    expect(B in process.env).toBe(false);
  });
});
