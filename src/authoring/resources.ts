/**
 * Compute resources a task asks for: CPU, memory, accelerators, ephemeral disk and shared memory.
 *
 * @example
 * ```ts
 * new Resources({ cpu: [1, 4], memory: ["2Gi", "8Gi"], gpu: GPU({ device: "A100", quantity: 1, partition: "1g.5gb" }) });
 * new Resources({ cpu: "500m", memory: "512Mi", gpu: "T4:2", shm: "auto" });
 * ```
 * @module
 */
import { ValidationError } from "../errors.ts";
import { callable } from "../internal/callable.ts";
import { checkKeys, isPlainObject, show, suggest } from "../internal/validate.ts";

export type DeviceClass = "GPU" | "TPU" | "NEURON" | "AMD_GPU" | "HABANA_GAUDI";
export type CpuValue = number | string;

type Upto8 = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;
type Upto12 = Upto8 | 9 | 10 | 11 | 12;
type Upto16 = Upto12 | 13 | 14 | 15 | 16;
type MultiGPUType = "A10" | "A10G" | "A100" | "A100 80G" | "B200" | "H100" | "H200" | "L4" | "L40s" | "T4" | "V100";
export type GPUType = MultiGPUType | "RTX PRO 6000" | "GB10";
export type NeuronType = "Inf1" | "Inf2" | "Trn1" | "Trn1n" | "Trn2" | "Trn2u";
export type AMDGPUType = "MI100" | "MI210" | "MI250" | "MI250X" | "MI300A" | "MI300X" | "MI325X" | "MI350X" | "MI355X";
export type HabanaGaudiType = "Gaudi1";
export type TPUType = "V5P" | "V6E";

/** Every `"<DEVICE>:<N>"` string `Resources({ gpu })` accepts. */
export type Accelerator =
  | `${MultiGPUType}:${Upto8}`
  | "RTX PRO 6000:1"
  | "GB10:1"
  | `${"Trn1" | "Trn1n" | "Trn2" | "Trn2u"}:${1 | 4 | 8 | 16}`
  | `Inf1:${Upto16}`
  | `Inf2:${Upto12}`
  | `${AMDGPUType}:1`
  | "Gaudi1:1";

const range = (n: number): readonly number[] => Array.from({ length: n }, (_, i) => i + 1);
const ONE = [1] as const;

/** Accelerator name → its class and the device counts a node offers. */
const ACCELERATORS: Readonly<Record<string, { deviceClass: DeviceClass; counts: readonly number[] }>> = {
  ...Object.fromEntries(
    ["A10", "A10G", "A100", "A100 80G", "B200", "H100", "H200", "L4", "L40s", "T4", "V100"].map((d) => [d, { deviceClass: "GPU", counts: range(8) }]),
  ),
  "RTX PRO 6000": { deviceClass: "GPU", counts: ONE },
  GB10: { deviceClass: "GPU", counts: ONE },
  ...Object.fromEntries(["Trn1", "Trn1n", "Trn2", "Trn2u"].map((d) => [d, { deviceClass: "NEURON", counts: [1, 4, 8, 16] }])),
  Inf1: { deviceClass: "NEURON", counts: range(16) },
  Inf2: { deviceClass: "NEURON", counts: range(12) },
  ...Object.fromEntries(
    ["MI100", "MI210", "MI250", "MI250X", "MI300A", "MI300X", "MI325X", "MI350X", "MI355X"].map((d) => [d, { deviceClass: "AMD_GPU", counts: ONE }]),
  ),
  Gaudi1: { deviceClass: "HABANA_GAUDI", counts: ONE },
};

/** MIG profiles and TPU slice topologies; devices not listed here accept any partition string. */
const PARTITIONS: Readonly<Record<string, readonly string[]>> = {
  "GPU/A100": ["1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"],
  "GPU/A100 80G": ["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"],
  "GPU/H100": ["1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"],
  "GPU/H200": ["1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"],
  "TPU/V5P": ["2x2x1", "2x2x2", "2x4x4", "4x4x4", "4x4x8", "4x8x8", "8x8x8", "8x8x16", "8x16x16", "16x16x16", "16x16x24"],
  "TPU/V6E": ["1x1", "2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"],
};

const DEVICE_CLASSES: readonly DeviceClass[] = ["GPU", "TPU", "NEURON", "AMD_GPU", "HABANA_GAUDI"];
const TPU_TYPES: readonly TPUType[] = ["V5P", "V6E"];

/** Kubernetes extended-resource name per device class. */
const K8S_DEVICE_RESOURCE: Readonly<Record<DeviceClass, string>> = {
  GPU: "nvidia.com/gpu",
  AMD_GPU: "amd.com/gpu",
  NEURON: "aws.amazon.com/neuron",
  HABANA_GAUDI: "habana.ai/gaudi",
  TPU: "google.com/tpu",
};

function countsText(counts: readonly number[]): string {
  if (counts.length === 1) return `exactly ${counts[0]}`;
  const contiguous = counts.every((c, i) => c === i + 1);
  return contiguous ? `1-${counts.length}` : counts.join(", ");
}

export interface DeviceOptions {
  quantity: number;
  deviceClass: DeviceClass;
  device?: string;
  partition?: string;
}

class DeviceImpl {
  readonly quantity: number;
  readonly deviceClass: DeviceClass;
  readonly device?: string;
  readonly partition?: string;

  constructor(o: DeviceOptions) {
    checkKeys(o, ["quantity", "deviceClass", "device", "partition"], "Device");
    if (o === undefined) throw new ValidationError("Device: options are required. Use new Device({ quantity: 1, deviceClass: \"GPU\" }).");
    if (typeof o.quantity !== "number" || !Number.isInteger(o.quantity) || o.quantity < 1) {
      throw new ValidationError(`Device: quantity must be an integer >= 1, got ${show(o.quantity)}. Use e.g. quantity: 1.`, { field: "quantity" });
    }
    if (!DEVICE_CLASSES.includes(o.deviceClass)) {
      throw new ValidationError(`Device: deviceClass ${show(o.deviceClass)} is not one of ${DEVICE_CLASSES.join(", ")}.`, { field: "deviceClass" });
    }
    if (o.device !== undefined && (typeof o.device !== "string" || o.device === "")) {
      throw new ValidationError(`Device: device must be a non-empty string, got ${show(o.device)}. Use e.g. device: "A100".`, { field: "device" });
    }
    if (o.partition !== undefined && (typeof o.partition !== "string" || o.partition === "")) {
      throw new ValidationError(`Device: partition must be a non-empty string, got ${show(o.partition)}.`, { field: "partition" });
    }
    if (o.device !== undefined) {
      const known = ACCELERATORS[o.device];
      if (known && known.deviceClass !== o.deviceClass) {
        throw new ValidationError(`Device: ${o.device} is a ${known.deviceClass} device, not ${o.deviceClass}. Use deviceClass: "${known.deviceClass}".`, {
          field: "deviceClass",
        });
      }
      if (known && !known.counts.includes(o.quantity)) {
        throw new ValidationError(
          `Device: quantity ${o.quantity} is not available for ${o.device}; it allows ${countsText(known.counts)}. Use quantity: ${known.counts.at(-1)} or less.`,
          { field: "quantity" },
        );
      }
      const allowed = PARTITIONS[`${o.deviceClass}/${o.device}`];
      if (o.partition !== undefined && allowed && !allowed.includes(o.partition)) {
        throw new ValidationError(
          `Device: partition ${show(o.partition)} is not valid for ${o.device}. Use one of: ${allowed.join(", ")}.`,
          { field: "partition" },
        );
      }
    }
    this.quantity = o.quantity;
    this.deviceClass = o.deviceClass;
    if (o.device !== undefined) this.device = o.device;
    if (o.partition !== undefined) this.partition = o.partition;
    Object.freeze(this);
  }
}

/** One kind and count of accelerator; usually built by `GPU`, `TPU`, `Neuron`, `AMD_GPU` or `HABANA_GAUDI`. */
export const Device = callable(DeviceImpl);
export type Device = DeviceImpl;

function knownName(device: unknown, cls: DeviceClass, owner: string): string {
  const names: readonly string[] = cls === "TPU" ? TPU_TYPES : Object.keys(ACCELERATORS).filter((k) => ACCELERATORS[k]!.deviceClass === cls);
  if (typeof device === "string" && names.includes(device)) return device;
  const s = typeof device === "string" ? suggest(device, names) : undefined;
  throw new ValidationError(
    `${owner}: unknown device ${show(device)}.${s ? ` Did you mean "${s}"?` : ""} Use one of: ${names.join(", ")}.`,
    { field: "device" },
  );
}

/** An NVIDIA GPU, optionally a MIG partition of one. */
export function GPU(o: { device: GPUType; quantity: Upto8; partition?: string }): Device {
  checkKeys(o, ["device", "quantity", "partition"], "GPU");
  if (!isPlainObject(o)) throw new ValidationError(`GPU: expected { device, quantity }, got ${show(o)}. Use GPU({ device: "A100", quantity: 1 }).`);
  const device = knownName(o.device, "GPU", "GPU");
  return new Device({ device, quantity: o.quantity, deviceClass: "GPU", ...(o.partition !== undefined ? { partition: o.partition } : {}) });
}

/** A Google TPU slice; `partition` is its topology. */
export function TPU(o: { device: TPUType; partition?: string }): Device {
  checkKeys(o, ["device", "partition"], "TPU");
  if (!isPlainObject(o)) throw new ValidationError(`TPU: expected { device }, got ${show(o)}. Use TPU({ device: "V5P", partition: "2x2x1" }).`);
  const device = knownName(o.device, "TPU", "TPU");
  return new Device({ device, quantity: 1, deviceClass: "TPU", ...(o.partition !== undefined ? { partition: o.partition } : {}) });
}

/** One AWS Inferentia/Trainium device. */
export function Neuron(device: NeuronType): Device {
  return new Device({ device: knownName(device, "NEURON", "Neuron"), quantity: 1, deviceClass: "NEURON" });
}

/** One AMD Instinct GPU. */
export function AMD_GPU(device: AMDGPUType): Device {
  return new Device({ device: knownName(device, "AMD_GPU", "AMD_GPU"), quantity: 1, deviceClass: "AMD_GPU" });
}

/** One Intel Habana Gaudi accelerator. */
export function HABANA_GAUDI(device: HabanaGaudiType): Device {
  return new Device({ device: knownName(device, "HABANA_GAUDI", "HABANA_GAUDI"), quantity: 1, deviceClass: "HABANA_GAUDI" });
}

const CPU_RE = /^\d+(\.\d+)?m?$/;
const QUANTITY_RE = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;
const QUANTITY_MULT: Readonly<Record<string, number>> = {
  "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** Bytes in a Kubernetes quantity already checked against `QUANTITY_RE`. */
export function quantityBytes(q: string): number {
  const m = QUANTITY_RE.exec(q)!;
  return Number(m[1]) * QUANTITY_MULT[m[2] ?? ""]!;
}

export function millicores(c: CpuValue): number {
  if (typeof c === "number") return c * 1000;
  return c.endsWith("m") ? Number(c.slice(0, -1)) : Number(c) * 1000;
}

/** Builds the "use X" hint for the commonest mistake, "4GB"/"512mb" instead of "4Gi"/"4G". */
function quantityHint(v: string, option: string): string {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtpe])i?b?\s*$/i.exec(v);
  if (m) {
    const u = m[2]!.toUpperCase();
    return `use "${m[1]}${u === "K" ? "Ki" : `${u}i`}" or "${m[1]}${u === "K" ? "k" : u}"`;
  }
  return `use a quantity like ${option === "disk" ? '"10Gi"' : '"512Mi"'}, "4Gi" or "1G"`;
}

function checkCpu(v: unknown): CpuValue {
  if (typeof v === "number") {
    if (!Number.isFinite(v) || v < 0) throw new ValidationError(`Resources: cpu must be >= 0, got ${show(v)}. Use e.g. cpu: 2 or "500m".`, { field: "cpu" });
    return v;
  }
  if (typeof v !== "string" || !CPU_RE.test(v)) {
    throw new ValidationError(
      `Resources: cpu ${show(v)} is not a CPU quantity; use a number of cores (2, 0.5) or a string like "2", "1.5" or "500m".`,
      { field: "cpu" },
    );
  }
  return v;
}

function checkQuantity(v: unknown, option: string): string {
  if (typeof v !== "string" || !QUANTITY_RE.test(v)) {
    const hint = typeof v === "string" ? quantityHint(v, option) : `use a string such as "4Gi"`;
    throw new ValidationError(`Resources: ${option} ${show(v)} is not a Kubernetes quantity; ${hint}.`, { field: option });
  }
  return v;
}

type Pair<T> = readonly [request: T, limit: T];

/** A single value, or a frozen [request, limit] pair whose request does not exceed its limit. */
function valueOrPair<T extends CpuValue>(v: unknown, option: string, check: (x: unknown) => T, size: (x: T) => number): T | Pair<T> {
  if (!Array.isArray(v)) return check(v);
  if (v.length !== 2) {
    throw new ValidationError(
      `Resources: ${option} must be a value or a [request, limit] pair, got ${show(v)}. Use e.g. ${option}: ${option === "cpu" ? "[1, 4]" : '["2Gi", "8Gi"]'}.`,
      { field: option },
    );
  }
  const req = check(v[0]);
  const lim = check(v[1]);
  if (size(req) > size(lim)) {
    throw new ValidationError(
      `Resources: ${option} request ${show(req)} is larger than its limit ${show(lim)}. Use [request, limit] with request <= limit.`,
      { field: option },
    );
  }
  return Object.freeze([req, lim] as const);
}

function checkGpu(v: unknown): Accelerator | number | Device {
  if (v instanceof Device) return v;
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0) {
      throw new ValidationError(`Resources: gpu must be an integer >= 0, got ${show(v)}. Use e.g. gpu: 1, "A100:1" or GPU({ device: "A100", quantity: 1 }).`, {
        field: "gpu",
      });
    }
    return v;
  }
  if (typeof v !== "string") {
    throw new ValidationError(`Resources: gpu must be a number, an accelerator string like "T4:1", or a Device, got ${show(v)}.`, { field: "gpu" });
  }
  const i = v.lastIndexOf(":");
  const name = i < 0 ? v : v.slice(0, i);
  const count = i < 0 ? NaN : Number(v.slice(i + 1));
  const known = ACCELERATORS[name];
  if (known && known.counts.includes(count)) return v as Accelerator;
  if (known) {
    throw new ValidationError(
      `Resources: gpu ${show(v)} is not a known accelerator; ${name} allows ${countsText(known.counts)} device(s). Use e.g. "${name}:${known.counts[0]}".`,
      { field: "gpu" },
    );
  }
  const s = suggest(name, Object.keys(ACCELERATORS));
  throw new ValidationError(
    `Resources: gpu ${show(v)} is not a known accelerator.${s ? ` Did you mean "${s}:1"?` : ""} Use "<DEVICE>:<N>" with DEVICE one of: ${Object.keys(ACCELERATORS).join(", ")}.`,
    { field: "gpu" },
  );
}

export interface ResourcesOptions {
  /** Cores: a number, `"2"`, `"500m"`, or a `[request, limit]` pair. @default undefined */
  cpu?: CpuValue | Pair<CpuValue>;
  /** A Kubernetes quantity (`"512Mi"`, `"4Gi"`, `"1G"`) or a `[request, limit]` pair. @default undefined */
  memory?: string | Pair<string>;
  /** `"A100:1"`, a GPU count, or a `Device`. @default undefined */
  gpu?: Accelerator | number | Device;
  /** Ephemeral storage, e.g. `"10Gi"`. @default undefined */
  disk?: string;
  /** Size of `/dev/shm`; `"auto"` = the node maximum. @default undefined */
  shm?: string;
}

class ResourcesImpl {
  readonly cpu?: CpuValue | Pair<CpuValue>;
  readonly memory?: string | Pair<string>;
  readonly gpu?: Accelerator | number | Device;
  readonly disk?: string;
  readonly shm?: string;

  constructor(o: ResourcesOptions = {}) {
    checkKeys(o, ["cpu", "memory", "gpu", "disk", "shm"], "Resources");
    if (o.cpu !== undefined) this.cpu = valueOrPair(o.cpu, "cpu", checkCpu, millicores);
    if (o.memory !== undefined) this.memory = valueOrPair(o.memory, "memory", (x) => checkQuantity(x, "memory"), quantityBytes);
    if (o.gpu !== undefined) this.gpu = checkGpu(o.gpu);
    if (o.disk !== undefined) this.disk = checkQuantity(o.disk, "disk");
    if (o.shm !== undefined) this.shm = o.shm === "auto" ? "auto" : checkQuantity(o.shm, "shm");
    Object.freeze(this);
  }

  /** The accelerator request as a `Device`; `undefined` when there is none (unset or 0). */
  getDevice(): Device | undefined {
    const g = this.gpu;
    if (g === undefined || g === 0) return undefined;
    if (typeof g === "number") return new Device({ quantity: g, deviceClass: "GPU" });
    if (typeof g === "string") {
      const i = g.lastIndexOf(":");
      const device = g.slice(0, i);
      return new Device({ device, quantity: Number(g.slice(i + 1)), deviceClass: ACCELERATORS[device]!.deviceClass });
    }
    return g;
  }

  /** The `/dev/shm` size; `""` means "the node maximum" (from `"auto"`). */
  getSharedMemory(): string | undefined {
    return this.shm === "auto" ? "" : this.shm;
  }
}

/**
 * `r` as the plain options that rebuild it (`new Resources(resourcesRecord(r))`, a `gpu` Device as its options):
 * what an action records and a queued job carries.
 */
export function resourcesRecord(r: ResourcesImpl): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) if (v !== undefined) o[k] = typeof v === "object" && !Array.isArray(v) ? { ...v } : v;
  return o;
}

/** Compute resources for a task or environment. Every field defaults to unset (backend default). */
export const Resources = callable(ResourcesImpl);
export type Resources = ResourcesImpl;

function split<T>(v: T | Pair<T> | undefined): [T, T] | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? [v[0], v[1]] : [v as T, v as T];
}

/**
 * Container `resources` for a Kubernetes pod. A single value is both request and limit, so pods get the
 * Guaranteed QoS class unless the user asked for a range.
 */
export function toK8sResources(r: Resources): { requests: Record<string, string>; limits: Record<string, string> } {
  const requests: Record<string, string> = {};
  const limits: Record<string, string> = {};
  const cpu = split(r.cpu);
  if (cpu) [requests.cpu, limits.cpu] = [String(cpu[0]), String(cpu[1])];
  const mem = split(r.memory);
  if (mem) [requests.memory, limits.memory] = mem;
  if (r.disk !== undefined) requests["ephemeral-storage"] = limits["ephemeral-storage"] = r.disk;
  const dev = r.getDevice();
  if (dev) {
    // Extended resources must have request == limit in Kubernetes.
    const name = K8S_DEVICE_RESOURCE[dev.deviceClass];
    requests[name] = limits[name] = String(dev.quantity);
  }
  return { requests, limits };
}

/** The memory limit in bytes (the limit of a pair, else the value); `undefined` when memory is unset. */
export function memoryLimitBytes(r: Resources): number | undefined {
  const mem = split(r.memory);
  return mem ? quantityBytes(mem[1]) : undefined;
}
