import { describe, it, expect } from "vitest";
import { ValidationError } from "../errors.ts";
import { AMD_GPU, Device, GPU, HABANA_GAUDI, Neuron, Resources, TPU, memoryLimitBytes, toK8sResources, type Accelerator } from "./resources.ts";

const bad = (f: () => unknown, re: RegExp) => {
  expect(f).toThrow(ValidationError);
  expect(f).toThrow(re);
};

describe("Resources defaults and normalisation", () => {
  it("leaves every field unset by default and is frozen", () => {
    const r = new Resources();
    expect([r.cpu, r.memory, r.gpu, r.disk, r.shm]).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(Object.isFrozen(r)).toBe(true);
    expect(r.getDevice()).toBeUndefined();
    expect(r.getSharedMemory()).toBeUndefined();
  });

  it("is callable without new and keeps instanceof", () => {
    const r = Resources({ cpu: 2 });
    expect(r).toBeInstanceOf(Resources);
    expect(r.cpu).toBe(2);
  });

  it("accepts cpu numbers, strings and request/limit pairs", () => {
    expect(new Resources({ cpu: 0.5 }).cpu).toBe(0.5);
    expect(new Resources({ cpu: "500m" }).cpu).toBe("500m");
    expect(new Resources({ cpu: "1.5" }).cpu).toBe("1.5");
    const r = new Resources({ cpu: [1, "4"], memory: ["2Gi", "8Gi"], disk: "10Gi", shm: "1Gi" });
    expect(r.cpu).toEqual([1, "4"]);
    expect(Object.isFrozen(r.cpu)).toBe(true);
    expect(r.memory).toEqual(["2Gi", "8Gi"]);
    expect(r.getSharedMemory()).toBe("1Gi");
  });

  it("maps shm \"auto\" to the empty string", () => {
    expect(new Resources({ shm: "auto" }).getSharedMemory()).toBe("");
  });

  it("accepts every Kubernetes quantity suffix", () => {
    for (const m of ["1", "1.5", "1k", "1Ki", "1M", "1Mi", "1G", "1Gi", "1T", "1Ti", "1P", "1Pi", "1E", "1Ei"]) {
      expect(new Resources({ memory: m }).memory).toBe(m);
    }
  });
});

describe("Resources validation", () => {
  it("rejects unknown options with a suggestion", () => bad(() => new Resources({ memroy: "1Gi" } as never), /Unknown option "memroy" for Resources. Did you mean "memory"\?/));
  it("rejects a pair of the wrong length", () => bad(() => new Resources({ cpu: [1, 2, 3] as never }), /Resources: cpu must be a value or a \[request, limit\] pair, got \[1,2,3\]/));
  it("rejects negative numeric cpu", () => bad(() => new Resources({ cpu: -1 }), /Resources: cpu must be >= 0, got -1/));
  it("rejects a cpu string that is not a quantity", () => bad(() => new Resources({ cpu: "2 cores" }), /Resources: cpu "2 cores" is not a CPU quantity/));
  it("rejects memory that is not a Kubernetes quantity, naming the fix", () =>
    bad(() => new Resources({ memory: "4GB" }), /^Resources: memory "4GB" is not a Kubernetes quantity; use "4Gi" or "4G"\.$/));
  it("rejects a non-string memory", () => bad(() => new Resources({ memory: 1024 as never }), /Resources: memory 1024 is not a Kubernetes quantity/));
  it("rejects a bad memory limit inside a pair", () => bad(() => new Resources({ memory: ["1Gi", "2gb"] }), /memory "2gb" is not a Kubernetes quantity; use "2Gi" or "2G"/));
  it("rejects a request larger than its limit", () =>
    bad(() => new Resources({ memory: ["8Gi", "2Gi"] }), /Resources: memory request "8Gi" is larger than its limit "2Gi"/));
  it("rejects a bad disk quantity", () => bad(() => new Resources({ disk: "10 GB" }), /Resources: disk "10 GB" is not a Kubernetes quantity; use "10Gi" or "10G"/));
  it("rejects a bad shm quantity", () => bad(() => new Resources({ shm: "max" }), /Resources: shm "max" is not a Kubernetes quantity/));
  it("rejects a negative gpu count", () => bad(() => new Resources({ gpu: -1 }), /Resources: gpu must be an integer >= 0, got -1/));
  it("rejects a fractional gpu count", () => bad(() => new Resources({ gpu: 1.5 }), /Resources: gpu must be an integer >= 0, got 1.5/));
  it("rejects an accelerator with a count the device does not offer", () =>
    bad(() => new Resources({ gpu: "A100:9" as Accelerator }), /Resources: gpu "A100:9" is not a known accelerator; A100 allows 1-8/));
  it("rejects an unknown accelerator with a suggestion", () =>
    bad(() => new Resources({ gpu: "A1000:1" as Accelerator }), /Resources: gpu "A1000:1" is not a known accelerator. Did you mean "A100:1"\?/));
  it("rejects a bare device name without a count", () => bad(() => new Resources({ gpu: "T4" as Accelerator }), /gpu "T4" is not a known accelerator; T4 allows 1-8/));
});

describe("accelerator table", () => {
  it.each([
    ["A100 80G:8", "GPU", 8],
    ["L40s:3", "GPU", 3],
    ["RTX PRO 6000:1", "GPU", 1],
    ["GB10:1", "GPU", 1],
    ["Trn1:16", "NEURON", 16],
    ["Trn2u:4", "NEURON", 4],
    ["Inf1:16", "NEURON", 16],
    ["Inf2:12", "NEURON", 12],
    ["MI300X:1", "AMD_GPU", 1],
    ["Gaudi1:1", "HABANA_GAUDI", 1],
  ] as const)("%s → %s × %i", (gpu, cls, n) => {
    const d = new Resources({ gpu }).getDevice()!;
    expect(d).toBeInstanceOf(Device);
    expect([d.device, d.deviceClass, d.quantity]).toEqual([gpu.slice(0, gpu.lastIndexOf(":")), cls, n]);
  });

  it.each(["RTX PRO 6000:2", "GB10:2", "Trn1:2", "Inf1:17", "Inf2:13", "MI100:2", "Gaudi1:2", "V100:0"])("rejects %s", (gpu) =>
    bad(() => new Resources({ gpu: gpu as Accelerator }), /is not a known accelerator/));
});

describe("getDevice", () => {
  it("turns a count into a GPU device and 0 into none", () => {
    expect(new Resources({ gpu: 2 }).getDevice()).toMatchObject({ quantity: 2, deviceClass: "GPU" });
    expect(new Resources({ gpu: 2 }).getDevice()!.device).toBeUndefined();
    expect(new Resources({ gpu: 0 }).getDevice()).toBeUndefined();
  });
  it("returns a Device as given", () => {
    const d = GPU({ device: "H100", quantity: 2 });
    expect(new Resources({ gpu: d }).getDevice()).toBe(d);
  });
});

describe("Device and factories", () => {
  it("builds a GPU with a valid MIG partition", () => {
    const d = GPU({ device: "A100", quantity: 1, partition: "1g.5gb" });
    expect([d.device, d.quantity, d.deviceClass, d.partition]).toEqual(["A100", 1, "GPU", "1g.5gb"]);
    expect(Object.isFrozen(d)).toBe(true);
  });
  it.each([
    ["A100", "1g.10gb", /partition "1g.10gb" is not valid for A100. Use one of: 1g.5gb, 2g.10gb/],
    ["A100 80G", "1g.5gb", /not valid for A100 80G. Use one of: 1g.10gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb/],
    ["H100", "7g.40gb", /not valid for H100. Use one of: 1g.10gb, 1g.20gb/],
    ["H200", "1g.10gb", /not valid for H200. Use one of: 1g.18gb, 1g.35gb/],
  ] as const)("rejects %s partition %s", (device, partition, re) => bad(() => GPU({ device, quantity: 1, partition }), re));
  it("accepts any partition on GPUs without a MIG table", () => expect(GPU({ device: "T4", quantity: 1, partition: "custom" }).partition).toBe("custom"));
  it("rejects an unknown GPU name with a suggestion", () => bad(() => GPU({ device: "H1000" as never, quantity: 1 }), /GPU: unknown device "H1000". Did you mean "H100"\?/));
  it("rejects a GPU quantity the device does not offer", () =>
    bad(() => GPU({ device: "GB10", quantity: 2 }), /Device: quantity 2 is not available for GB10; it allows exactly 1/));
  it("rejects unknown GPU options", () => bad(() => GPU({ device: "T4", quantity: 1, count: 1 } as never), /Unknown option "count" for GPU/));

  it("builds TPUs with valid topologies", () => {
    expect(TPU({ device: "V5P", partition: "2x2x1" })).toMatchObject({ device: "V5P", quantity: 1, deviceClass: "TPU", partition: "2x2x1" });
    expect(TPU({ device: "V6E", partition: "16x16" }).partition).toBe("16x16");
  });
  it("rejects a bad TPU topology", () => bad(() => TPU({ device: "V6E", partition: "2x2x1" }), /partition "2x2x1" is not valid for V6E. Use one of: 1x1, 2x2/));
  it("rejects an unknown TPU", () => bad(() => TPU({ device: "V4" as never }), /TPU: unknown device "V4".* Use one of: V5P, V6E/));

  it("builds Neuron, AMD and Gaudi devices", () => {
    expect(Neuron("Trn2")).toMatchObject({ device: "Trn2", quantity: 1, deviceClass: "NEURON" });
    expect(AMD_GPU("MI300X")).toMatchObject({ device: "MI300X", quantity: 1, deviceClass: "AMD_GPU" });
    expect(HABANA_GAUDI("Gaudi1")).toMatchObject({ device: "Gaudi1", quantity: 1, deviceClass: "HABANA_GAUDI" });
  });
  it("rejects unknown Neuron, AMD and Gaudi names", () => {
    bad(() => Neuron("Trn3" as never), /Neuron: unknown device "Trn3"/);
    bad(() => AMD_GPU("MI400" as never), /AMD_GPU: unknown device "MI400"/);
    bad(() => HABANA_GAUDI("Gaudi2" as never), /HABANA_GAUDI: unknown device "Gaudi2"/);
  });

  it("rejects a Device quantity below 1", () => bad(() => new Device({ quantity: 0, deviceClass: "GPU" }), /Device: quantity must be an integer >= 1, got 0/));
  it("rejects an unknown device class", () => bad(() => new Device({ quantity: 1, deviceClass: "FPGA" as never }), /Device: deviceClass "FPGA" is not one of GPU, TPU/));
  it("rejects a known device under the wrong class", () =>
    bad(() => new Device({ quantity: 1, deviceClass: "GPU", device: "Trn1" }), /Device: Trn1 is a NEURON device, not GPU/));
  it("accepts custom device names and is callable without new", () => {
    const d = Device({ quantity: 2, deviceClass: "GPU", device: "MyGPU" });
    expect(d).toBeInstanceOf(Device);
    expect(d.device).toBe("MyGPU");
  });
});

describe("toK8sResources and memoryLimitBytes", () => {
  it("uses a single value as both request and limit", () => {
    expect(toK8sResources(new Resources({ cpu: 2, memory: "4Gi", disk: "10Gi", gpu: "T4:1" }))).toEqual({
      requests: { cpu: "2", memory: "4Gi", "ephemeral-storage": "10Gi", "nvidia.com/gpu": "1" },
      limits: { cpu: "2", memory: "4Gi", "ephemeral-storage": "10Gi", "nvidia.com/gpu": "1" },
    });
  });
  it("splits pairs into request and limit", () => {
    expect(toK8sResources(new Resources({ cpu: ["500m", 2], memory: ["1Gi", "2Gi"] }))).toEqual({
      requests: { cpu: "500m", memory: "1Gi" },
      limits: { cpu: "2", memory: "2Gi" },
    });
  });
  it.each([
    ["MI300X:1", "amd.com/gpu"],
    ["Inf2:4", "aws.amazon.com/neuron"],
    ["Gaudi1:1", "habana.ai/gaudi"],
  ] as const)("maps %s to %s", (gpu, name) => {
    const k = toK8sResources(new Resources({ gpu }));
    expect(k.requests[name]).toBe(gpu.split(":")[1]);
    expect(k.limits[name]).toBe(gpu.split(":")[1]);
  });
  it("maps TPUs to google.com/tpu and counts to nvidia.com/gpu", () => {
    expect(toK8sResources(new Resources({ gpu: TPU({ device: "V5P" }) })).limits["google.com/tpu"]).toBe("1");
    expect(toK8sResources(new Resources({ gpu: 3 })).limits["nvidia.com/gpu"]).toBe("3");
    expect(toK8sResources(new Resources())).toEqual({ requests: {}, limits: {} });
  });
  it("gives the memory limit in bytes", () => {
    expect(memoryLimitBytes(new Resources())).toBeUndefined();
    expect(memoryLimitBytes(new Resources({ memory: "512Mi" }))).toBe(512 * 2 ** 20);
    expect(memoryLimitBytes(new Resources({ memory: ["1Gi", "2G"] }))).toBe(2e9);
    expect(memoryLimitBytes(new Resources({ memory: "1.5Ki" }))).toBe(1536);
  });
});
