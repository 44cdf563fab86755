/**
 * API.md §2.4: `task.override(options)` returns a new template with the same FQN, inherits unset keys and refuses
 * the fields that cannot change after declaration.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import {
  Cache, PodTemplate, Resources, RetryStrategy, ReusePolicy, Secret, TaskEnvironment, Timeout, init, run, type Link,
} from "flyte-ts";
import { FunctionTaskTemplate, TaskPluginRegistry } from "flyte-ts/extend";
import { ValidationError } from "flyte-ts/errors";

let seq = 0;
const uniq = (base: string) => `${base}-${process.pid}-${++seq}`;

function throwsValidation(f: () => unknown, re: RegExp): ValidationError {
  let e: unknown;
  try {
    f();
  } catch (err) {
    e = err;
  }
  expect(e).toBeInstanceOf(ValidationError);
  expect((e as Error).message).toMatch(re);
  return e as ValidationError;
}

function makeTask(o: ConstructorParameters<typeof TaskEnvironment>[0] extends infer T ? Omit<T, "name"> : never = {}) {
  const env = new TaskEnvironment({ name: uniq("ovr"), ...o });
  const fn = async function square({ x }: { x: number }) {
    return x * x;
  };
  return { env, fn, task: env.task({ retries: 1, queue: "q", links: [] }, fn) };
}

const link: Link = { name: "Logs", getLink: ({ actionName }) => `https://logs.example.com/${actionName}` };

describe("override basics", () => {
  it("returns a new template with the same FQN and leaves the original unchanged", () => {
    const { env, task } = makeTask();
    const o = task.override({ retries: 5 });
    expect(o).not.toBe(task);
    expect(o.name).toBe(task.name);
    expect(o.env).toBe(env);
    expect(o.retries.count).toBe(5);
    expect(task.retries.count).toBe(1);
    expect(env.tasks.get(task.name)).toBe(task);
  });

  it("inherits every key that is not passed", () => {
    const { task } = makeTask({ cache: "auto", interruptible: true });
    const o = task.override({ shortName: "sq" });
    for (const k of ["taskName", "envName", "cache", "retries", "timeout", "queue", "interruptible", "podTemplate", "report", "triggers", "docs", "interface", "fn", "image", "maxInlineIoBytes"] as const) {
      expect(o[k], k).toStrictEqual(task[k]);
    }
    expect(o.shortName).toBe("sq");
  });

  it("keeps the template class and stays callable", async () => {
    const { task } = makeTask();
    const o = task.override({ cache: "disable" });
    expect(o).toBeInstanceOf(FunctionTaskTemplate);
    expect(await o({ x: 4 })).toBe(16);
  });

  it("can be chained; later overrides win", () => {
    const { task } = makeTask();
    const o = task.override({ queue: "a", retries: 2 }).override({ queue: "b" });
    expect([o.queue, o.retries.count]).toEqual(["b", 2]);
  });
});

describe("override applies each overridable option", () => {
  it("sets shortName, queue, interruptible, entrypoint and podTemplate", () => {
    const { task } = makeTask();
    const pod = new PodTemplate({ labels: { a: "b" } });
    const o = task.override({ shortName: "S", queue: "gpu", interruptible: true, entrypoint: true, podTemplate: pod });
    expect([o.shortName, o.queue, o.interruptible, o.entrypoint, o.podTemplate]).toEqual(["S", "gpu", true, true, pod]);
  });

  it("normalises cache, retries and timeout requests", () => {
    const { task } = makeTask();
    const o = task.override({ cache: "auto", retries: 4, timeout: "2m" });
    expect(o.cache).toBeInstanceOf(Cache);
    expect(o.cache.behavior).toBe("auto");
    expect(o.retries).toBeInstanceOf(RetryStrategy);
    expect(o.retries.count).toBe(4);
    expect(o.timeout).toBeInstanceOf(Timeout);
    expect(o.timeout.maxRuntime).toBe(120);
  });

  it("sets resources, envVars and secrets on a non-reusable task", () => {
    const { task } = makeTask();
    const resources = new Resources({ memory: "16Gi" });
    const o = task.override({ resources, envVars: { MODE: "big" }, secrets: ["api-key", new Secret({ key: "k", group: "g" })] });
    expect(o.resources).toBe(resources);
    expect(o.envVars).toEqual({ MODE: "big" });
    expect(o.secrets.map((s) => s.key)).toEqual(["api-key", "k"]);
    expect(o.secrets.every((s) => s instanceof Secret)).toBe(true);
  });

  it("sets maxInlineIoBytes and links", () => {
    const { task } = makeTask();
    const o = task.override({ maxInlineIoBytes: 2048, links: link });
    expect(o.maxInlineIoBytes).toBe(2048);
    expect(o.links).toEqual([link]);
  });

  it("sets a reuse policy", () => {
    const { task } = makeTask();
    const p = new ReusePolicy({ replicas: 2 });
    expect(task.override({ reusable: p }).reusable).toBe(p);
  });

  it('removes reuse with reusable: "off"', () => {
    const { task } = makeTask({ reusable: new ReusePolicy({ replicas: 2 }) });
    expect(task.reusable).toBeInstanceOf(ReusePolicy);
    expect(task.override({ reusable: "off" }).reusable).toBeUndefined();
  });

  it("sets a registered pluginConfig", () => {
    class OverrideCfg {}
    TaskPluginRegistry.register(OverrideCfg, FunctionTaskTemplate);
    const cfg = new OverrideCfg();
    const { task } = makeTask();
    expect(task.override({ pluginConfig: cfg }).pluginConfig).toBe(cfg);
  });
});

describe("override errors", () => {
  it.each(["name", "image", "docs", "inputs", "output", "interface", "report", "triggers"])("rejects overriding %s", (key) => {
    const { task } = makeTask();
    const e = throwsValidation(
      () => task.override({ [key]: "x" } as never),
      new RegExp(`^Task "ovr-[\\d-]+\\.square": ${key} cannot be overridden\\. Define a new task \\(or environment\\) with a different ${key} instead\\.$`),
    );
    expect(e.field).toBe(key);
  });

  it.each(["resources", "envVars", "secrets"] as const)("rejects %s on a reusable task", (key) => {
    const { task } = makeTask({ reusable: new ReusePolicy({ replicas: 2 }) });
    const value = { resources: new Resources({ cpu: 1 }), envVars: { A: "1" }, secrets: ["s"] }[key];
    throwsValidation(
      () => task.override({ [key]: value }),
      new RegExp(`^Cannot override ${key} when reusable is set\\. Reusable tasks use the environment's ${key}; pass reusable: "off" to override them\\.$`),
    );
  });

  it("rejects resources when the override itself makes the task reusable", () => {
    const { task } = makeTask();
    throwsValidation(
      () => task.override({ reusable: new ReusePolicy({ replicas: 2 }), resources: new Resources({ cpu: 1 }) }),
      /^Cannot override resources when reusable is set\./,
    );
  });

  it('allows resources together with reusable: "off"', () => {
    const { task } = makeTask({ reusable: new ReusePolicy({ replicas: 2 }) });
    const resources = new Resources({ cpu: 4 });
    const o = task.override({ reusable: "off", resources, envVars: { A: "1" }, secrets: "s" });
    expect(o.resources).toBe(resources);
    expect(o.reusable).toBeUndefined();
  });

  it("rejects a reusable that is neither a ReusePolicy nor off", () => {
    const { task } = makeTask();
    throwsValidation(() => task.override({ reusable: "on" as never }), /^Task "ovr-[\d-]+\.square": reusable must be a ReusePolicy or "off", got "on"\.$/);
  });

  it("rejects a pluginConfig with no registered plugin", () => {
    class NoPluginCfg {}
    const { task } = makeTask();
    throwsValidation(
      () => task.override({ pluginConfig: new NoPluginCfg() }),
      /^Task "ovr-[\d-]+\.square": No task plugin found for config type NoPluginCfg; register one with TaskPluginRegistry\.register\(\)\.$/,
    );
  });

  it("rejects an unknown key with a did-you-mean suggestion", () => {
    const { task } = makeTask();
    throwsValidation(() => task.override({ retires: 2 } as never), /^Unknown option "retires" for Task "ovr-[\d-]+\.square"\.override\. Did you mean "retries"\?$/);
  });

  it("rejects a flyte-sdk-only key", () => {
    const { task } = makeTask();
    throwsValidation(() => task.override({ debuggable: true } as never), /^Unknown option "debuggable" for Task "ovr-[\d-]+\.square"\.override: remote debugging are a flyte-sdk feature/);
  });

  it("rejects a non-object argument", () => {
    const { task } = makeTask();
    throwsValidation(() => task.override(null as never), /^Task "ovr-[\d-]+\.square": override expects an options object, got null\.$/);
  });

  it.each([
    [{ maxInlineIoBytes: 0 }, /maxInlineIoBytes must be a positive integer number of bytes, got 0/],
    [{ retries: -2 }, /retries must be an integer >= 0 or a RetryStrategy, got -2/],
    [{ cache: "maybe" }, /cache must be "auto", "override", "disable" or a Cache, got "maybe"/],
    [{ timeout: -1 }, /timeout -1 is negative/],
    [{ envVars: { A: 1 } }, /envVars must be an object of string values, got \{"A":1\}/],
    [{ resources: { cpu: 1 } }, /resources must be a Resources, got \{"cpu":1\}/],
    [{ links: [{}] }, /links must be objects with a name and a getLink\(\) function/],
  ])("validates the overridden value %j", (opts, re) => {
    const { task } = makeTask();
    throwsValidation(() => task.override(opts as never), new RegExp(`^Task "ovr-[\\d-]+\\.square": ${re.source}`));
  });
});

describe("override inside a run", () => {
  it("the overridden retry budget is the one the child action gets", async () => {
    await init({ root: mkdtempSync(join(tmpdir(), "ovr-run-")) });
    const env = new TaskEnvironment({ name: uniq("ovr-run") });
    const attempts = vi.fn();
    let calls = 0;
    const flaky = env.task(async function flaky({ failTimes }: { failTimes: number }) {
      attempts();
      if (calls++ < failTimes) throw new Error(`attempt ${calls} failed`);
      return "ok";
    });
    const main = env.task(async function main() {
      return await flaky.override({ retries: 2 })({ failTimes: 2 });
    });
    const r = await run(main);
    expect(await r.outputs()).toBe("ok");
    expect(attempts).toHaveBeenCalledTimes(3);
    const child = (await r.details()).root.children[0]!;
    expect(child.taskName).toBe(flaky.name);
    expect(child.attempts).toHaveLength(3);
  });
});
