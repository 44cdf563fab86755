/**
 * Runs every example of the README tour (examples/tour/*.ts) through run() on a fresh embedded store and checks
 * its output, and checks that README.md shows each file (and examples/quickstart.ts) as it is.
 */
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { deploy, init, listDeployedTasks, run, type Run, type RunDetails } from "flyte-ts";
import type { TaskTemplate } from "flyte-ts/extend";
import { LocalSecretStore } from "../src/secrets/secret-store.ts";

const TOUR = new URL("../examples/tour/", import.meta.url);
const tourFiles = readdirSync(TOUR).filter((f) => f.endsWith(".ts")).sort();

/** A fresh project root, so runs, cache entries and secrets of one example never leak into another. */
async function freshRoot(): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), "ex-"));
  await init({ root });
  return root;
}

async function runMain(file: string, inputs: object = {}): Promise<{ r: Run<unknown>; out: unknown; details: RunDetails }> {
  const mod = (await import(new URL(file, TOUR).href)) as { main: TaskTemplate };
  const r = await run(mod.main, inputs);
  const out = await r.outputs();
  return { r, out, details: await r.details() };
}

const children = (d: RunDetails) => d.root.children.map((c) => ({ task: c.taskName.split(".")[1], phase: c.phase, cacheHit: c.cacheHit, attempts: c.attempts.length }));

describe("tour examples", () => {
  it("every example imports flyte-ts and exports a main task", async () => {
    expect(tourFiles.length).toBeGreaterThanOrEqual(8);
    for (const f of tourFiles) {
      expect(readFileSync(new URL(f, TOUR), "utf8"), f).toMatch(/from "flyte-ts"/);
      const mod = (await import(new URL(f, TOUR).href)) as Record<string, unknown>;
      expect(typeof mod.main, f).toBe("function");
      expect((mod.main as TaskTemplate).name, f).toMatch(/^tour-[a-z-]+\.main$/);
    }
  });

  it("every example has a test below", () => {
    expect(tourFiles).toEqual(Object.keys(CHECKS).sort());
  });

  const CHECKS: Record<string, () => Promise<void>> = {
    "inside-a-task.ts": async () => {
      const { out, details } = await runMain("inside-a-task.ts");
      expect(out).toEqual({ scores: [10, 20], team: "ml", failed: ["row 3 is corrupt"] });
      expect(details.root.children.map((c) => c.group)).toEqual(["score_map", "score_map", "score_map"]);
      expect(details.root.reportUri).toMatch(/report\.html$/);
    },

    "deploy.ts": async () => {
      const { out } = await runMain("deploy.ts");
      expect(out).toEqual(["ada", "grace"]);
      // Deployed from the repository root, with the state in a temp dir.
      await init({ root: join(import.meta.dirname, ".."), stateDir: mkdtempSync(join(tmpdir(), "ex-deploy-")) });
      const { main } = (await import(new URL("deploy.ts", TOUR).href)) as { main: TaskTemplate };
      const r = await deploy(main.env!);
      expect(r).toMatchObject({ status: "deployed", environments: [{ name: "tour-deploy-shared", tasks: ["tour-deploy-shared.normalize"] }, { name: "tour-deploy", image: "node:20-slim", tasks: ["tour-deploy.main"] }] });
      expect(r.bundle?.files).toEqual(["examples/tour/deploy.ts", "package.json", "tsconfig.json"]);
      expect((await deploy(main.env!)).status).toBe("unchanged");
      expect((await listDeployedTasks()).map((t) => [t.name, t.version])).toEqual([["tour-deploy-shared.normalize", r.version], ["tour-deploy.main", r.version]]);
    },

    "runs.ts": async () => {
      const { out } = await runMain("runs.ts");
      expect(out).toMatchObject({ phase: "succeeded", outputs: ["HELLO", "FLYTE"], children: 2, recovered: true });
      expect((out as { logs: string[] }).logs.sort()).toEqual(["shouting flyte (LOG_LEVEL=debug)", "shouting hello (LOG_LEVEL=debug)"]);
    },

    "inspect.ts": async () => {
      const { out } = await runMain("inspect.ts");
      expect(out).toEqual({ runs: 1, inputs: { x: 0 }, outputs: 0, deleted: 3, logged: 3 });
    },

    "environments.ts": async () => {
      const { out, details } = await runMain("environments.ts");
      expect(out).toEqual({ greetings: ["hello, Ada!", "hello, Grace!"], summary: { mean: 4, max: 5 } });
      expect(details.root.children.map((c) => c.taskName)).toEqual(["tour-base.greet", "tour-base.greet", "tour-heavy.stats"]);
      expect((await runMain("environments.ts", { names: ["Linus"] })).out).toEqual({ greetings: ["hello, Linus!"], summary: { mean: 5, max: 5 } });
    },

    "resources.ts": async () => {
      const { out, details } = await runMain("resources.ts");
      expect(out).toEqual({ result: "trained on 400 rows", gpu: "A100:1 (1g.5gb)" });
      expect(children(details).map((c) => c.task)).toEqual(["preprocess", "preprocess", "train"]);
    },

    "cache.ts": async () => {
      const first = await runMain("cache.ts");
      expect(first.out).toEqual({ first: 4, second: 4 });
      expect(children(first.details).map((c) => c.cacheHit)).toEqual([false, true]);
      const again = await runMain("cache.ts");
      expect(children(again.details).map((c) => c.cacheHit)).toEqual([true, true]);
      const other = await runMain("cache.ts", { text: "a different text" });
      expect(other.out).toEqual({ first: 3, second: 3 });
      expect(children(other.details).map((c) => c.cacheHit)).toEqual([false, true]);
    },

    "retries-timeouts.ts": async () => {
      const { out, details } = await runMain("retries-timeouts.ts");
      expect(out).toEqual({ retried: "succeeded after 2 failed attempts", timedOut: "TaskTimeoutError (maxRuntime)" });
      expect(children(details)).toEqual([
        { task: "flaky", phase: "succeeded", cacheHit: false, attempts: 3 },
        { task: "slow", phase: "timed_out", cacheHit: false, attempts: 1 },
      ]);
    },

    "secrets.ts": async () => {
      const root = await freshRoot();
      const store = new LocalSecretStore(join(root, ".flyte"));
      store.set({ key: "api-token" }, "tok-8f2a91c4e7");
      store.set({ key: "password", group: "db" }, "hunter2-db");
      const { r, out, details } = await runMain("secrets.ts");
      expect(out).toEqual({ tokenLength: 14, tokenInEnv: true, passwordInEnv: true });
      const lines: string[] = [];
      for await (const l of r.logs()) lines.push(l.message);
      expect(lines).toContain("calling the API with token ****");
      expect(JSON.stringify(details)).not.toContain("tok-8f2a91c4e7");
    },

    "reuse-pod-templates.ts": async () => {
      const { out, details } = await runMain("reuse-pod-templates.ts");
      expect(out).toEqual({ dims: [1, 2, 3, 4], message: "published 4 embeddings" });
      expect(children(details).map((c) => c.task)).toEqual(["embed", "embed", "embed", "embed", "publish"]);
    },

    "triggers.ts": async () => {
      const { out } = await runMain("triggers.ts");
      expect(out).toEqual({ report: "report for eu at 2024-06-01T00:00:00.000Z", triggers: ["hourly", "nightly-eu", "every-15m"] });
    },

    "errors.ts": async () => {
      const { out, details } = await runMain("errors.ts");
      expect(out).toEqual({
        failures: [
          { call: "parse empty", error: "NonRecoverableError", code: "NonRecoverableError" },
          { call: "parse bad JSON", error: "RuntimeUserError", code: "SyntaxError" },
          { call: "charge -1", error: "RuntimeDataValidationError", code: "DataValidationError" },
          { call: "reserve 150", error: "CustomError", code: "QuotaExceeded" },
        ],
        definitionError: 'Resources: memory "4GB" is not a Kubernetes quantity; use "4Gi" or "4G".',
      });
      // NonRecoverableError is not retried; the SyntaxError used both retries.
      expect(children(details).map((c) => [c.task, c.attempts])).toEqual([["parse", 1], ["parse", 3], ["reserve", 1]]);
    },
  };

  for (const [file, check] of Object.entries(CHECKS)) {
    it(`runs ${file}`, async () => {
      if (file !== "secrets.ts") await freshRoot();
      await check();
    });
  }
});

describe("README.md tour", () => {
  const md = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const blocks = [...md.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

  it("shows every tour example, without its header comment, exactly as the file is", () => {
    const quickstart = readFileSync(new URL("../examples/quickstart.ts", import.meta.url), "utf8").replace(/^\/\*\*[\s\S]*?\*\/\n/, "");
    expect(blocks).toContain(quickstart);
    for (const f of tourFiles) {
      const body = readFileSync(new URL(f, TOUR), "utf8").replace(/^\/\*\*[\s\S]*?\*\/\n/, "");
      expect(blocks, f).toContain(body);
    }
  });
});
