/**
 * API.md §1 (environments): options, defaults, validation, the global registry, addDependency,
 * cloneWith and fromTask — all through the public entry points.
 */
import { describe, expect, it } from "vitest";
import {
  Cache, Environment, Image, PodTemplate, Resources, ReusePolicy, Secret, TaskEnvironment, listLoadedEnvironments,
} from "flyte-ts";
import { FunctionTaskTemplate, TaskPluginRegistry } from "flyte-ts/extend";
import { ValidationError } from "flyte-ts/errors";

let seq = 0;
/** A fresh environment name: the registry is process-global. */
const uniq = (base: string) => `${base}-${process.pid}-${++seq}`;

/** Asserts `f` throws a ValidationError whose message matches `re`. */
function throwsValidation(f: () => unknown, re: RegExp): ValidationError {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ValidationError);
  expect((caught as Error).message).toMatch(re);
  return caught as ValidationError;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

class EnvPluginConfig {
  constructor(readonly flavour = "plain") {}
}
class EnvPluginTemplate extends FunctionTaskTemplate {}
TaskPluginRegistry.register(EnvPluginConfig, EnvPluginTemplate);

class ReuseFriendlyConfig {}
class ReuseFriendlyTemplate extends FunctionTaskTemplate {}
TaskPluginRegistry.register(ReuseFriendlyConfig, ReuseFriendlyTemplate, { supportsReusePolicy: true });

class UnregisteredConfig {}

describe("TaskEnvironment defaults", () => {
  it("applies every documented default when only a name is given", () => {
    const env = new TaskEnvironment({ name: uniq("defaults") });
    expect(env).toBeInstanceOf(Environment);
    expect(env.image).toBe("auto");
    expect(env.resources).toBeUndefined();
    expect(env.envVars).toBeUndefined();
    expect(env.secrets).toBeUndefined();
    expect(env.podTemplate).toBeUndefined();
    expect(env.description).toBeUndefined();
    expect(env.interruptible).toBe(false);
    expect(env.dependsOn).toEqual([]);
    expect(env.include).toEqual([]);
    expect(env.cache).toBe("disable");
    expect(env.reusable).toBeUndefined();
    expect(env.pluginConfig).toBeUndefined();
    expect(env.queue).toBeUndefined();
    expect(env.tasks.size).toBe(0);
  });

  it("exposes every option it was given", () => {
    const image = Image.fromBaseImage("node:22-slim");
    const resources = new Resources({ cpu: 2, memory: "4Gi" });
    const pod = new PodTemplate({ labels: { team: "ml" } });
    const dep = new TaskEnvironment({ name: uniq("dep") });
    const cache = new Cache({ behavior: "auto" });
    const reuse = new ReusePolicy({ replicas: 2 });
    const env = new TaskEnvironment({
      name: uniq("full"), image, resources, envVars: { LOG_LEVEL: "debug" }, secrets: ["db-password"], podTemplate: pod,
      description: "all options", interruptible: true, dependsOn: [dep], include: ["data/*.json"], cache, reusable: reuse,
      queue: "gpu-queue",
    });
    expect(env.image).toBe(image);
    expect(env.resources).toBe(resources);
    expect(env.envVars).toEqual({ LOG_LEVEL: "debug" });
    expect(env.secrets).toEqual(["db-password"]);
    expect(env.podTemplate).toBe(pod);
    expect(env.description).toBe("all options");
    expect(env.interruptible).toBe(true);
    expect(env.dependsOn).toEqual([dep]);
    expect(env.include).toEqual(["data/*.json"]);
    expect(env.cache).toBe(cache);
    expect(env.reusable).toBe(reuse);
    expect(env.queue).toBe("gpu-queue");
  });

  it("accepts an image URI string", () => {
    expect(new TaskEnvironment({ name: uniq("img-str"), image: "ghcr.io/acme/app:1" }).image).toBe("ghcr.io/acme/app:1");
  });

  it.each(["auto", "override", "disable"] as const)("accepts cache %s", (cache) => {
    expect(new TaskEnvironment({ name: uniq("cache"), cache }).cache).toBe(cache);
  });

  it("accepts secrets as a string, a Secret or an array of both", () => {
    const s = new Secret({ key: "token", group: "github" });
    expect(new TaskEnvironment({ name: uniq("sec"), secrets: "k" }).secrets).toBe("k");
    expect(new TaskEnvironment({ name: uniq("sec"), secrets: s }).secrets).toBe(s);
    expect(new TaskEnvironment({ name: uniq("sec"), secrets: ["k", s] }).secrets).toEqual(["k", s]);
  });

  it("accepts a PodTemplate name as podTemplate", () => {
    expect(new TaskEnvironment({ name: uniq("pod"), podTemplate: "gpu-template" }).podTemplate).toBe("gpu-template");
  });

  it("keeps a description of exactly 255 characters", () => {
    const d = "x".repeat(255);
    expect(new TaskEnvironment({ name: uniq("desc"), description: d }).description).toBe(d);
  });

  it("truncates a description longer than 255 characters to 252 + ...", () => {
    const env = new TaskEnvironment({ name: uniq("desc"), description: "y".repeat(300) });
    expect(env.description).toBe(`${"y".repeat(252)}...`);
    expect(env.description).toHaveLength(255);
  });

  it("freezes include and copies envVars so later mutation of the options has no effect", () => {
    const envVars = { A: "1" };
    const include = ["a.json"];
    const env = new TaskEnvironment({ name: uniq("copy"), envVars, include });
    envVars.A = "2";
    include.push("b.json");
    expect(env.envVars).toEqual({ A: "1" });
    expect(env.include).toEqual(["a.json"]);
    expect(Object.isFrozen(env.include)).toBe(true);
  });
});

describe("TaskEnvironment names", () => {
  it.each(["data-processing", "data_processing", "etl2", "a-1_b"])("accepts %s", (name) => {
    const n = `${name}-${++seq}`;
    expect(new TaskEnvironment({ name: n }).name).toBe(n);
  });

  it.each(["Data", "with space", "-lead", "trail-", "a--b", "a.b", ""])("rejects %j", (name) => {
    throwsValidation(
      () => new TaskEnvironment({ name }),
      new RegExp(`^TaskEnvironment: name ${escapeRe(JSON.stringify(name))} is invalid\\. Use lowercase letters and digits in snake_case or kebab-case, e\\.g\\. "data-processing"\\.$`),
    );
  });

  it("rejects a missing name", () => {
    const e = throwsValidation(() => new TaskEnvironment({} as never), /^TaskEnvironment: name undefined is invalid/);
    expect(e.field).toBe("name");
  });
});

describe("Environment validation (§1.1)", () => {
  it("rejects an image that is neither a string nor an Image", () => {
    throwsValidation(
      () => new TaskEnvironment({ name: uniq("bad-image"), image: 42 as never }),
      /^TaskEnvironment "bad-image-\d+-\d+": image must be an Image, an image URI string or "auto", got 42\.$/,
    );
  });

  it("rejects resources that are not a Resources", () => {
    throwsValidation(
      () => new TaskEnvironment({ name: uniq("bad-res"), resources: { cpu: 2 } as never }),
      /TaskEnvironment "bad-res-[\d-]+": resources must be a Resources, got \{"cpu":2\}\. Use new Resources\(\{ cpu: 2, memory: "4Gi" \}\)\./,
    );
  });

  it("rejects secrets that are not strings or Secrets", () => {
    throwsValidation(
      () => new TaskEnvironment({ name: uniq("bad-sec"), secrets: [{ key: "k" }] as never }),
      /TaskEnvironment "bad-sec-[\d-]+": secrets must be a string, a Secret or an array of them, got \[\{"key":"k"\}\]\./,
    );
    throwsValidation(() => new TaskEnvironment({ name: uniq("bad-sec"), secrets: 7 as never }), /secrets must be a string, a Secret or an array of them, got 7/);
  });

  it("rejects envVars that are not an object of strings", () => {
    throwsValidation(
      () => new TaskEnvironment({ name: uniq("bad-env"), envVars: { PORT: 8080 } as never }),
      /TaskEnvironment "bad-env-[\d-]+": envVars must be an object of string values, got \{"PORT":8080\}\. Example: \{ LOG_LEVEL: "debug" \}\./,
    );
    throwsValidation(() => new TaskEnvironment({ name: uniq("bad-env"), envVars: ["A=1"] as never }), /envVars must be an object of string values, got \["A=1"\]/);
  });

  it("rejects a podTemplate that is neither a name nor a PodTemplate", () => {
    throwsValidation(
      () => new TaskEnvironment({ name: uniq("bad-pod"), podTemplate: { podSpec: {} } as never }),
      /TaskEnvironment "bad-pod-[\d-]+": podTemplate must be a PodTemplate name or a PodTemplate, got \{"podSpec":\{\}\}\./,
    );
  });

  it("rejects a dependsOn entry that is not an Environment", () => {
    throwsValidation(
      () => new TaskEnvironment({ name: uniq("bad-dep"), dependsOn: ["other-env"] as never }),
      /TaskEnvironment "bad-dep-[\d-]+": dependsOn must be an array of environments, got \["other-env"\]\./,
    );
  });

  it("rejects include given as a bare string", () => {
    throwsValidation(
      () => new TaskEnvironment({ name: uniq("bad-inc"), include: "data/*.json" as never }),
      /TaskEnvironment "bad-inc-[\d-]+": include must be an array of file paths or globs, got "data\/\*\.json"\. Example: include: \["data\/\*\.json"\]\./,
    );
  });

  it("rejects include with non-string entries", () => {
    throwsValidation(() => new TaskEnvironment({ name: uniq("bad-inc"), include: ["a.json", 3] as never }), /include must be an array of file paths or globs, got \["a.json",3\]/);
  });

  it("rejects a non-boolean interruptible", () => {
    throwsValidation(() => new TaskEnvironment({ name: uniq("bad-int"), interruptible: "yes" as never }), /interruptible must be true or false, got "yes"/);
  });

  it("rejects a non-string description", () => {
    throwsValidation(() => new TaskEnvironment({ name: uniq("bad-desc"), description: 5 as never }), /description must be a string, got 5/);
  });

  it("records the offending option in ValidationError.field", () => {
    expect(throwsValidation(() => new TaskEnvironment({ name: uniq("field"), image: 1 as never }), /image/).field).toBe("image");
  });
});

describe("TaskEnvironment validation (§1.2)", () => {
  it("rejects a cache that is not a CacheRequest", () => {
    throwsValidation(
      () => new TaskEnvironment({ name: uniq("bad-cache"), cache: "on" as never }),
      /^TaskEnvironment "bad-cache-[\d-]+": cache must be "auto", "override", "disable" or a Cache, got "on"\.$/,
    );
  });

  it("rejects a reusable that is not a ReusePolicy", () => {
    throwsValidation(
      () => new TaskEnvironment({ name: uniq("bad-reuse"), reusable: { replicas: 2 } as never }),
      /TaskEnvironment "bad-reuse-[\d-]+": reusable must be a ReusePolicy, got \{"replicas":2\}\. Use new ReusePolicy\(\{ replicas: 2 \}\)\./,
    );
  });

  it("rejects a non-string queue", () => {
    throwsValidation(() => new TaskEnvironment({ name: uniq("bad-queue"), queue: 3 as never }), /TaskEnvironment "bad-queue-[\d-]+": queue must be a string, got 3\./);
  });

  it("rejects pluginConfig together with reusable", () => {
    throwsValidation(
      () => new TaskEnvironment({ name: uniq("plug-reuse"), reusable: new ReusePolicy({ replicas: 2 }), pluginConfig: new EnvPluginConfig() }),
      /^Cannot set pluginConfig when environment is reusable: environment "plug-reuse-[\d-]+" has both\. Remove reusable or pluginConfig\.$/,
    );
  });

  it("allows pluginConfig with reusable when the plugin declares supportsReusePolicy", () => {
    const cfg = new ReuseFriendlyConfig();
    const env = new TaskEnvironment({ name: uniq("plug-reuse-ok"), reusable: new ReusePolicy({ replicas: 2 }), pluginConfig: cfg });
    expect(env.pluginConfig).toBe(cfg);
    expect(env.reusable).toBeInstanceOf(ReusePolicy);
  });

  it("rejects a pluginConfig with no registered plugin", () => {
    throwsValidation(
      () => new TaskEnvironment({ name: uniq("plug-none"), pluginConfig: new UnregisteredConfig() }),
      /No task plugin found for config type UnregisteredConfig; register one with TaskPluginRegistry\.register\(\)\./,
    );
  });

  it("rejects an unknown option with a did-you-mean suggestion", () => {
    const e = throwsValidation(
      () => new TaskEnvironment({ name: uniq("typo"), envvars: { A: "1" } } as never),
      /^Unknown option "envvars" for TaskEnvironment\. Did you mean "envVars"\?$/,
    );
    expect(e.field).toBe("envvars");
  });

  it("rejects flyte-sdk snake_case keys with the camelCase suggestion", () => {
    throwsValidation(() => new TaskEnvironment({ name: uniq("snake"), pod_template: "x" } as never), /^Unknown option "pod_template" for TaskEnvironment\. Did you mean "podTemplate"\?$/);
  });

  it("lists the allowed options when nothing is close to an unknown key", () => {
    throwsValidation(
      () => new TaskEnvironment({ name: uniq("far"), zzzzzzzzzzzz: 1 } as never),
      /^Unknown option "zzzzzzzzzzzz" for TaskEnvironment\. Allowed options: name, image, resources, envVars, secrets, podTemplate, description, interruptible, dependsOn, include, cache, reusable, pluginConfig, queue\.$/,
    );
  });

  it.each([
    ["taskResolver", "custom task resolvers"],
    ["producesArtifacts", "artifacts"],
    ["debuggable", "remote debugging"],
  ])("rejects the flyte-sdk-only key %s naming the unsupported feature", (key, feature) => {
    throwsValidation(
      () => new TaskEnvironment({ name: uniq("sdk-only"), [key]: true } as never),
      new RegExp(`^Unknown option "${key}" for TaskEnvironment: ${feature} are a flyte-sdk feature that flyte-ts does not support\\.$`),
    );
  });

  it("rejects a non-object options argument", () => {
    throwsValidation(() => new TaskEnvironment("etl" as never), /^TaskEnvironment: expected an options object, got "etl"\./);
  });
});

describe("listLoadedEnvironments", () => {
  it("lists environments in creation order, clones included", () => {
    const before = listLoadedEnvironments().length;
    const a = new TaskEnvironment({ name: uniq("order-a") });
    const b = new TaskEnvironment({ name: uniq("order-b") });
    const c = a.cloneWith({ name: uniq("order-c") });
    const added = listLoadedEnvironments().slice(before);
    expect(added).toEqual([a, b, c]);
  });

  it("does not register an environment whose construction failed", () => {
    const before = listLoadedEnvironments().length;
    expect(() => new TaskEnvironment({ name: uniq("never"), cache: "bad" as never })).toThrow(ValidationError);
    expect(listLoadedEnvironments()).toHaveLength(before);
  });

  it("returns a copy that callers cannot use to change the registry", () => {
    const env = new TaskEnvironment({ name: uniq("copy-reg") });
    const list = listLoadedEnvironments();
    list.length = 0;
    expect(listLoadedEnvironments()).toContain(env);
  });

  it("keeps environments that share a name", () => {
    const name = uniq("same-name");
    const a = new TaskEnvironment({ name });
    const b = new TaskEnvironment({ name });
    const all = listLoadedEnvironments();
    expect(all).toContain(a);
    expect(all).toContain(b);
  });
});

describe("addDependency", () => {
  it("appends new dependencies and returns the environment", () => {
    const env = new TaskEnvironment({ name: uniq("deps") });
    const a = new TaskEnvironment({ name: uniq("dep-a") });
    const b = new TaskEnvironment({ name: uniq("dep-b") });
    expect(env.addDependency(a, b)).toBe(env);
    expect(env.dependsOn).toEqual([a, b]);
  });

  it("skips dependencies that are already present", () => {
    const a = new TaskEnvironment({ name: uniq("dup-a") });
    const env = new TaskEnvironment({ name: uniq("dup"), dependsOn: [a] });
    env.addDependency(a, a);
    expect(env.dependsOn).toEqual([a]);
  });

  it("rejects the environment itself", () => {
    const env = new TaskEnvironment({ name: uniq("self") });
    throwsValidation(() => env.addDependency(env), /^Cannot add self as a dependency: environment "self-[\d-]+" cannot depend on itself\.$/);
    expect(env.dependsOn).toEqual([]);
  });

  it("rejects another environment with the same name", () => {
    const name = uniq("twin");
    const env = new TaskEnvironment({ name });
    throwsValidation(() => env.addDependency(new TaskEnvironment({ name })), /^Cannot add self as a dependency/);
  });

  it("rejects a value that is not an Environment", () => {
    const env = new TaskEnvironment({ name: uniq("not-env") });
    throwsValidation(() => env.addDependency("other" as never), /^Environment "not-env-[\d-]+": addDependency expects environments, got "other"\.$/);
  });
});

describe("cloneWith", () => {
  it("inherits every option that is not passed", () => {
    const dep = new TaskEnvironment({ name: uniq("clone-dep") });
    const resources = new Resources({ cpu: 1 });
    const src = new TaskEnvironment({
      name: uniq("clone-src"), image: "node:22", resources, envVars: { A: "1" }, secrets: "s", podTemplate: "pt",
      description: "d", interruptible: true, dependsOn: [dep], include: ["x.json"], cache: "auto", queue: "q",
    });
    const c = src.cloneWith({ name: uniq("clone") });
    expect(c).toBeInstanceOf(TaskEnvironment);
    expect([c.image, c.resources, c.envVars, c.secrets, c.podTemplate, c.description, c.interruptible, c.dependsOn, c.include, c.cache, c.queue])
      .toEqual(["node:22", resources, { A: "1" }, "s", "pt", "d", true, [dep], ["x.json"], "auto", "q"]);
  });

  it("replaces the options that are passed", () => {
    const src = new TaskEnvironment({ name: uniq("clone-src"), cache: "disable", resources: new Resources({ cpu: 1 }) });
    const gpu = new Resources({ gpu: "T4:1" });
    const c = src.cloneWith({ name: uniq("clone-gpu"), resources: gpu, cache: "auto" });
    expect(c.resources).toBe(gpu);
    expect(c.cache).toBe("auto");
    expect(src.cache).toBe("disable");
  });

  it("keeps reusable when the key is absent", () => {
    const reuse = new ReusePolicy({ replicas: 2 });
    const src = new TaskEnvironment({ name: uniq("reuse-src"), reusable: reuse });
    expect(src.cloneWith({ name: uniq("reuse-kept") }).reusable).toBe(reuse);
  });

  it("clears reusable when reusable: undefined is passed explicitly", () => {
    const src = new TaskEnvironment({ name: uniq("reuse-src"), reusable: new ReusePolicy({ replicas: 2 }) });
    expect(src.cloneWith({ name: uniq("reuse-cleared"), reusable: undefined }).reusable).toBeUndefined();
    expect(src.reusable).toBeInstanceOf(ReusePolicy);
  });

  it("replaces reusable with a new policy", () => {
    const src = new TaskEnvironment({ name: uniq("reuse-src"), reusable: new ReusePolicy({ replicas: 2 }) });
    const p = new ReusePolicy({ replicas: 3 });
    expect(src.cloneWith({ name: uniq("reuse-new"), reusable: p }).reusable).toBe(p);
  });

  it("copies dependsOn instead of sharing it", () => {
    const a = new TaskEnvironment({ name: uniq("share-a") });
    const b = new TaskEnvironment({ name: uniq("share-b") });
    const src = new TaskEnvironment({ name: uniq("share-src"), dependsOn: [a] });
    const c = src.cloneWith({ name: uniq("share-clone") });
    c.addDependency(b);
    expect(src.dependsOn).toEqual([a]);
    expect(c.dependsOn).toEqual([a, b]);
  });

  it("does not copy tasks", () => {
    const src = new TaskEnvironment({ name: uniq("tasks-src") });
    src.task(async function t1() {
      return 1;
    });
    expect(src.tasks.size).toBe(1);
    expect(src.cloneWith({ name: uniq("tasks-clone") }).tasks.size).toBe(0);
  });

  it("requires a name", () => {
    const src = new TaskEnvironment({ name: uniq("noname") });
    throwsValidation(() => src.cloneWith({} as never), /^TaskEnvironment\.cloneWith: name is required, got undefined\. Pass cloneWith\(\{ name: "new-name", \.\.\. \}\)\.$/);
  });

  it("validates the new name", () => {
    const src = new TaskEnvironment({ name: uniq("badname-src") });
    throwsValidation(() => src.cloneWith({ name: "Bad Name" }), /name "Bad Name" is invalid/);
  });

  it("rejects unknown keys", () => {
    const src = new TaskEnvironment({ name: uniq("clone-typo") });
    throwsValidation(() => src.cloneWith({ name: uniq("x"), queu: "q" } as never), /^Unknown option "queu" for TaskEnvironment\.cloneWith\. Did you mean "queue"\?$/);
  });

  it("validates overridden values like the constructor does", () => {
    const src = new TaskEnvironment({ name: uniq("clone-val") });
    throwsValidation(() => src.cloneWith({ name: uniq("x"), cache: "sometimes" as never }), /cache must be "auto", "override", "disable" or a Cache, got "sometimes"/);
  });
});

describe("TaskEnvironment.fromTask", () => {
  const detached = (name: string, image?: string | Image) =>
    new FunctionTaskTemplate({ name, fn: async ({ x }: { x: number }) => x, ...(image !== undefined ? { image } : {}) });

  it("makes detached tasks that have no environment and a bare name", () => {
    const t = detached("solo");
    expect(t.env).toBeUndefined();
    expect(t.envName).toBeUndefined();
    expect(t.name).toBe("solo");
  });

  it("re-parents the tasks into the new environment", () => {
    const a = detached("a");
    const b = detached("b");
    const name = uniq("from-task");
    const env = TaskEnvironment.fromTask(name, [a, b]);
    expect(env.name).toBe(name);
    expect([a.env, b.env]).toEqual([env, env]);
    expect([a.name, b.name]).toEqual([`${name}.a`, `${name}.b`]);
    expect(a.envName).toBe(name);
    expect([...env.tasks.keys()]).toEqual([`${name}.a`, `${name}.b`]);
    expect(env.tasks.get(`${name}.a`)).toBe(a);
    expect(listLoadedEnvironments()).toContain(env);
  });

  it('uses "auto" when no task sets an image', () => {
    expect(TaskEnvironment.fromTask(uniq("auto-img"), [detached("a")]).image).toBe("auto");
  });

  it("uses the tasks' common image, ignoring tasks without one", () => {
    const img = Image.fromBaseImage("node:22");
    const env = TaskEnvironment.fromTask(uniq("common-img"), [detached("a", img), detached("b"), detached("c", img)]);
    expect(env.image).toBe(img);
  });

  it("compares string images by value", () => {
    const env = TaskEnvironment.fromTask(uniq("str-img"), [detached("a", "node:22"), detached("b", "node:22")]);
    expect(env.image).toBe("node:22");
  });

  it("rejects tasks with different images", () => {
    throwsValidation(
      () => TaskEnvironment.fromTask(uniq("diff-img"), [detached("a", "node:22"), detached("b", "node:20")]),
      /^Tasks must have the same image to share an environment: task "b" uses "node:20", another uses "node:22"\.$/,
    );
  });

  it("compares Image objects by reference", () => {
    throwsValidation(
      () => TaskEnvironment.fromTask(uniq("ref-img"), [detached("a", Image.fromBaseImage("node:22")), detached("b", Image.fromBaseImage("node:22"))]),
      /^Tasks must have the same image/,
    );
  });

  it("rejects a task that already belongs to an environment", () => {
    const owner = new TaskEnvironment({ name: uniq("owner") });
    const t = owner.task(async function owned() {
      return 1;
    });
    throwsValidation(
      () => TaskEnvironment.fromTask(uniq("steal"), [t]),
      /^Tasks cannot be assigned to multiple environments: task "owner-[\d-]+\.owned" already belongs to environment "owner-[\d-]+"\.$/,
    );
  });

  it("rejects re-parenting a task twice", () => {
    const t = detached("twice");
    TaskEnvironment.fromTask(uniq("first"), [t]);
    throwsValidation(() => TaskEnvironment.fromTask(uniq("second"), [t]), /^Tasks cannot be assigned to multiple environments/);
  });

  it("passes dependsOn to the new environment", () => {
    const dep = new TaskEnvironment({ name: uniq("ft-dep") });
    expect(TaskEnvironment.fromTask(uniq("ft"), [detached("a")], { dependsOn: [dep] }).dependsOn).toEqual([dep]);
  });

  it("rejects entries that are not task templates", () => {
    throwsValidation(() => TaskEnvironment.fromTask(uniq("ft-bad"), [(() => 1) as never]), /^TaskEnvironment\.fromTask: tasks must be an array of task templates/);
  });

  it("rejects unknown options", () => {
    throwsValidation(() => TaskEnvironment.fromTask(uniq("ft-opt"), [], { dependson: [] } as never), /^Unknown option "dependson" for TaskEnvironment\.fromTask\. Did you mean "dependsOn"\?$/);
  });

  it("runs a re-parented task directly outside a run", async () => {
    const t = detached("call");
    TaskEnvironment.fromTask(uniq("ft-call"), [t]);
    expect(await t({ x: 7 })).toBe(7);
  });
});
