/**
 * API.md §2.1–2.3 and §2.6: declaring tasks with env.task, the defaults of every TaskTemplate field, calling a
 * task outside a run (direct call, schema validation) and the plugin hooks of flyte-ts/extend.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import {
  Cache, Documentation, Image, PodTemplate, Resources, RetryStrategy, ReusePolicy, Secret, TaskEnvironment, Timeout,
  Trigger, init, run, trace, type Link,
} from "flyte-ts";
import { FunctionTaskTemplate, TaskPluginRegistry, TaskTemplate } from "flyte-ts/extend";
import { RuntimeDataValidationError, TraceDoesNotAllowNestedTasksError, ValidationError } from "flyte-ts/errors";

let seq = 0;
const uniq = (base: string) => `${base}-${process.pid}-${++seq}`;
const newEnv = (base: string, o: Omit<ConstructorParameters<typeof TaskEnvironment>[0], "name"> = {}) =>
  new TaskEnvironment({ name: uniq(base), ...o });

function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
}

function throwsValidation(f: () => unknown, re: RegExp): ValidationError {
  const e = caught(f);
  expect(e).toBeInstanceOf(ValidationError);
  expect((e as Error).message).toMatch(re);
  return e as ValidationError;
}

async function rejectsData(p: Promise<unknown>, re: RegExp): Promise<RuntimeDataValidationError> {
  const e = await p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RuntimeDataValidationError);
  expect((e as Error).message).toMatch(re);
  return e as RuntimeDataValidationError;
}

const link: Link = { name: "Grafana", getLink: ({ runName }) => `https://grafana.example.com/d/x?run=${runName}` };

describe("env.task declaration", () => {
  it("declares a task from a named function and registers it under its FQN", () => {
    const env = newEnv("decl");
    const add = env.task(async function add({ a, b }: { a: number; b: number }) {
      return a + b;
    });
    expect(add).toBeInstanceOf(TaskTemplate);
    expect(add).toBeInstanceOf(FunctionTaskTemplate);
    expect(typeof add).toBe("function");
    expect(add.name).toBe(`${env.name}.add`);
    expect(env.tasks.get(`${env.name}.add`)).toBe(add);
  });

  it("takes the name from options, which allows anonymous functions", () => {
    const env = newEnv("named");
    const t = env.task({ name: "double" }, async ({ x }: { x: number }) => x * 2);
    expect(t.name).toBe(`${env.name}.double`);
  });

  it("prefers options.name over the function name", () => {
    const env = newEnv("renamed");
    const t = env.task({ name: "better" }, async function worse() {
      return 1;
    });
    expect(t.name).toBe(`${env.name}.better`);
    expect(t.shortName).toBe("better");
  });

  it("accepts a synchronous function", async () => {
    const env = newEnv("sync");
    const t = env.task(function inc({ x }: { x: number }) {
      return x + 1;
    });
    const p = t({ x: 1 });
    expect(p).toBeInstanceOf(Promise);
    expect(await p).toBe(2);
  });

  it("accepts a function with no parameter", async () => {
    const env = newEnv("noparam");
    const t = env.task(async function hello() {
      return "hi";
    });
    expect(await t()).toBe("hi");
  });

  it("records the file that declared the task", () => {
    const env = newEnv("src");
    const t = env.task(async function where() {
      return 1;
    });
    expect(t.sourceFile).toBe(fileURLToPath(import.meta.url));
  });

  it("builds the registered plugin template when the environment has a pluginConfig", () => {
    class SparkConfig {
      constructor(readonly executors = 2) {}
    }
    class SparkTask extends FunctionTaskTemplate {}
    TaskPluginRegistry.register(SparkConfig, SparkTask);
    const cfg = new SparkConfig(4);
    const env = newEnv("plugin", { pluginConfig: cfg });
    const t = env.task(async function job() {
      return 1;
    });
    expect(t).toBeInstanceOf(SparkTask);
    expect(t.pluginConfig).toBe(cfg);
  });
});

describe("env.task validation (§2.1)", () => {
  it("rejects an anonymous function without options.name", () => {
    const env = newEnv("anon");
    const e = throwsValidation(() => env.task((() => 1) as never), /^Task function has no name\. Use a named function or pass \{ name \}\.$/);
    expect(e.field).toBe("name");
  });

  it("rejects an anonymous function passed with options but no name", () => {
    const env = newEnv("anon2");
    throwsValidation(() => env.task({ retries: 1 }, (() => 1) as never), /^Task function has no name\./);
  });

  it.each(["1abc", "has space", "dot.ted", "x".repeat(64)])("rejects the invalid task name %j", (name) => {
    const env = newEnv("badname");
    throwsValidation(
      () => env.task({ name }, async () => 1),
      /^Task: task name ".*" is invalid\. Use a JavaScript identifier \(letters, digits, _, \$, -\) of at most 63 characters, starting with a letter, _ or \$\.$/,
    );
  });

  it("accepts a 63-character task name with $, _ and -", () => {
    const env = newEnv("longname");
    const name = `$_a-${"b".repeat(59)}`;
    expect(env.task({ name }, async () => 1).taskName).toBe(name);
  });

  it("rejects a second task with the same FQN in one environment", () => {
    const env = newEnv("dup");
    env.task(async function add() {
      return 1;
    });
    throwsValidation(
      () => env.task(async function add() {
        return 2;
      }),
      new RegExp(`^Task "${env.name}\\.add" is already defined in environment "${env.name}"\\. Give the task a different name \\(pass \\{ name \\}\\)\\.$`),
    );
  });

  it("allows the same task name in different environments", () => {
    const f = async function same() {
      return 1;
    };
    expect(newEnv("same-a").task(f).name).not.toBe(newEnv("same-b").task(f).name);
  });

  it("rejects a function with more than one parameter", () => {
    const env = newEnv("arity");
    throwsValidation(
      () => env.task(function add(a: number, b: number) {
        return a + b;
      } as never),
      /^Task "arity-[\d-]+\.add": Task functions take one object of named inputs, but it declares 2 parameters\. Use function add\(\{ a, b \}: \{ a: number; b: number \}\)\.$/,
    );
  });

  it("rejects podTemplate on a task of a reusable environment", () => {
    const env = newEnv("reuse-pod", { reusable: new ReusePolicy({ replicas: 2 }) });
    throwsValidation(
      () => env.task({ podTemplate: "gpu" }, async function p() {
        return 1;
      }),
      /^Task "reuse-pod-[\d-]+\.p": Cannot set podTemplate when environment is reusable\. Remove podTemplate or use an environment without reusable\.$/,
    );
  });

  it("rejects a synchronous function in a reusable environment with concurrency > 1", () => {
    const env = newEnv("reuse-sync", { reusable: new ReusePolicy({ replicas: 2, concurrency: 4 }) });
    throwsValidation(
      () => env.task(function work() {
        return 1;
      }),
      /^Task "reuse-sync-[\d-]+\.work": Reusable environments with concurrency > 1 require an async function \(concurrency is 4\)\. Declare it as async function work\(\.\.\.\)\.$/,
    );
  });

  it("allows an async function in a reusable environment with concurrency > 1", () => {
    const env = newEnv("reuse-async", { reusable: new ReusePolicy({ replicas: 2, concurrency: 4 }) });
    const t = env.task(async function work() {
      return 1;
    });
    expect(t.reusable).toBe(env.reusable);
  });

  it("allows a synchronous function in a reusable environment with concurrency 1", () => {
    const env = newEnv("reuse-one", { reusable: new ReusePolicy({ replicas: 2 }) });
    expect(() => env.task(function work() {
      return 1;
    })).not.toThrow();
  });

  it("rejects inputs that are not a schema", () => {
    const env = newEnv("in-bad");
    throwsValidation(
      () => env.task({ inputs: { x: "number" } as never }, async function t() {
        return 1;
      }),
      /^Task "in-bad-[\d-]+\.t": inputs must be an object schema \(e\.g\. z\.object\(\{ x: z\.number\(\) \}\)\), got \{"x":"number"\}\.$/,
    );
  });

  it("rejects inputs that are a non-object schema", () => {
    const env = newEnv("in-str");
    throwsValidation(
      () => env.task({ inputs: z.string() as never }, async function t() {
        return 1;
      }),
      /^Task "in-str-[\d-]+\.t": inputs must be an object schema \(e\.g\. z\.object\(\{ x: z\.number\(\) \}\)\); got a schema of type "string"\.$/,
    );
  });

  it("rejects an output that is not a schema", () => {
    const env = newEnv("out-bad");
    throwsValidation(
      () => env.task({ output: "number" as never }, async function t() {
        return 1;
      }),
      /^Task "out-bad-[\d-]+\.t": output must be a schema \(e\.g\. z\.number\(\)\), got "number"\.$/,
    );
  });

  it.each([0, -1, 1.5, "1MB"])("rejects maxInlineIoBytes %j", (v) => {
    const env = newEnv("io");
    throwsValidation(
      () => env.task({ maxInlineIoBytes: v as never }, async function t() {
        return 1;
      }),
      new RegExp(`^Task "io-[\\d-]+\\.t": maxInlineIoBytes must be a positive integer number of bytes, got ${JSON.stringify(v).replace(".", "\\.")}\\. Example: 20 \\* 1024 \\* 1024\\.$`),
    );
  });

  it.each([-1, 1.5])("rejects retries %j", (v) => {
    const env = newEnv("retries");
    throwsValidation(
      () => env.task({ retries: v }, async function t() {
        return 1;
      }),
      new RegExp(`^Task "retries-[\\d-]+\\.t": retries must be a non-negative integer or a RetryStrategy, got ${String(v).replace(".", "\\.")}\\.$`),
    );
  });

  it("rejects an invalid cache request", () => {
    const env = newEnv("t-cache");
    throwsValidation(() => env.task({ cache: "sometimes" as never }, async function t() {
      return 1;
    }), /^Task "t-cache-[\d-]+\.t": cache must be "auto", "override", "disable" or a Cache, got "sometimes"\. Use e\.g\. cache: "auto"\.$/);
  });

  it("rejects an invalid timeout", () => {
    const env = newEnv("t-timeout");
    throwsValidation(() => env.task({ timeout: "soon" }, async function t() {
      return 1;
    }), /^Task "t-timeout-[\d-]+\.t": timeout "soon" has an unknown unit or format\. Use a number of seconds/);
  });

  it("rejects docs that are neither a string nor a Documentation", () => {
    const env = newEnv("t-docs");
    throwsValidation(() => env.task({ docs: 5 as never }, async function t() {
      return 1;
    }), /^Task "t-docs-[\d-]+\.t": docs must be a string or a Documentation, got 5\.$/);
  });

  it("rejects triggers that are not Trigger objects", () => {
    const env = newEnv("t-trig");
    throwsValidation(() => env.task({ triggers: ["hourly"] as never }, async function t() {
      return 1;
    }), /^Task "t-trig-[\d-]+\.t": triggers must be Trigger objects, got "hourly"\.$/);
  });

  it("rejects links without a name and a getLink function", () => {
    const env = newEnv("t-links");
    throwsValidation(() => env.task({ links: { name: "x" } as never }, async function t() {
      return 1;
    }), /^Task "t-links-[\d-]+\.t": links must be objects with a name and a getLink\(\) function, got \{"name":"x"\}\.$/);
  });

  it.each(["report", "entrypoint", "interruptible"] as const)("rejects a non-boolean %s", (k) => {
    const env = newEnv("t-bool");
    throwsValidation(() => env.task({ [k]: "yes" } as never, async function t() {
      return 1;
    }), new RegExp(`^Task "t-bool-[\\d-]+\\.t": ${k} must be true or false, got "yes"\\.$`));
  });

  it("rejects cache.ignoredInputs that are not inputs of the task", () => {
    const env = newEnv("t-ignored");
    throwsValidation(
      () => env.task({ inputs: z.object({ x: z.number() }), cache: new Cache({ behavior: "auto", ignoredInputs: ["y"] }) }, async function t({ x }) {
        return x;
      }),
      /^Task "t-ignored-[\d-]+\.t": Cache ignoredInputs names "y", which is not an input of the task\. Inputs: x\.$/,
    );
  });

  it("rejects a trigger whose inputs are not inputs of the task", () => {
    const env = newEnv("t-triginputs");
    throwsValidation(
      () => env.task({ inputs: z.object({ at: z.date() }), triggers: Trigger.hourly("when") }, async function t({ at }) {
        return at.toISOString();
      }),
      /^Trigger "hourly" on task "t-triginputs-[\d-]+\.t": input "when" is not an input of the task\. Task inputs: at\.$/,
    );
  });

  it("rejects an unknown option with a did-you-mean suggestion", () => {
    const env = newEnv("t-typo");
    throwsValidation(() => env.task({ timout: "1m" } as never, async function t() {
      return 1;
    }), /^Unknown option "timout" for env\.task\. Did you mean "timeout"\?$/);
  });

  it("rejects environment-level options in env.task", () => {
    const env = newEnv("t-envopt");
    throwsValidation(() => env.task({ resources: new Resources({ cpu: 1 }) } as never, async function t() {
      return 1;
    }), /^Unknown option "resources" for env\.task\./);
  });

  it.each([
    ["taskResolver", "custom task resolvers"],
    ["debuggable", "remote debugging"],
    ["pickle", "pickle serialisation"],
  ])("rejects the flyte-sdk-only option %s", (key, feature) => {
    const env = newEnv("t-sdk");
    throwsValidation(() => env.task({ [key]: true } as never, async function t() {
      return 1;
    }), new RegExp(`^Unknown option "${key}" for env\\.task: ${feature} are a flyte-sdk feature that flyte-ts does not support\\.$`));
  });

  it("rejects a missing function", () => {
    const env = newEnv("t-nofn");
    throwsValidation(() => env.task({ name: "x" } as never), /^Environment "t-nofn-[\d-]+": env\.task needs a task function, got undefined\./);
  });

  it("does not register a task whose declaration failed", () => {
    const env = newEnv("t-noreg");
    expect(() => env.task({ retries: -1 }, async function t() {
      return 1;
    })).toThrow(ValidationError);
    expect(env.tasks.size).toBe(0);
    expect(() => env.task(async function t() {
      return 1;
    })).not.toThrow();
  });
});

describe("TaskTemplate defaults (§2.2)", () => {
  it("fills every field with its documented default", () => {
    const env = newEnv("tdef");
    const fn = async function plain({ x }: { x: number }) {
      return x;
    };
    const t = env.task(fn);
    expect(t.name).toBe(`${env.name}.plain`);
    expect(t.shortName).toBe("plain");
    expect(t.envName).toBe(env.name);
    expect(t.env).toBe(env);
    expect(t.taskType).toBe("javascript");
    expect(t.taskTypeVersion).toBe(0);
    expect(t.image).toBeInstanceOf(Image);
    expect(t.image.uri).toBe(Image.fromDebianBase().uri);
    expect(t.resources).toBeUndefined();
    expect(t.envVars).toBeUndefined();
    expect(t.secrets).toEqual([]);
    expect(t.cache).toBeInstanceOf(Cache);
    expect(t.cache.behavior).toBe("disable");
    expect(t.retries).toBeInstanceOf(RetryStrategy);
    expect(t.retries.count).toBe(0);
    expect(t.retries.backoff).toBeUndefined();
    expect(t.timeout).toBeInstanceOf(Timeout);
    expect([t.timeout.maxRuntime, t.timeout.maxQueuedTime, t.timeout.deadline]).toEqual([undefined, undefined, undefined]);
    expect(t.reusable).toBeUndefined();
    expect(t.podTemplate).toBeUndefined();
    expect(t.interruptible).toBe(false);
    expect(t.queue).toBeUndefined();
    expect(t.report).toBe(false);
    expect(t.maxInlineIoBytes).toBe(10 * 1024 * 1024);
    expect(t.triggers).toEqual([]);
    expect(t.links).toEqual([]);
    expect(t.docs).toBeInstanceOf(Documentation);
    expect(t.docs.description).toBe("");
    expect(t.entrypoint).toBe(false);
    expect(t.interface).toEqual({});
    expect(t.fn).toBe(fn);
    expect(t.pluginConfig).toBeUndefined();
  });

  it("inherits cache, podTemplate, interruptible and queue from the environment", () => {
    const pod = new PodTemplate({ labels: { a: "b" } });
    const env = newEnv("tinherit", { cache: "auto", podTemplate: pod, interruptible: true, queue: "q1" });
    const t = env.task(async function inh() {
      return 1;
    });
    expect(t.cache.behavior).toBe("auto");
    expect(t.podTemplate).toBe(pod);
    expect(t.interruptible).toBe(true);
    expect(t.queue).toBe("q1");
  });

  it("lets task options win over the environment's", () => {
    const env = newEnv("twins", { cache: "auto", podTemplate: "env-pod", interruptible: true, queue: "q1" });
    const t = env.task({ cache: "disable", podTemplate: "task-pod", interruptible: false, queue: "q2" }, async function w() {
      return 1;
    });
    expect([t.cache.behavior, t.podTemplate, t.interruptible, t.queue]).toEqual(["disable", "task-pod", false, "q2"]);
  });

  it("takes resources, envVars, secrets and reusable from the environment", () => {
    const resources = new Resources({ cpu: 2, memory: "1Gi" });
    const reusable = new ReusePolicy({ replicas: 2 });
    const env = newEnv("tenv", { resources, envVars: { A: "1" }, secrets: ["db-password", new Secret({ key: "t", group: "g" })], reusable });
    const t = env.task(async function e() {
      return 1;
    });
    expect(t.resources).toBe(resources);
    expect(t.envVars).toEqual({ A: "1" });
    expect(t.secrets).toHaveLength(2);
    expect(t.secrets.every((s) => s instanceof Secret)).toBe(true);
    expect(t.secrets.map((s) => [s.key, s.group, s.asEnvVar])).toEqual([["db-password", undefined, "DB_PASSWORD"], ["t", "g", "G_T"]]);
    expect(t.reusable).toBe(reusable);
  });

  it("normalises a string environment image to Image.fromBaseImage", () => {
    const env = newEnv("timg", { image: "ghcr.io/acme/app:1" });
    const t = env.task(async function i() {
      return 1;
    });
    expect(t.image).toBeInstanceOf(Image);
    expect(t.image.uri).toBe(Image.fromBaseImage("ghcr.io/acme/app:1").uri);
  });

  it("uses an Image environment image as is", () => {
    const img = Image.fromDebianBase().withNpmPackages("lodash@4");
    const t = newEnv("timgobj", { image: img }).task(async function i() {
      return 1;
    });
    expect(t.image).toBe(img);
  });

  it("normalises task options: retries, timeout, cache, docs, triggers and links", () => {
    const env = newEnv("tnorm");
    const trig = Trigger.hourly();
    const t = env.task(
      { shortName: "Nice", retries: 3, timeout: "5m", cache: "override", docs: "Does things.", triggers: trig, links: link, report: true, entrypoint: true, maxInlineIoBytes: 1024 },
      async function n() {
        return 1;
      },
    );
    expect(t.shortName).toBe("Nice");
    expect(t.retries.count).toBe(3);
    expect(t.timeout.maxRuntime).toBe(300);
    expect(t.cache).toBeInstanceOf(Cache);
    expect(t.cache.behavior).toBe("override");
    expect(t.docs.description).toBe("Does things.");
    expect(t.triggers).toEqual([trig]);
    expect(t.links).toEqual([link]);
    expect([t.report, t.entrypoint, t.maxInlineIoBytes]).toEqual([true, true, 1024]);
  });

  it("keeps RetryStrategy, Timeout, Cache and Documentation objects as given", () => {
    const retries = new RetryStrategy({ count: 2 });
    const timeout = new Timeout({ maxRuntime: 10, deadline: 60 });
    const cache = new Cache({ behavior: "auto", versionOverride: "v1" });
    const docs = new Documentation({ description: "d" });
    const t = newEnv("tobj").task({ retries, timeout, cache, docs }, async function o() {
      return 1;
    });
    expect([t.retries, t.timeout, t.cache, t.docs]).toEqual([retries, timeout, cache, docs]);
  });

  it("accepts a timeout given as an options object", () => {
    const t = newEnv("ttobj").task({ timeout: { maxRuntime: "1m", maxQueuedTime: 30 } }, async function o() {
      return 1;
    });
    expect([t.timeout.maxRuntime, t.timeout.maxQueuedTime]).toEqual([60, 30]);
  });

  it("exposes the schemas on interface and nativeInterface", () => {
    const inputs = z.object({ x: z.number() });
    const output = z.number();
    const t = newEnv("tiface").task({ inputs, output }, async function sq({ x }) {
      return x * x;
    });
    expect(t.interface.inputs).toBe(inputs);
    expect(t.interface.output).toBe(output);
    expect(t.nativeInterface).toBe(t.interface);
  });

  it("truncates a long docs description", () => {
    const t = newEnv("tlongdoc").task({ docs: "z".repeat(400) }, async function o() {
      return 1;
    });
    expect(t.docs.description).toBe(`${"z".repeat(252)}...`);
  });
});

describe("calling a task outside a run (§2.3)", () => {
  it("runs the function directly with the inputs object", async () => {
    const fn = vi.fn(async ({ a, b }: { a: number; b: number }) => a + b);
    const add = newEnv("call").task({ name: "add" }, fn);
    expect(await add({ a: 2, b: 3 })).toBe(5);
    expect(fn).toHaveBeenCalledExactlyOnceWith({ a: 2, b: 3 });
  });

  it("propagates the function's error unchanged", async () => {
    const boom = new TypeError("boom");
    const t = newEnv("callerr").task(async function fails() {
      throw boom;
    });
    await expect(t()).rejects.toBe(boom);
  });

  it("does not retry outside a run", async () => {
    const fn = vi.fn(async () => {
      throw new Error("nope");
    });
    const t = newEnv("noretry").task({ name: "flaky", retries: 3 }, fn);
    await expect(t()).rejects.toThrow("nope");
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("does not cache outside a run", async () => {
    const fn = vi.fn(async ({ x }: { x: number }) => x);
    const t = newEnv("nocache").task({ name: "c", cache: "auto" }, fn);
    await t({ x: 1 });
    await t({ x: 1 });
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it("passes extra keys through when the task has no schema", async () => {
    const t = newEnv("extra").task(async function echo(i: { a: number }) {
      return i;
    });
    expect(await t({ a: 1, b: 2 } as never)).toEqual({ a: 1, b: 2 });
  });

  it("rejects inputs that are not one plain object", async () => {
    const t = newEnv("notobj").task(async function one({ x }: { x: number }) {
      return x;
    });
    const e = await rejectsData(
      t(5 as never),
      /^Task "notobj-[\d-]+\.one": inputs must be one plain object of named inputs, got 5\. Call it as one\(\{ x: 1 \}\)\.$/,
    );
    expect(e.direction).toBe("input");
  });

  it("aio() is an alias of calling the task", async () => {
    const t = newEnv("aio").task(async function twice({ x }: { x: number }) {
      return 2 * x;
    });
    expect(await t.aio({ x: 4 })).toBe(8);
  });

  it("forward() calls the function directly and returns its value as is", () => {
    const t = newEnv("fwd").task(function syncSq({ x }: { x: number }) {
      return x * x;
    });
    expect(t.forward({ x: 3 })).toBe(9);
  });
});

describe("schema validation outside a run (§2.3)", () => {
  const inputs = z.object({ x: z.number(), y: z.number().optional() });

  it("rejects a wrongly typed input with taskName, field, direction and the documented message", async () => {
    const env = newEnv("env");
    const add = env.task({ name: "add", inputs }, async ({ x }) => x);
    const e = await rejectsData(add({ x: "1" } as never), /^Task "env-[\d-]+\.add": input "x" is invalid: Expected number, received string$/);
    expect(e.taskName).toBe(`${env.name}.add`);
    expect(e.field).toBe("x");
    expect(e.direction).toBe("input");
    expect(e.code).toBe("DataValidationError");
    expect(e.issues[0]).toMatchObject({ code: "invalid_type", path: "x", expected: "number", received: "string" });
  });

  it("does not call the function when the inputs are invalid", async () => {
    const fn = vi.fn(async ({ x }: { x: number }) => x);
    const t = newEnv("nocall").task({ name: "t", inputs }, fn);
    await expect(t({ x: null } as never)).rejects.toBeInstanceOf(RuntimeDataValidationError);
    expect(fn).not.toHaveBeenCalled();
  });

  it("reports a missing required input", async () => {
    const t = newEnv("missing").task({ name: "t", inputs }, async ({ x }) => x);
    const e = await rejectsData(t({} as never), /input "x" is invalid: Expected number, received undefined$/);
    expect(e.field).toBe("x");
  });

  it("rejects extra keys when the task has a schema", async () => {
    const t = newEnv("extrakeys").task({ name: "t", inputs }, async ({ x }) => x);
    const e = await rejectsData(t({ x: 1, z: 2 } as never), /^Task "extrakeys-[\d-]+\.t": input "z" is not a declared input\. Declared inputs: x, y\.$/);
    expect(e.field).toBe("z");
    expect(e.direction).toBe("input");
  });

  it("gives the dotted path of a nested field", async () => {
    const items = z.object({ items: z.array(z.object({ price: z.number() })) });
    const t = newEnv("nested").task({ name: "total", inputs: items }, async ({ items: xs }) => xs.length);
    const bad = { items: [{ price: 1 }, { price: 2 }, { price: 3 }, { price: "4" }] };
    const e = await rejectsData(t(bad as never), /^Task "nested-[\d-]+\.total": input "items\.3\.price" is invalid: Expected number, received string$/);
    expect(e.field).toBe("items.3.price");
  });

  it("lists every issue when several inputs are invalid", async () => {
    const t = newEnv("multi").task({ name: "t", inputs: z.object({ a: z.number(), b: z.string() }) }, async ({ a }) => a);
    const e = await rejectsData(t({ a: "x", b: 1 } as never), /input "a" is invalid: Expected number, received string\n {2}✖ .* → at a\n {2}✖ .* → at b/);
    expect(e.issues.map((i) => i.path)).toEqual(["a", "b"]);
  });

  it("passes the parsed (coerced) values to the function", async () => {
    const schema = z.object({ n: z.coerce.number(), name: z.string().trim().toUpperCase(), k: z.number().default(7) });
    const fn = vi.fn(async (i: { n: number; name: string; k: number }) => i);
    const t = newEnv("coerce").task({ name: "t", inputs: schema }, fn);
    expect(await t({ n: "42", name: "  ada " } as never)).toEqual({ n: 42, name: "ADA", k: 7 });
    expect(fn).toHaveBeenCalledWith({ n: 42, name: "ADA", k: 7 });
  });

  it("validates an omitted inputs object against the schema", async () => {
    const t = newEnv("omitted").task({ name: "t", inputs: z.object({ n: z.number().default(3) }) }, async ({ n }) => n);
    // The call signature uses the schema's output type ({ n: number }), so the omission needs a cast (see report).
    const call = t as unknown as () => Promise<number>;
    expect(await call()).toBe(3);
  });

  it("validates the output and reports direction output", async () => {
    const env = newEnv("outv");
    const t = env.task({ name: "t", output: z.number() }, async () => "nope" as unknown as number);
    const e = await rejectsData(t(), /^Task "outv-[\d-]+\.t": output is invalid: Expected number, received string$/);
    expect(e.direction).toBe("output");
    expect(e.taskName).toBe(`${env.name}.t`);
    expect(e.field).toBe("");
  });

  it("names the field of an invalid output object", async () => {
    const t = newEnv("outfield").task({ name: "t", output: z.object({ score: z.number() }) }, async () => ({ score: "high" }) as never);
    const e = await rejectsData(t(), /^Task "outfield-[\d-]+\.t": output "score" is invalid: Expected number, received string$/);
    expect(e.field).toBe("score");
  });

  it("returns the parsed output", async () => {
    const t = newEnv("outparse").task({ name: "t", output: z.object({ n: z.coerce.number() }) }, async () => ({ n: "5" }) as never);
    expect(await t()).toEqual({ n: 5 });
  });

  it("rejects inputs schema issues other than types, with zod's message", async () => {
    const t = newEnv("refine").task({ name: "t", inputs: z.object({ n: z.number().min(10) }) }, async ({ n }) => n);
    const e = await rejectsData(t({ n: 1 }), /^Task "refine-[\d-]+\.t": input "n" is invalid: .*10/);
    expect(e.issues[0]?.code).toBe("too_small");
  });
});

describe("calling a task inside a run (§2.3)", () => {
  const fresh = () => init({ root: mkdtempSync(join(tmpdir(), "task-run-")) });

  it("submits a child action per call and resolves to its output", async () => {
    await fresh();
    const env = newEnv("inrun");
    const double = env.task(async function double({ x }: { x: number }) {
      return 2 * x;
    });
    const main = env.task(async function main() {
      return await Promise.all([double({ x: 1 }), double({ x: 2 })]);
    });
    const r = await run(main);
    expect(await r.outputs()).toEqual([2, 4]);
    expect((await r.details()).root.children.map((c) => [c.taskName, c.phase])).toEqual([
      [double.name, "succeeded"],
      [double.name, "succeeded"],
    ]);
  });

  it("validates a child's inputs against its schema before submitting it", async () => {
    await fresh();
    const env = newEnv("inrunv");
    const sq = env.task({ name: "sq", inputs: z.object({ x: z.number() }) }, async ({ x }) => x * x);
    const main = env.task(async function main() {
      try {
        await sq({ x: "3" } as never);
        return "no error";
      } catch (e) {
        return e instanceof RuntimeDataValidationError ? `${e.taskName} ${e.field} ${e.direction}` : `other: ${String(e)}`;
      }
    });
    const r = await run(main);
    expect(await r.outputs()).toBe(`${env.name}.sq x input`);
    expect((await r.details()).root.children).toEqual([]);
  });

  it("rejects a task call inside trace() with TraceDoesNotAllowNestedTasksError", async () => {
    await fresh();
    const env = newEnv("intrace");
    const child = env.task(async function child() {
      return 1;
    });
    const main = env.task(async function main() {
      const step = trace(async function step() {
        return await child();
      });
      try {
        await step();
        return "no error";
      } catch (e) {
        return e instanceof TraceDoesNotAllowNestedTasksError ? e.message : `other: ${String(e)}`;
      }
    });
    const r = await run(main);
    expect(await r.outputs()).toMatch(
      new RegExp(`^Task "${env.name}\\.child" was called inside a trace\\(\\)\\. Traces cannot start child actions; call child\\.forward\\(\\.\\.\\.\\) to run it inline`),
    );
  });

  it("forward() inside a trace runs the function inline", async () => {
    await fresh();
    const env = newEnv("fwdtrace");
    const child = env.task(async function child({ x }: { x: number }) {
      return x + 1;
    });
    const main = env.task(async function main() {
      return await trace(async function step() {
        return await child.forward({ x: 41 });
      })();
    });
    const r = await run(main);
    expect(await r.outputs()).toBe(42);
    expect((await r.details()).root.children).toEqual([]);
  });
});

describe("plugin hooks (§2.6)", () => {
  it("finds a registered template class by config type and nothing for others", () => {
    class FindConfig {}
    class FindTemplate extends FunctionTaskTemplate {}
    TaskPluginRegistry.register(FindConfig, FindTemplate);
    expect(TaskPluginRegistry.find(FindConfig)).toBe(FindTemplate);
    expect(TaskPluginRegistry.find(class Other {})).toBeUndefined();
  });

  it("rejects registering the same config type twice", () => {
    class TwiceConfig {}
    TaskPluginRegistry.register(TwiceConfig, FunctionTaskTemplate);
    throwsValidation(
      () => TaskPluginRegistry.register(TwiceConfig, FunctionTaskTemplate),
      /^TaskPluginRegistry: a plugin for config type TwiceConfig is already registered\. Register each config type once\.$/,
    );
  });

  it("matches a pluginConfig that is an instance of a subclass of the registered type", () => {
    class BaseConfig {}
    class DerivedConfig extends BaseConfig {}
    class BaseTemplate extends FunctionTaskTemplate {}
    TaskPluginRegistry.register(BaseConfig, BaseTemplate);
    const t = newEnv("derived", { pluginConfig: new DerivedConfig() }).task(async function d() {
      return 1;
    });
    expect(t).toBeInstanceOf(BaseTemplate);
  });

  it("gives templates the documented hook defaults", async () => {
    const t = newEnv("hooks").task(async function h({ x }: { x: number }) {
      return x;
    });
    const sctx = { project: "p", domain: "d", version: "v", inputPath: "i", outputPath: "o", imageCache: {}, rootDir: "/" };
    expect(await t.pre({ x: 1 })).toEqual({});
    expect(await t.post(5)).toBe(5);
    expect(t.config(sctx)).toEqual({});
    expect(t.customConfig(sctx)).toEqual({});
    expect(t.dataLoadingConfig(sctx)).toBeUndefined();
    expect(t.sql(sctx)).toBeUndefined();
    expect(t.containerArgs(sctx)[0]).toBe("a0");
    expect(await t.execute({ x: 9 })).toBe(9);
  });

  it("lets a subclass of TaskTemplate define execute and be called directly", async () => {
    class Echo extends TaskTemplate<{ msg: string }, string> {
      async execute({ msg }: { msg: string }): Promise<string> {
        return `echo: ${msg}`;
      }
    }
    const t = new Echo({ name: "echo", taskType: "echo", taskTypeVersion: 2 });
    expect([t.name, t.taskType, t.taskTypeVersion, t.env]).toEqual(["echo", "echo", 2, undefined]);
    expect(await t({ msg: "hi" })).toBe("echo: hi");
  });

  it("makes detached FunctionTaskTemplates with TaskOptions", () => {
    const t = new FunctionTaskTemplate({ fn: async function detachedFn() {
      return 1;
    }, retries: 2, image: "node:22" });
    expect([t.name, t.retries.count, t.imageRequest, t.env]).toEqual(["detachedFn", 2, "node:22", undefined]);
  });

  it("rejects a FunctionTaskTemplate without a function", () => {
    throwsValidation(() => new FunctionTaskTemplate({ name: "x" } as never), /^FunctionTaskTemplate: fn must be a function, got undefined\.$/);
  });

  it("rejects a detached anonymous function without a name", () => {
    const anonymous = [() => 1][0]!;
    throwsValidation(() => new FunctionTaskTemplate({ fn: anonymous }), /^Task function has no name\./);
  });
});
