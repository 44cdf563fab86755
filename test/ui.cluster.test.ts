/**
 * `flyte ui` over the PostgreSQL store (`backend: "cluster"`, a real server from helpers/postgres.ts): the runs list,
 * a run's tree, an action with its I/O, cache record and blobs, logs, and the run page in Chromium. The server reads
 * through the public API only, so what works over SQLite works here.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium } from "playwright-core";
import { getRun, init, run, withRunContext, type Run } from "flyte-ts";
import type { File } from "flyte-ts/io";
import { startUiServer, type UiServer } from "flyte-ts/ui";
import { shutdown } from "../src/run/runtime.ts";
import { usePostgres } from "./helpers/postgres.ts";
import { cachedSquare, fan, files, xss } from "./fixtures/ui/tasks.ts";

const CHROMIUM = process.env.FLYTE_TEST_CHROMIUM ?? "/usr/bin/chromium";
const pgServer = usePostgres();
let ui: UiServer;
let fanRun: Run;

const get = async (path: string) => {
  const res = await fetch(`${ui.url}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), "flyte-ui-pg-"));
  await init({ root, backend: "cluster", databaseUrl: await pgServer().createDatabase(), storage: join(root, "blobs"), mode: "local" });
  ui = await startUiServer({ port: 0 });
  fanRun = await withRunContext({ labels: { team: "pg" } }).run(fan, { n: 5 });
  expect(await fanRun.wait()).toBe("succeeded");
}, 120_000);
afterAll(async () => {
  await ui?.close();
  await shutdown();
});

describe("flyte ui over PostgreSQL", () => {
  it("lists runs with filters, and answers a run's tree and an action's details, I/O and logs", async () => {
    const failed = await run(xss, { s: "fail" });
    expect(await failed.wait()).toBe("failed");
    expect(((await get("/api/runs?phase=failed")).body.runs as { name: string }[]).map((x) => x.name)).toEqual([failed.name]);
    const list = await get("/api/runs?label=team%3Dpg");
    expect(list.status).toBe(200);
    expect((list.body.runs as { name: string; phase: string }[]).map((r) => [r.name, r.phase])).toEqual([[fanRun.name, "succeeded"]]);
    expect((await get("/api/runs?task=no-such-task")).body.runs).toEqual([]);

    const r = await get(`/api/runs/${fanRun.name}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: fanRun.name, phase: "succeeded", terminal: true });
    // The packed tree: the root, 5 squares and the total, each row naming its action.
    const rows = (r.body.tree as { rows: [string][] }).rows;
    expect(rows.map((x) => x[0]).sort()).toEqual([...(await fanRun.details()).root.children.map((c) => c.name), "a0"].sort());

    const square = (await fanRun.details()).root.children.find((c) => c.taskName === "ui.square")!;
    const a = await get(`/api/runs/${fanRun.name}/actions/${square.name}`);
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ name: square.name, taskName: "ui.square", phase: "succeeded", group: "squares", io: { outputs: expect.any(Number) } });
    const root = await get(`/api/runs/${fanRun.name}/actions/a0`);
    expect(root.body).toMatchObject({ childCount: 6, io: { inputs: { n: 5 }, outputs: 0 + 1 + 4 + 9 + 16 } });
    expect((await get(`/api/runs/${fanRun.name}/actions/a9`)).status).toBe(404);
    expect((await get("/api/runs/no-such-run")).status).toBe(404);

    // Logs, as Server-Sent Events, ending with the run's phase.
    const sse = await (await fetch(`${ui.url}/api/runs/${fanRun.name}/logs?action=${square.name}`)).text();
    expect(sse).toMatch(/event: lines\ndata: .*squaring \d/);
    expect(sse).toMatch(/event: end\ndata: succeeded/);
  });

  it("keeps the cache record and serves an action's blobs from PostgreSQL's runs", async () => {
    const first = await run(cachedSquare, { x: 9 });
    await first.wait();
    const second = await run(cachedSquare, { x: 9 });
    await second.wait();
    const hit = await get(`/api/runs/${second.name}/actions/a0`);
    const miss = await get(`/api/runs/${first.name}/actions/a0`);
    expect(hit.body.cache).toMatchObject({ outcome: "hit", source: { runName: first.name, action: "a0" } });
    expect(miss.body.cache).toMatchObject({ outcome: "miss", key: (hit.body.cache as { key: string }).key });

    const f = await run(files, { rows: 3 });
    expect(await f.wait()).toBe("succeeded");
    const notes = ((await (await getRun(f.name)).outputs()) as { notes: File }).notes;
    const text = await get(`/api/runs/${f.name}/actions/a0/blob?${new URLSearchParams({ uri: notes.path, view: "text" })}`);
    expect(text).toMatchObject({ status: 200, body: { kind: "text", truncated: false } });
    expect((await get(`/api/runs/${f.name}/actions/a0/blob?uri=${encodeURIComponent("file:///etc/hostname")}&view=text`)).status).toBe(404);
  });

  it.skipIf(!existsSync(CHROMIUM))("opens the run page in Chromium", async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ["--no-sandbox"] : [] });
    try {
      const page = await browser.newPage();
      await page.goto(`${ui.url}/runs/${fanRun.name}`);
      const fanout = page.locator('[data-fanout="ui.square"]');
      await expect.poll(() => fanout.getByTestId("fanout-count").textContent()).toBe("×5");
      await expect.poll(() => page.locator(".run-head [data-phase]").getAttribute("data-phase")).toBe("succeeded");
    } finally {
      await browser.close();
    }
  }, 60_000);
});
