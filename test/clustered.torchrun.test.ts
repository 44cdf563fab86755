import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { init, run } from "flyte-ts";
import { NonRecoverableError } from "flyte-ts/errors";
import { ClusteredTaskEnvironment } from "flyte-ts/clustered";
import { ProcessGroup } from "../src/clustered/process-group.ts";
import { rankCommand } from "../src/clustered/rank-protocol.ts";
import { torchrunFailure } from "../src/clustered/torchrun.ts";
import { torchrunInfo, type RankInfo } from "./fixtures/clustered/tasks.ts";

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

/** torch version and Python (major, minor) behind the torchrun on PATH; fails the test when there is none. */
function torchrunPython(): { torch: string; python: string } {
  const which = spawnSync("sh", ["-c", "command -v torchrun"], { encoding: "utf8" });
  const path = which.stdout.trim();
  if (!path) throw new Error("No torchrun on PATH. Install PyTorch with: apt-get install -y python3-torch (.ci/run does this).");
  const shebang = spawnSync("head", ["-1", path], { encoding: "utf8" }).stdout.replace(/^#!\s*/, "").trim().split(/\s+/)[0]!;
  const r = spawnSync(shebang, ["-c", "import importlib.metadata as m, sys; print(m.version('torch'), '%d.%d' % sys.version_info[:2])"], { encoding: "utf8" });
  const [torch, python] = r.stdout.trim().split(" ");
  return { torch: torch ?? "", python: python ?? "" };
}

beforeAll(async () => {
  await init({ root: tmp("flyte-clustered-torchrun-") });
});

describe("FLYTE_LAUNCHER=torchrun", () => {
  it("starts one real torchrun agent per node, each launching its ranks through Node", async () => {
    torchrunPython();
    const r = await run(torchrunInfo, { outDir: tmp("cl-torchrun-") });
    const infos = ((await r.outputs()) as (RankInfo & { elastic?: string })[]).sort((a, b) => a.ctx.rank! - b.ctx.rank!);
    expect(infos.map((i) => [i.env.RANK, i.env.LOCAL_RANK, i.env.WORLD_SIZE, i.env.GROUP_RANK, i.env.NODE_RANK, i.env.MASTER_ADDR])).toEqual([
      ["0", "0", "2", "0", "0", "127.0.0.1"],
      ["1", "0", "2", "1", "1", "127.0.0.1"],
    ]);
    // Set by torchrun's elastic agent, not by flyte: proves the ranks really ran under torchrun.
    expect(infos.every((i) => typeof i.elastic === "string")).toBe(true);
    expect(infos.map((i) => i.ctx)).toEqual([
      { rank: 0, localRank: 0, worldSize: 2, localWorldSize: 1, nodeRank: 0, runName: r.name },
      { rank: 1, localRank: 0, worldSize: 2, localWorldSize: 1, nodeRank: 1, runName: r.name },
    ]);
  });

  it("reports the elastic-agent crash of torch 1.13 on Python 3.11 as a clear error", async () => {
    const { torch, python } = torchrunPython();
    // torchrun as users would call it (default --redirects/--tee), which flyte's launcher avoids.
    const group = new ProcessGroup(() => undefined);
    const [node, args] = rankCommand();
    const agent = group.start("node 0", "torchrun", ["--nnodes=1", "--nproc_per_node=1", "--master_port=0", "--no_python", "--", node, ...args], process.env, { node: 0 });
    const outcome = await group.outcome;
    if (torch.startsWith("1.13") && python === "3.11") {
      expect(outcome.ok).toBe(false);
      const e = torchrunFailure(agent);
      expect(e).toBeInstanceOf(NonRecoverableError);
      expect(e.code).toBe("TorchrunCrashed");
      expect(e.message).toMatch(/^\[node 0\] torchrun crashed inside its elastic agent before starting any rank \(a known bug of torch 1\.13 on Python 3\.11/);
      expect(e.message).toMatch(/AttributeError: 'NoneType' object has no attribute 'get'/);
    } else {
      // A fixed torch starts the rank, which exits at once without the launcher's env (code 2).
      expect(agent.exit?.code).not.toBe(0);
      expect(torchrunFailure(agent).code).not.toBe("TorchrunCrashed");
    }
  });

  it("names the missing torchrun", async () => {
    const env = new ClusteredTaskEnvironment({ name: "cl-no-torchrun", replicas: 1, nprocPerNode: 1, envVars: { FLYTE_LAUNCHER: "torchrun", PATH: "/nonexistent" } });
    const t = env.task(async function t() {
      return 1;
    });
    const e = await (await run(t)).outputs().then(() => undefined, (err: unknown) => err as NonRecoverableError);
    expect(e?.code).toBe("ClusteredLauncherUnavailable");
    expect(e?.message).toBe(
      "[node 0] FLYTE_LAUNCHER=torchrun, but no torchrun is on PATH. Install PyTorch (apt-get install python3-torch, or pip install torch), or unset FLYTE_LAUNCHER to use the built-in launcher.",
    );
  });

  it("rejects an unknown FLYTE_LAUNCHER", async () => {
    const env = new ClusteredTaskEnvironment({ name: "cl-bad-launcher", replicas: 1, nprocPerNode: 1, envVars: { FLYTE_LAUNCHER: "mpirun" } });
    const t = env.task(async function t() {
      return 1;
    });
    await expect((await run(t)).outputs()).rejects.toThrow(/FLYTE_LAUNCHER must be "builtin" or "torchrun", got "mpirun"/);
  });
});
