import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { init, run } from "flyte-ts";
import { train, type TrainResult } from "../examples/clustered/ddp.ts";

const PYTHON = "/usr/bin/python3";
const TRAIN_PY = fileURLToPath(new URL("../examples/clustered/train.py", import.meta.url));

/** Fails (never skips) when Debian's python3 cannot import torch: the example is part of the suite. */
function requireTorch(): void {
  const r = spawnSync(PYTHON, ["-c", "import torch, torch.distributed"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new Error(
      `PyTorch is not importable by ${PYTHON} (${r.error?.message ?? r.stderr.trim().split("\n").pop()}). Install it with: apt-get install -y python3-torch (.ci/run does this).`,
    );
  }
}

describe("examples/clustered/ddp.ts", () => {
  it("trains across 2 ranks with gloo all-reduce and returns the loss curve of a single-process run", async () => {
    requireTorch();
    await init({ root: mkdtempSync(join(tmpdir(), "flyte-clustered-ddp-")) });
    const r = await run(train, { epochs: 30 });
    const out = await r.outputs();
    expect(out.worldSize).toBe(2);
    expect(out.paramsInSync).toBe(true);
    expect(out.losses).toHaveLength(30);
    expect(out.losses.at(-1)!).toBeLessThan(out.losses[0]! / 5);

    // Equal shards: the all-reduced (averaged) gradient is the full-batch gradient, so one process
    // training on all the data must trace the same curve. A broken all-reduce would diverge at step 2.
    const ref = spawnSync(PYTHON, [TRAIN_PY, "--reference", "--epochs", "30"], { encoding: "utf8" });
    expect(ref.status, ref.stderr).toBe(0);
    const reference = JSON.parse(ref.stdout.trim().split("\n").pop()!) as TrainResult;
    expect(reference.worldSize).toBe(1);
    out.losses.forEach((l, i) => expect(l).toBeCloseTo(reference.losses[i]!, 4));

    const logs: string[] = [];
    for await (const l of r.logs()) logs.push(l.message);
    expect(logs).toContain("[rank 1] rank 1 of 2: training for 30 epochs");
    expect(logs.some((l) => /^\[rank 0\] epoch 10 loss \d/.test(l))).toBe(true);
  });
});
