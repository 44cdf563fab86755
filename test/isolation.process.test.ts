import { beforeAll, describe, expect, it } from "vitest";
import { withRunContext, type Run } from "flyte-ts";
import { NonRecoverableError, OOMError, TaskTimeoutError, ValidationError } from "flyte-ts/errors";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { flyte, freshRuntime, REPO } from "./helpers/runtime.ts";
import { allocate, allocateWithFallback, counter, nativeHog, spin, tooSmall, twoCounters, unbounded, whoAmI } from "./fixtures/isolation/tasks.ts";

const isolated = (o: Record<string, unknown> = {}) => withRunContext({ isolation: "process", ...o });

async function failure(r: Run): Promise<Error> {
  const e = await r.outputs().then(() => undefined, (err: unknown) => err as Error);
  expect(e, "the run should have failed").toBeInstanceOf(Error);
  return e!;
}

async function logText(r: Run): Promise<string> {
  const lines: string[] = [];
  for await (const l of r.logs()) lines.push(l.message);
  return lines.join("\n");
}

beforeAll(async () => {
  process.env.FLYTE_ISOLATION_GRACE_MS = "500";
  await freshRuntime("flyte-isolation-");
});

describe("process per attempt", () => {
  it("runs the attempt in another process, with its inputs, env vars, context and logs", async () => {
    const r = await isolated({ envVars: { ISO_VAR: "set" } }).run(whoAmI, { x: 21 });
    const out = await r.outputs();
    expect(out.pid).not.toBe(process.pid);
    expect(out).toMatchObject({ x: 42, fromEnv: "set", action: "a0" });
    expect(await logText(r)).toContain("isolated log line x=21");
  });

  it("does not share module state between isolated attempts; nested calls go through the owner", async () => {
    const out = await (await isolated().run(twoCounters)).outputs();
    expect(out.calls).toEqual([1, 1]);
    expect(new Set([...out.pids, out.parentPid, process.pid]).size).toBe(4);
    // In-process (the default), the same module's state is shared.
    const a = await (await withRunContext().run(counter)).outputs();
    const b = await (await withRunContext().run(counter)).outputs();
    expect(b.calls).toBe(a.calls + 1);
    expect(a.pid).toBe(process.pid);
  });

  it("flyte run --isolate runs each attempt in a process of its own", () => {
    const cwd = mkdtempSync(join(tmpdir(), "flyte-isolate-cli-"));
    const r = flyte(cwd, ["run", join(REPO, "test/fixtures/isolation/tasks.ts"), "twoCounters", "--isolate", "-q"]);
    expect(r.stderr).not.toContain("Error");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Outputs: \{ calls: \[ 1, 1 \], pids: \[ \d+, \d+ \], parentPid: \d+ \}/);
  }, 60_000);

  it("rejects an unknown isolation value", async () => {
    const e = await withRunContext({ isolation: "thread" as "process" }).run(counter).then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(ValidationError);
    expect((e as Error).message).toBe('withRunContext: isolation must be "none" (attempts run in this process) or "process" (each attempt in a fresh child process), got "thread".');
  });
});

describe("memory limits", () => {
  it("OOMError is caught by the caller, which calls again with more memory and succeeds (the flyte-sdk pattern)", async () => {
    const r = await isolated().run(allocateWithFallback, { mb: 200 });
    expect(await r.outputs()).toEqual({ held: 200, retriedBigger: true });
  }, 60_000);

  it("the same allocation fits when the limit allows it", async () => {
    const r = await isolated().run(allocate, { mb: 40 });
    expect(await r.outputs()).toEqual({ held: 40 });
  });

  it("unbounded allocation fails with OOMError after its retries; the runtime goes on", async () => {
    const r = await isolated().run(unbounded);
    const e = await failure(r);
    expect(e).toBeInstanceOf(OOMError);
    expect(e.message).toMatch(
      // Whichever comes first: the V8 heap (172Mi, 90% of the limit) or the RSS watchdog.
      /^Task "iso-small\.unbounded" attempt #1 (used more memory than its limit of 192Mi \(resident \d+Mi\) and was killed|ran out of JavaScript heap \(172Mi, 90% of its memory limit of 192Mi\))\. Request more with resources\.memory/,
    );
    const action = await (await r.action("a0")).details();
    expect(action.attempts.map((a) => a.error?.code)).toEqual(["OOMError", "OOMError"]);
    expect(await (await isolated().run(counter)).outputs()).toMatchObject({ calls: 1 });
  }, 60_000);

  it("native memory past the limit is caught by the RSS watchdog", async () => {
    const e = await failure(await isolated().run(nativeHog));
    expect(e).toBeInstanceOf(OOMError);
    expect(e.message).toMatch(/^Task "iso-small\.nativeHog" attempt #0 used more memory than its limit of 192Mi \(resident \d+Mi\) and was killed\./);
  }, 60_000);

  it("a limit below what Node needs to start is refused, naming the minimum", async () => {
    const e = await failure(await isolated().run(tooSmall));
    expect(e).toBeInstanceOf(NonRecoverableError);
    expect(e.message).toBe('Task "iso-tiny.tooSmall": resources.memory 64Mi is below the 128Mi a Node process needs to start, so its isolated attempt cannot run. Request at least memory: "128Mi".');
  });
});

describe("hard timeouts", () => {
  it("a CPU-spinning task is killed at its timeout and the attempt is timed_out", async () => {
    const t0 = Date.now();
    const r = await isolated().run(spin);
    const e = await failure(r);
    expect(e).toBeInstanceOf(TaskTimeoutError);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const action = await (await r.action("a0")).details();
    expect(action.phase).toBe("timed_out");
    expect(action.attempts.map((a) => a.phase)).toEqual(["timed_out"]);
  }, 30_000);
});
