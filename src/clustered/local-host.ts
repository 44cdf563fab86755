/**
 * What a local clustered run needs from this machine: the accelerators the task asks for, and a free
 * rendezvous port. Failures are `NonRecoverableError`s: retrying the attempt on the same machine cannot help.
 */
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { NonRecoverableError } from "../errors.ts";
import type { Resources } from "../authoring/resources.ts";
import { RDZV_PORT } from "./jobset.ts";

/** NVIDIA GPUs this process may use: `nvidia-smi -L`, narrowed by `CUDA_VISIBLE_DEVICES`. */
export function visibleNvidiaGpus(): string[] {
  const r = spawnSync("nvidia-smi", ["-L"], { encoding: "utf8", timeout: 15_000 });
  if (r.error || r.status !== 0) return [];
  const all = r.stdout.split("\n").filter((l) => l.startsWith("GPU ")).map((_, i) => String(i));
  const cvd = process.env.CUDA_VISIBLE_DEVICES;
  if (cvd === undefined) return all;
  // Entries may be indices or UUIDs; either way each one is a device this process can see.
  return cvd.split(",").map((s) => s.trim()).filter(Boolean).slice(0, all.length);
}

/**
 * `CUDA_VISIBLE_DEVICES` per simulated node, or undefined when the task asks for no accelerator. Every node
 * gets its own devices, as on a cluster: two nodes sharing one GPU would break NCCL ("Duplicate GPU detected").
 */
export function assignLocalGpus(taskName: string, resources: Resources | undefined, replicas: number): string[] | undefined {
  const device = resources?.getDevice();
  if (!device) return undefined;
  const asked = `${device.device ? `${device.device}:` : ""}${device.quantity}`;
  if (device.deviceClass !== "GPU") {
    throw new NonRecoverableError(
      `Task "${taskName}": resources.gpu asks for ${device.deviceClass} devices (${asked}), which a local clustered run cannot provide. Run it on Kubernetes (toJobSet / flyte k8s manifests), or test locally with task.override({ resources: new Resources({ cpu: 1 }) }).`,
      { code: "ClusteredResourceUnavailable" },
    );
  }
  const gpus = visibleNvidiaGpus();
  const needed = device.quantity * replicas;
  if (gpus.length < needed) {
    const found = gpus.length === 0 ? "no NVIDIA GPU is visible (nvidia-smi is missing or lists none)" : `only ${gpus.length} NVIDIA GPU(s) are visible`;
    throw new NonRecoverableError(
      `Task "${taskName}": resources.gpu asks for ${asked} per node × ${replicas} node(s) = ${needed} GPU(s) on this machine, but ${found}. Run it on a machine with ${needed} visible GPU(s) or on Kubernetes, or test locally with task.override({ resources: new Resources({ cpu: 1 }) }) (e.g. the gloo backend on CPU).`,
      { code: "ClusteredResourceUnavailable" },
    );
  }
  return Array.from({ length: replicas }, (_, n) => gpus.slice(n * device.quantity, (n + 1) * device.quantity).join(","));
}

/** Whether nothing listens on `port` on any local address (a wildcard bind conflicts with every address). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen({ port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

async function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** Ports handed to groups still running in this process, so two concurrent groups never share one. */
const inUse = new Set<number>();

/**
 * The rendezvous port of a group start: the pinned one (which must be free), else 29500 when free, else an
 * ephemeral port. Call `release` when the group has exited.
 */
export async function pickMasterPort(taskName: string, pinned: number | undefined, avoid: ReadonlySet<number>): Promise<{ port: number; release: () => void }> {
  let port: number;
  if (pinned !== undefined) {
    if (inUse.has(pinned) || !(await portIsFree(pinned))) {
      throw new NonRecoverableError(
        `Task "${taskName}": MASTER_PORT ${pinned} (from envVars) is already in use on this machine, so rank 0 cannot listen on it. Stop whatever holds it, or remove envVars.MASTER_PORT to let flyte pick a free port.`,
        { code: "ClusteredPortInUse" },
      );
    }
    port = pinned;
  } else if (!inUse.has(RDZV_PORT) && !avoid.has(RDZV_PORT) && (await portIsFree(RDZV_PORT))) {
    port = RDZV_PORT;
  } else {
    do port = await ephemeralPort();
    while (inUse.has(port) || avoid.has(port));
  }
  inUse.add(port);
  return { port, release: () => inUse.delete(port) };
}

/** Errors from a rank or torchrun that mean "the rendezvous port was taken between our check and the bind". */
export function looksLikePortInUse(text: string): boolean {
  return /EADDRINUSE|address already in use|errno: 98\b/i.test(text);
}
