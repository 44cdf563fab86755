import { describe, expect, it } from "vitest";
import { listLoadedEnvironments, ReusePolicy, Resources, TaskEnvironment, GPU } from "flyte-ts";
import { ValidationError } from "flyte-ts/errors";
import { ClusterFailurePolicy, ClusteredTaskEnvironment, ClusteredTaskTemplate, TorchRun } from "flyte-ts/clustered";

const bad = (f: () => unknown, re: RegExp) => {
  expect(f).toThrow(ValidationError);
  expect(f).toThrow(re);
};

let seq = 0;
const env = (o: Record<string, unknown> = {}) =>
  new ClusteredTaskEnvironment({ name: `def-${++seq}`, replicas: 4, nprocPerNode: 8, ...o } as ConstructorParameters<typeof ClusteredTaskEnvironment>[0]);

describe("TorchRun and ClusterFailurePolicy", () => {
  it("default, normalise, freeze and are callable without new", () => {
    const t = new TorchRun();
    expect([t.rdzvBackend, t.maxRestarts]).toEqual(["static", 0]);
    expect(Object.isFrozen(t)).toBe(true);
    const t2 = TorchRun({ rdzvBackend: "c10d", maxRestarts: 3 });
    expect(t2).toBeInstanceOf(TorchRun);
    expect([t2.rdzvBackend, t2.maxRestarts]).toEqual(["c10d", 3]);
    const p = ClusterFailurePolicy();
    expect([p.maxRestarts, p.restartOnHostMaintenance]).toEqual([0, false]);
    expect(Object.isFrozen(p)).toBe(true);
  });
  it("reject bad values and unknown keys", () => {
    bad(() => new TorchRun({ rdzvBackend: "etcd" as "static" }), /TorchRun: rdzvBackend must be one of static, c10d, got "etcd"/);
    bad(() => new TorchRun({ maxRestarts: -1 }), /TorchRun: maxRestarts must be an integer >= 0, got -1/);
    bad(() => new TorchRun({ maxRestarts: 1.5 }), /maxRestarts must be an integer >= 0/);
    bad(() => new ClusterFailurePolicy({ maxRestarts: "2" as unknown as number }), /ClusterFailurePolicy: maxRestarts must be an integer >= 0, got "2"/);
    bad(() => new ClusterFailurePolicy({ restartOnHostMaintenance: 1 as unknown as boolean }), /restartOnHostMaintenance must be true or false/);
    bad(() => new TorchRun({ max_restarts: 1 } as never), /Unknown option "max_restarts" for TorchRun/);
  });
});

describe("ClusteredTaskEnvironment definition", () => {
  it("has every TaskEnvironment field plus the cluster fields, with defaults", () => {
    const e = env();
    expect(e).toBeInstanceOf(TaskEnvironment);
    expect([e.replicas, e.nprocPerNode, e.interconnect, e.ttlSecondsAfterFinished, e.worldSize]).toEqual([4, 8, "tcp", undefined, 32]);
    expect(e.runtime).toBeInstanceOf(TorchRun);
    expect(e.failurePolicy).toBeInstanceOf(ClusterFailurePolicy);
    expect([e.image, e.cache, e.interruptible, e.reusable]).toEqual(["auto", "disable", false, undefined]);
    expect(listLoadedEnvironments()).toContain(e);
    const full = env({ envVars: { A: "1" }, cache: "auto", queue: "gpu", description: "d", interruptible: true, include: ["x.json"] });
    expect([full.envVars, full.cache, full.queue, full.description, full.interruptible, full.include]).toEqual([{ A: "1" }, "auto", "gpu", "d", true, ["x.json"]]);
  });

  it("validates replicas, nprocPerNode, GPUs, runtime, interconnect, failure policy, TTL and reuse", () => {
    bad(() => env({ replicas: 0 }), /replicas must be >= 1, got 0/);
    bad(() => env({ replicas: 1.5 }), /replicas must be >= 1, got 1.5/);
    bad(() => env({ replicas: undefined }), /replicas must be >= 1, got undefined/);
    bad(() => env({ nprocPerNode: 0 }), /nprocPerNode must be >= 1, got 0/);
    bad(() => env({ nprocPerNode: "2" }), /nprocPerNode must be >= 1, got "2"/);
    bad(() => env({ resources: new Resources({ gpu: "H100:4" }) }), /resources\.gpu \(4\) must be >= nprocPerNode \(8\)/);
    bad(() => env({ resources: new Resources({ gpu: 2 }), nprocPerNode: 3 }), /resources\.gpu \(2\) must be >= nprocPerNode \(3\)/);
    expect(env({ resources: new Resources({ gpu: GPU({ device: "A100", quantity: 8 }) }) }).nprocPerNode).toBe(8);
    expect(env({ resources: new Resources({ cpu: 2 }) }).resources?.cpu).toBe(2);
    bad(() => env({ runtime: { rdzvBackend: "static" } }), /unsupported runtime type: Object/);
    bad(() => env({ interconnect: "infiniband" }), /interconnect must be one of tcp, got "infiniband"/);
    bad(() => env({ failurePolicy: { maxRestarts: 1 } }), /failurePolicy must be a ClusterFailurePolicy/);
    bad(() => env({ ttlSecondsAfterFinished: -5 }), /ttlSecondsAfterFinished must be an integer >= 0/);
    bad(() => env({ ttlSecondsAfterFinished: 1.5 }), /ttlSecondsAfterFinished must be an integer >= 0/);
    bad(() => env({ reusable: new ReusePolicy() }), /ClusteredTaskEnvironment does not support reusable environments/);
    bad(() => env({ replica: 2 }), /Unknown option "replica" for ClusteredTaskEnvironment\. Did you mean "replicas"\?/);
    bad(() => env({ name: "Bad Name" }), /name/);
  });

  it("does not register an environment it rejects", () => {
    const before = listLoadedEnvironments().length;
    expect(() => new ClusteredTaskEnvironment({ name: "def-rejected", replicas: 0, nprocPerNode: 1 })).toThrow(ValidationError);
    expect(listLoadedEnvironments().length).toBe(before);
  });

  it("declares ClusteredTaskTemplates of type clustered-task v1", () => {
    const e = env();
    const t = e.task(async function train({ epochs }: { epochs: number }) {
      return epochs;
    });
    expect(t).toBeInstanceOf(ClusteredTaskTemplate);
    expect([t.name, t.taskType, t.taskTypeVersion]).toEqual([`${e.name}.train`, "clustered-task", 1]);
    expect(e.tasks.get(t.name)).toBe(t);
    expect(t.containerArgs({})).toEqual(["clustered", "--task", t.name]);
    expect(t.customConfig({})).toEqual(e.toCustomDict());
    bad(() => t.override({ reusable: new ReusePolicy() }), /clustered tasks do not support reusable/);
    bad(() => t.override({ resources: new Resources({ gpu: 2 }) }), /resources\.gpu \(2\) must be >= nprocPerNode \(8\)/);
    const o = t.override({ resources: new Resources({ cpu: 1 }), retries: 2 });
    expect(o).toBeInstanceOf(ClusteredTaskTemplate);
    expect([o.name, o.retries.count]).toEqual([t.name, 2]);
  });

  it("cloneWith keeps cluster fields unless overridden and validates them", () => {
    const e = env({ runtime: new TorchRun({ rdzvBackend: "c10d" }), ttlSecondsAfterFinished: 60, envVars: { A: "1" } });
    const c = e.cloneWith({ name: `${e.name}-clone`, replicas: 2 });
    expect(c).toBeInstanceOf(ClusteredTaskEnvironment);
    expect([c.replicas, c.nprocPerNode, c.runtime.rdzvBackend, c.ttlSecondsAfterFinished, c.envVars]).toEqual([2, 8, "c10d", 60, { A: "1" }]);
    expect(c.tasks.size).toBe(0);
    bad(() => e.cloneWith({ name: `${e.name}-bad`, nprocPerNode: 0 }), /nprocPerNode must be >= 1/);
    bad(() => e.cloneWith({ name: `${e.name}-bad2`, reusable: new ReusePolicy() }), /does not support reusable/);
    bad(() => e.cloneWith({ replicas: 2 } as never), /cloneWith: name is required/);
  });
});

describe("toCustomDict (ClusteredTaskSpec wire dict)", () => {
  const base = { replicas: 4, nprocPerNode: 8, runtime: { torchrun: { rdzvBackend: "STATIC", maxRestarts: 0 } }, interconnect: "TCP", failurePolicy: { maxRestarts: 0, restartOnHostMaintenance: false } };
  it("defaults: every field explicit, no TTL", () => {
    expect(env().toCustomDict()).toStrictEqual(base);
  });
  it("replicas", () => expect(env({ replicas: 2 }).toCustomDict()).toStrictEqual({ ...base, replicas: 2 }));
  it("nprocPerNode", () => expect(env({ nprocPerNode: 1 }).toCustomDict()).toStrictEqual({ ...base, nprocPerNode: 1 }));
  it("runtime.torchrun.rdzvBackend", () =>
    expect(env({ runtime: new TorchRun({ rdzvBackend: "c10d" }) }).toCustomDict()).toStrictEqual({ ...base, runtime: { torchrun: { rdzvBackend: "C10D", maxRestarts: 0 } } }));
  it("runtime.torchrun.maxRestarts", () =>
    expect(env({ runtime: new TorchRun({ maxRestarts: 3 }) }).toCustomDict()).toStrictEqual({ ...base, runtime: { torchrun: { rdzvBackend: "STATIC", maxRestarts: 3 } } }));
  it("interconnect", () => expect(env({ interconnect: "tcp" }).toCustomDict().interconnect).toBe("TCP"));
  it("failurePolicy.maxRestarts", () =>
    expect(env({ failurePolicy: new ClusterFailurePolicy({ maxRestarts: 2 }) }).toCustomDict()).toStrictEqual({ ...base, failurePolicy: { maxRestarts: 2, restartOnHostMaintenance: false } }));
  it("failurePolicy.restartOnHostMaintenance", () =>
    expect(env({ failurePolicy: new ClusterFailurePolicy({ restartOnHostMaintenance: true }) }).toCustomDict()).toStrictEqual({ ...base, failurePolicy: { maxRestarts: 0, restartOnHostMaintenance: true } }));
  it("ttlSecondsAfterFinished (only when set, 0 included)", () => {
    expect(env({ ttlSecondsAfterFinished: 3600 }).toCustomDict()).toStrictEqual({ ...base, ttlSecondsAfterFinished: 3600 });
    expect(env({ ttlSecondsAfterFinished: 0 }).toCustomDict()).toStrictEqual({ ...base, ttlSecondsAfterFinished: 0 });
  });
  it("the API.md example, key order included", () => {
    const d = env({ ttlSecondsAfterFinished: 3600 }).toCustomDict();
    expect(JSON.stringify(d)).toBe(
      '{"replicas":4,"nprocPerNode":8,"runtime":{"torchrun":{"rdzvBackend":"STATIC","maxRestarts":0}},"interconnect":"TCP","failurePolicy":{"maxRestarts":0,"restartOnHostMaintenance":false},"ttlSecondsAfterFinished":3600}',
    );
  });
});
