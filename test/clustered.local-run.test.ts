import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { init, run, type Run } from "flyte-ts";
import { ActionAbortedError, NonRecoverableError, RuntimeUserError, ValidationError } from "flyte-ts/errors";
import { ClusteredTaskEnvironment } from "flyte-ts/clustered";
import {
  alwaysFail, callsTask, crash, flakyTask, hang, needsGpu, pidsIn, portProbe, rankInfo, type RankInfo,
} from "./fixtures/clustered/tasks.ts";
import { survivors } from "./fixtures/clustered/processes.ts";
import { nodeFlagsForUserCode } from "../src/internal/user-code-flags.ts";

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

async function logText(r: Run): Promise<string> {
  const lines: string[] = [];
  for await (const l of r.logs()) lines.push(l.message);
  return lines.join("\n");
}

async function failure(r: Run): Promise<Error> {
  const e = await r.outputs().then(
    () => undefined,
    (err: unknown) => err as Error,
  );
  expect(e, "the run should have failed").toBeInstanceOf(Error);
  return e!;
}

async function waitForFiles(dir: string, n: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (readdirSync(dir).filter((f) => !f.startsWith(".")).length < n) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} files in ${dir}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

function listen(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(undefined));
    srv.listen({ port }, () => resolve(srv));
  });
}

beforeAll(async () => {
  await init({ root: tmp("flyte-clustered-run-") });
});

describe("local clustered execution", () => {
  it("runs 2 nodes × 2 processes with torchrun's env vars and ctx(); the output is rank 0's", async () => {
    const outDir = tmp("cl-grid-");
    const r = await run(rankInfo, { outDir });
    const infos = (await r.outputs()) as RankInfo[];
    expect(infos.map((i) => i.ctx.rank)).toEqual([0, 1, 2, 3]);
    const port = infos[0]!.env.MASTER_PORT!;
    expect(port).toMatch(/^\d+$/);
    for (const [rank, info] of infos.entries()) {
      const node = Math.floor(rank / 2);
      expect(info.env).toEqual({
        RANK: String(rank), LOCAL_RANK: String(rank % 2), WORLD_SIZE: "4", LOCAL_WORLD_SIZE: "2", GROUP_RANK: String(node), NODE_RANK: String(node),
        MASTER_ADDR: "127.0.0.1", MASTER_PORT: port, NNODES: "2", NPROC_PER_NODE: "2", RDZV_BACKEND: "static", GROUP_WORLD_SIZE: "2",
        ROLE_RANK: String(rank), ROLE_WORLD_SIZE: "4", TORCHELASTIC_RESTART_COUNT: "0", JOBSET_RESTART_ATTEMPT: "0",
        ...(process.env.OMP_NUM_THREADS === undefined ? { OMP_NUM_THREADS: "1" } : { OMP_NUM_THREADS: process.env.OMP_NUM_THREADS }),
        CUSTOM_VAR: "from-env",
      });
      expect(info.ctx).toEqual({ rank, localRank: rank % 2, worldSize: 4, localWorldSize: 2, nodeRank: node, runName: r.name });
    }
    const pids = infos.map((i) => i.pid);
    expect(new Set(pids).size).toBe(4);
    expect(pids).not.toContain(process.pid);
    expect(await survivors(pids)).toEqual([]);
    const logs = await logText(r);
    for (let rank = 0; rank < 4; rank++) expect(logs).toContain(`[rank ${rank}] hello from rank ${rank} of 4`);
  });

  it("a rank that throws fails the action with [rank N] and its error, stops the other ranks, leaves no process", async () => {
    const outDir = tmp("cl-crash-");
    const r = await run(crash, { outDir, failRank: 1, how: "throw" as const });
    const e = await failure(r);
    expect(e).toBeInstanceOf(RuntimeUserError);
    expect((e as RuntimeUserError).code).toBe("TypeError");
    expect(e.message).toBe("[rank 1] boom on purpose in rank 1");
    const pids = pidsIn(outDir);
    expect(pids.length).toBe(4); // two ranks, each with a `sleep` child
    expect(await survivors(pids)).toEqual([]);
    const d = await r.details();
    expect(d.root.phase).toBe("failed");
    expect(d.root.error?.stack).toMatch(/at crash \(.*tasks\.ts/);
  });

  it("a rank that exits without an error is named with its exit code", async () => {
    const outDir = tmp("cl-exit-");
    const e = await failure(await run(crash, { outDir, failRank: 0, how: "exit" as const }));
    expect((e as RuntimeUserError).code).toBe("ClusteredRankFailed");
    expect(e.message).toMatch(/^\[rank 0\] exited with code 3 without reporting an error/);
    expect(await survivors(pidsIn(outDir))).toEqual([]);
  });

  it("restarts the whole group per the failure policy", async () => {
    const r = await run(flakyTask);
    expect(await r.outputs()).toEqual({ attempt: 1, restartCount: 0 });
    expect(await logText(r)).toMatch(/\[clustered\] \[rank 1\] transient failure; restarting the process group \(restart 1 of 1\)/);
  });

  it("nests torchrun restarts inside JobSet restarts, then fails with the last error", async () => {
    const outDir = tmp("cl-always-");
    const e = await failure(await run(alwaysFail, { outDir }));
    expect(e.message).toBe("[rank 0] always fails (start 1.1) (the process group was restarted 3 times before giving up)");
    expect(readdirSync(outDir).sort()).toEqual(["start-0.0", "start-0.1", "start-1.0", "start-1.1"]);
  });

  it("refuses child task calls inside a clustered task", async () => {
    const e = await failure(await run(callsTask));
    expect(e).toBeInstanceOf(ValidationError);
    expect((e as ValidationError).code).toBe("ClusteredNoSubtasks");
    expect(e.message).toMatch(/^\[rank \d\] Task "cl-crash\.callsTask" \(rank \d\) called task "cl-plain\.helper"\. Clustered tasks .* cannot start child actions/);
  });

  it("abort stops every rank and what they started", async () => {
    const outDir = tmp("cl-abort-");
    const r = await run(hang, { outDir });
    await waitForFiles(outDir, 2);
    const pids = pidsIn(outDir);
    expect(pids.length).toBe(4);
    await r.abort("test abort");
    const e = await failure(r);
    expect(e).toBeInstanceOf(ActionAbortedError);
    expect(await survivors(pids)).toEqual([]);
  });

  it("ranks do not outlive a launcher killed with SIGKILL", async () => {
    const outDir = tmp("cl-kill9-");
    const script = new URL("./fixtures/clustered/run-and-hang.ts", import.meta.url).pathname;
    const owner = spawn(process.execPath, [...nodeFlagsForUserCode(), script, tmp("flyte-clustered-kill9-"), outDir], { stdio: "ignore" });
    const exited = new Promise((res) => owner.once("exit", res));
    try {
      await waitForFiles(outDir, 2);
      const pids = pidsIn(outDir);
      expect(pids.length).toBe(4);
      owner.kill("SIGKILL");
      await exited;
      // Each rank polls its owner's pid every second and then takes its process group down.
      expect(await survivors(pids, 8000)).toEqual([]);
    } finally {
      owner.kill("SIGKILL");
    }
  });
});

describe("local clustered execution: bad input", () => {
  it("a GPU this machine cannot provide is a named error before any process starts (not retried)", async () => {
    const r = await run(needsGpu);
    const e = await failure(r);
    expect(e).toBeInstanceOf(NonRecoverableError);
    expect((e as NonRecoverableError).code).toBe("ClusteredResourceUnavailable");
    expect(e.message).toMatch(/Task "cl-gpu\.needsGpu": resources\.gpu asks for T4:1 per node × 1 node\(s\) = 1 GPU\(s\) on this machine, but/);
    expect((await r.details()).root.attempts.length).toBe(1);
  });

  it("a pinned MASTER_PORT that is in use is a named error", async () => {
    const srv = (await listen(0))!;
    const port = (srv.address() as { port: number }).port;
    try {
      const env = new ClusteredTaskEnvironment({ name: "cl-pinned", replicas: 1, nprocPerNode: 1, envVars: { MASTER_PORT: String(port) } });
      const probe = env.task(async function probe() {
        return 1;
      });
      const e = await failure(await run(probe));
      expect((e as NonRecoverableError).code).toBe("ClusteredPortInUse");
      expect(e.message).toBe(
        `Task "cl-pinned.probe": MASTER_PORT ${port} (from envVars) is already in use on this machine, so rank 0 cannot listen on it. Stop whatever holds it, or remove envVars.MASTER_PORT to let flyte pick a free port.`,
      );
    } finally {
      srv.close();
    }
  });

  it("falls back to a free port when 29500 is taken; a direct call outside a run also runs the group", async () => {
    const srv = await listen(29500); // undefined when someone else already holds it: the point stands
    try {
      const out = await portProbe();
      expect(out.port).toMatch(/^\d+$/);
      expect(out.port).not.toBe("29500");
      expect([out.rank, out.runName]).toEqual([0, "local"]);
    } finally {
      srv?.close();
    }
  });
});
