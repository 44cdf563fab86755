import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { init, initFromConfig } from "flyte-ts";
import { InitializationError } from "flyte-ts/errors";

const root = () => mkdtempSync(join(tmpdir(), "flyte-config-"));

describe("init and configuration errors", () => {
  afterAll(async () => {
    await init({ root: root() });
  });

  it("rejects an unknown backend", async () => {
    const e = await init({ root: root(), backend: "mainframe" as "embedded" }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InitializationError);
    expect((e as Error).message).toMatch(/Unknown backend "mainframe". Use "embedded" \(default, one process, SQLite\) or "cluster"/);
  });

  it("the cluster backend needs a PostgreSQL database URL and storage", async () => {
    await expect(init({ root: root(), backend: "cluster" })).rejects.toThrow(/backend "cluster" needs a databaseUrl/);
    await expect(init({ root: root(), backend: "cluster", databaseUrl: "postgres://u:p@h/db" })).rejects.toThrow(/needs a storage URL/);
    // (cluster.store.test.ts opens it on a real PostgreSQL.)
    await expect(init({ root: root(), backend: "cluster", databaseUrl: "mysql://u:p@h/db", storage: "s3://b/p" })).rejects.toThrow(
      'The database URL "mysql://u:***@h/db" is not a PostgreSQL URL (it starts with mysql://). Use postgres://user:password@host:5432/database.',
    );
  });

  it("rejects an unsupported storage URL and run mode", async () => {
    await expect(init({ root: root(), storage: "ftp://host/x" })).rejects.toThrow(/Storage URL "ftp:\/\/host\/x" is not supported. Use a path, file:\/\/\/abs\/dir or s3:\/\/bucket\/prefix/);
    await expect(init({ root: root(), mode: "batch" as "local" })).rejects.toThrow(/Unknown run mode "batch"/);
  });

  it("names a missing config file and invalid values in one", async () => {
    await expect(initFromConfig(join(root(), "nope.yaml"))).rejects.toThrow(/Config file .*nope.yaml does not exist/);
    const dir = root();
    mkdirSync(join(dir, ".flyte"));
    writeFileSync(join(dir, ".flyte", "config.yaml"), "run:\n  maxActionConcurrency: -3\n");
    await expect(initFromConfig(join(dir, ".flyte", "config.yaml"))).rejects.toThrow(/config.yaml: run.maxActionConcurrency is invalid/);
    writeFileSync(join(dir, ".flyte", "config.yaml"), "run: [unclosed\n");
    await expect(initFromConfig(join(dir, ".flyte", "config.yaml"))).rejects.toThrow(/is not valid YAML/);
  });

  it("reads settings from the file and lets init options override them", async () => {
    const dir = root();
    mkdirSync(join(dir, ".flyte"));
    writeFileSync(join(dir, ".flyte", "config.yaml"), "project: proj-a\ndomain: staging\nstore:\n  stateDir: state\n");
    await init({ root: dir });
    const { getRuntime } = await import("../src/run/runtime.ts");
    expect(getRuntime().config).toMatchObject({ project: "proj-a", domain: "staging", stateDir: join(dir, "state") });
    await init({ root: dir, project: "proj-b" });
    expect(getRuntime().config.project).toBe("proj-b");
  });
});
