/**
 * `flyte ui` in a real browser: Playwright (playwright-core) driving Debian's Chromium (`.ci/run` installs the
 * `chromium` apt package). The server runs in this process over a fresh embedded store, so the runs started here
 * are live while the pages watch them. The front end is built on demand from web/ (src/ui/assets.ts).
 */
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { getRun, run, withRunContext } from "flyte-ts";
import { startUiServer, type UiServer } from "flyte-ts/ui";
import { getRuntime } from "../src/run/runtime.ts";
import { flyte, freshRuntime } from "./helpers/runtime.ts";
import { fan, flaky, hang, slow, ticker, wide, withReport, xss, XSS_PAYLOAD } from "./fixtures/ui/tasks.ts";

const CHROMIUM = process.env.FLYTE_TEST_CHROMIUM ?? "/usr/bin/chromium";

let root: string;
let server: UiServer;
let browser: Browser;

/** A page that records whether any payload ran: a dialog, or the `__xss` flag the payloads set. */
async function openPage(): Promise<Page & { dialogs: string[] }> {
  const page = (await browser.newPage()) as Page & { dialogs: string[] };
  page.dialogs = [];
  page.on("dialog", (d) => { page.dialogs.push(`${d.type()}: ${d.message()}`); void d.accept(); });
  return page;
}
const xssFlag = (page: Page) => page.evaluate(() => (globalThis as { __xss?: string }).__xss);
async function phaseOf(name: string) {
  return (await getRun(name)).phase();
}
async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!existsSync(CHROMIUM))("flyte ui in Chromium", () => {
  beforeAll(async () => {
    root = await freshRuntime("flyte-ui-");
    server = await startUiServer({ port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ["--no-sandbox"] : [] });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("lists runs newest first and filters them by phase, task and label", async () => {
    const a = await withRunContext({ labels: { team: "red" } }).run(fan, { n: 12 });
    await a.wait();
    const b = await run(flaky);
    await b.wait();
    const c = await run(xss, { s: "fail" });
    await c.wait();
    const page = await openPage();
    await page.goto(server.url);
    const names = () => page.locator("tr[data-run]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-run")));
    await page.locator(`tr[data-run="${c.name}"]`).waitFor();
    expect((await names()).slice(0, 3)).toEqual([c.name, b.name, a.name]);
    await page.getByTestId("filter-phase").selectOption("failed");
    await expect.poll(names).toEqual([c.name]);
    expect(page.url()).toContain("phase=failed");
    await page.goto(server.url);
    await page.getByTestId("filter-task").fill("ui.fan");
    await page.getByRole("button", { name: "Filter" }).click();
    await expect.poll(names).toEqual([a.name]);
    await page.goto(`${server.url}/?label=team%3Dred`);
    await expect.poll(names).toEqual([a.name]);
    await page.goto(`${server.url}/?task=no-such-task`);
    await page.getByTestId("no-runs").waitFor();
    await page.close();
  });

  it("opens a run that is still running and watches it finish", async () => {
    const r = await run(slow, { lines: 25, every: 200 });
    const page = await openPage();
    await page.goto(`${server.url}/runs/${r.name}`);
    const head = page.locator(".run-head [data-phase]");
    await expect.poll(() => head.getAttribute("data-phase"), { timeout: 4000 }).toBe("running");
    await page.locator('[data-action="a0"]').waitFor();
    await expect.poll(() => head.getAttribute("data-phase"), { timeout: 20_000 }).toBe("succeeded");
    expect(await page.locator("[data-action]").count()).toBe(3); // slow, ticker, square
    expect(await page.locator(".gantt .bar").count()).toBeGreaterThanOrEqual(3);
    await page.close();
  });

  it("collapses a fan-out with its count and expands it; the tree works from the keyboard", async () => {
    const r = await run(fan, { n: 12 });
    await r.wait();
    const page = await openPage();
    await page.goto(`${server.url}/runs/${r.name}`);
    const fanout = page.locator('[data-fanout="ui.square"]');
    await expect.poll(() => fanout.getByTestId("fanout-count").textContent()).toBe("×12");
    expect(await page.locator("[data-action]").count()).toBe(2); // fan and total; the 12 squares are collapsed
    await fanout.click();
    await expect.poll(() => page.locator("[data-action]").count()).toBe(14);
    // Keyboard (the click selected the fan-out row, the third): up to the top, back down to it, collapse it with ArrowLeft.
    await page.getByTestId("tree").focus();
    for (const key of ["ArrowUp", "ArrowUp", "ArrowUp", "ArrowDown", "ArrowDown"]) await page.keyboard.press(key);
    await page.keyboard.press("ArrowLeft");
    await expect.poll(() => page.locator("[data-action]").count()).toBe(2);
    // The timeline: the critical path runs through fan and total (the child that ended last).
    const total = (await r.details()).root.children.find((c) => c.taskName === "ui.total")!;
    expect(await page.locator(`[data-action="${total.name}"] .bar.crit`).count()).toBe(1);
    expect(await page.locator('[data-action="a0"] .bar.crit').count()).toBe(1);
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("Enter");
    await page.waitForURL(`**/runs/${r.name}/actions/a0`);
    await page.getByTestId("outputs").waitFor();
    expect(await page.getByTestId("outputs").textContent()).toBe(String(Array.from({ length: 12 }, (_, x) => x * x).reduce((p, q) => p + q, 0)));
    await page.close();
  });

  it("follows an action's logs while it prints, and searches them", async () => {
    const r = await run(ticker, { lines: 12, every: 500 });
    const page = await openPage();
    await page.goto(`${server.url}/runs/${r.name}/actions/a0`);
    const lines = () => page.locator('[data-testid="logs"] .msg').allTextContents();
    // The page and its event stream may take a few seconds to open on a loaded machine; the ticker prints for 6 s.
    await expect.poll(lines, { timeout: 5000 }).toContain("tick 0");
    expect(await lines()).not.toContain("tick 11"); // still printing
    await expect.poll(lines, { timeout: 15_000 }).toContain("tick 11");
    await expect.poll(() => page.getByTestId("logs-state").textContent()).toBe("ended");
    await page.getByTestId("logs-search").fill("tick 1");
    await expect.poll(lines).toEqual(["tick 1", "tick 10", "tick 11"]);
    await page.close();
  });

  it("shows a report in a sandboxed iframe where its scripts do not run", async () => {
    const r = await run(withReport);
    await r.wait();
    const page = await openPage();
    await page.goto(`${server.url}/runs/${r.name}/actions/a0`);
    const frame = page.getByTestId("report");
    await frame.waitFor();
    expect(await frame.getAttribute("sandbox")).toBe("");
    await expect.poll(() => page.frameLocator('[data-testid="report"]').locator("h1").textContent()).toBe("Hello report");
    const res = await fetch(`${server.url}/api/runs/${r.name}/actions/a0/report`);
    expect(res.headers.get("content-security-policy")).toMatch(/^sandbox; default-src 'none'/);
    expect(await xssFlag(page)).toBeUndefined();
    await page.close();
  });

  it("aborts a run from the UI after a confirmation; flyte get run shows it aborted", async () => {
    const r = await run(hang);
    const page = await openPage();
    await page.goto(`${server.url}/runs/${r.name}`);
    await page.getByTestId("abort").click();
    expect(page.dialogs).toEqual([`confirm: Abort run ${r.name}?`]);
    expect(await until(() => phaseOf(r.name), (p) => p === "aborted")).toBe("aborted");
    await expect.poll(() => page.locator(".run-head [data-phase]").getAttribute("data-phase")).toBe("aborted");
    const cli = flyte(root, ["get", "run", r.name, "--output-format", "json"]);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout).phase).toBe("aborted");
    await page.close();
  });

  it("renders names, labels, logs, outputs and errors that carry <script> and <img onerror> as text", async () => {
    const bad = await withRunContext({ labels: { note: XSS_PAYLOAD } }).run(xss, { s: "fail" });
    await bad.wait();
    const good = await run(xss, { s: "ok" });
    await good.wait();
    const page = await openPage();
    await page.goto(server.url);
    await page.locator(`tr[data-run="${bad.name}"]`).waitFor();
    expect(await page.locator(`tr[data-run="${bad.name}"]`).textContent()).toContain(`note=${XSS_PAYLOAD}`);
    for (const r of [bad, good]) {
      await page.goto(`${server.url}/runs/${r.name}`);
      await page.locator('[data-action="a0"]').waitFor();
      expect(await page.locator('[data-action="a0"] .name').textContent()).toContain(`evil ${XSS_PAYLOAD}`);
      await page.goto(`${server.url}/runs/${r.name}/actions/a0`);
      await expect.poll(() => page.getByTestId("logs").textContent()).toContain(`err ${XSS_PAYLOAD}`);
      expect(await page.getByTestId("action-name").textContent()).toBe(`evil ${XSS_PAYLOAD}`);
    }
    expect(await page.getByTestId("outputs").textContent()).toContain(`${XSS_PAYLOAD}ok`);
    await page.goto(`${server.url}/runs/${bad.name}/actions/a0`);
    await expect.poll(() => page.getByTestId("error").first().textContent()).toContain(`boom ${XSS_PAYLOAD}`);
    expect(await page.locator("main script, main img").count()).toBe(0);
    expect(await xssFlag(page)).toBeUndefined();
    expect(page.dialogs).toEqual([]);
    await page.close();
  });

  it("says when a run or an action does not exist, with a link back", async () => {
    const page = await openPage();
    await page.goto(`${server.url}/runs/no-such-run`);
    await page.getByTestId("not-found").waitFor();
    expect(await page.getByTestId("not-found").textContent()).toContain("no-such-run");
    await page.getByRole("link", { name: "Back to the runs" }).click();
    await page.waitForURL(`${server.url}/`);
    const r = await run(flaky);
    await r.wait();
    await page.goto(`${server.url}/runs/${r.name}/actions/a9`);
    await page.getByTestId("not-found").waitFor();
    expect(await page.getByTestId("not-found").textContent()).toContain('Action "a9" does not exist');
    await page.getByRole("link", { name: "Back to the run" }).click();
    await page.waitForURL(`${server.url}/runs/${r.name}`);
    await page.close();
  });

  it("shows a retried action's attempts as separate timeline bars, the failed one marked", async () => {
    const r = await run(flaky);
    await r.wait();
    const page = await openPage();
    await page.goto(`${server.url}/runs/${r.name}`);
    const row = page.locator('[data-action="a0"]');
    await row.waitFor();
    expect(await row.locator(".bar").count()).toBe(2);
    expect(await row.locator(".bar.phase-failed").count()).toBe(1);
    expect(await row.textContent()).toContain("2 attempts");
    await page.goto(`${server.url}/runs/${r.name}/actions/a0`);
    await expect.poll(() => page.getByTestId("error").first().textContent()).toContain("first try fails");
    await page.close();
  });

  it("recovers an ended run from the UI after a confirmation", async () => {
    const recovering = await startUiServer({
      port: 0, recover: async (name) => (await withRunContext({ recoverFrom: name }).run(fan, undefined as never)).name,
    });
    try {
      const r = await run(fan, { n: 6 });
      await r.wait();
      const page = await openPage();
      await page.goto(`${recovering.url}/runs/${r.name}`);
      await page.getByTestId("recover").click();
      expect(page.dialogs).toEqual([`confirm: Start a new run that recovers ${r.name}?`]);
      await page.waitForURL((u) => u.pathname.startsWith("/runs/") && !u.pathname.endsWith(r.name));
      const name = decodeURIComponent(new URL(page.url()).pathname.split("/")[2]!);
      expect(await (await getRun(name)).wait()).toBe("succeeded");
      expect((await (await getRun(name)).details()).recoverFrom).toBe(r.name);
      await expect.poll(() => page.locator('[data-action="a0"] .tag.recovered').count()).toBe(1);
      await page.close();
    } finally {
      await recovering.close();
    }
  });

  it("measures a run of 10,000 actions and a store of 10,000 runs (printed; targets in the README)", async () => {
    const r = await run(wide, { n: 10_000 });
    expect(await r.wait()).toBe("succeeded");
    const page = await openPage();
    await page.goto(server.url); // warm: the front end's files are cached
    let t = performance.now();
    await page.goto(`${server.url}/runs/${r.name}`);
    await page.locator('[data-fanout="ui.tiny"]').waitFor();
    await page.locator(".gantt .bar").first().waitFor();
    const runMs = performance.now() - t;
    const apiMs = await page.evaluate((n) => performance.getEntriesByType("resource").find((e) => e.name.endsWith(`/api/runs/${n}`))?.duration ?? NaN, r.name);
    // Opened again (the server keeps the answer for an ended run): what is left is transfer and rendering.
    await page.goto(server.url);
    t = performance.now();
    await page.goto(`${server.url}/runs/${r.name}`);
    await page.locator('[data-fanout="ui.tiny"]').waitFor();
    await page.locator(".gantt .bar").first().waitFor();
    const reopenMs = performance.now() - t;
    // Expanded: all 10,000 rows are in the (virtualised) tree.
    t = performance.now();
    await page.locator('[data-fanout="ui.tiny"]').click();
    await expect.poll(() => page.locator("[data-action]").count()).toBeGreaterThan(10);
    const expandMs = performance.now() - t;
    // 10,000 more runs, recorded directly in the store (creating them through run() would take minutes).
    const store = getRuntime().store;
    const base = (await store.getRun({ project: getRuntime().config.project, domain: getRuntime().config.domain, name: r.name }))!;
    const now = Date.now();
    await Promise.all(Array.from({ length: 10_000 }, (_, i) => store.createRun({
      ...base, name: `bulk-${String(i).padStart(5, "0")}`, createdAt: now + i, startedAt: now + i, endedAt: now + i + 5,
      ownerId: null, ownerPid: null, ownerHost: null, leaseExpiresAt: null, labels: { batch: String(i % 10) },
    })));
    t = performance.now();
    await page.goto(server.url);
    await page.locator('tr[data-run="bulk-09999"]').waitFor();
    const runsMs = performance.now() - t;
    t = performance.now();
    await page.goto(`${server.url}/?label=batch%3D3&offset=500`);
    await page.locator('tr[data-run="bulk-04003"]').waitFor();
    const pageMs = performance.now() - t;
    console.log(`flyte ui: run of 10,000 actions opened in ${runMs.toFixed(0)} ms (of which the API call ${apiMs.toFixed(0)} ms), reopened in ${reopenMs.toFixed(0)} ms, fan-out expanded in ${expandMs.toFixed(0)} ms; `
      + `runs page over 10,000+ runs in ${runsMs.toFixed(0)} ms; label-filtered 6th page in ${pageMs.toFixed(0)} ms`);
    await page.close();
  }, 120_000);
});

describe("flyte ui server (no browser)", () => {
  it("with a token refuses requests without it (401, one line) and mutating requests from another origin (403)", async () => {
    await freshRuntime("flyte-ui-token-");
    const s = await startUiServer({ port: 0, token: "s3cret" });
    try {
      const none = await fetch(`${s.url}/api/runs`);
      expect(none.status).toBe(401);
      expect((await none.text()).trim().split("\n")).toHaveLength(1);
      expect((await fetch(`${s.url}/api/runs`, { headers: { authorization: "Bearer nope" } })).status).toBe(401);
      expect((await fetch(`${s.url}/api/runs`, { headers: { authorization: "Bearer s3cret" } })).status).toBe(200);
      const login = await fetch(`${s.url}/?token=s3cret`, { redirect: "manual" });
      expect(login.status).toBe(302);
      const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
      expect((await fetch(`${s.url}/api/runs`, { headers: { cookie } })).status).toBe(200);
      const r = await run(hang);
      const evil = await fetch(`${s.url}/api/runs/${r.name}/abort`, { method: "POST", headers: { cookie, origin: "http://evil.example" } });
      expect(evil.status).toBe(403);
      expect(await r.phase()).not.toBe("aborted");
      const ok = await fetch(`${s.url}/api/runs/${r.name}/abort`, { method: "POST", headers: { cookie, origin: s.url } });
      expect(ok.status).toBe(200);
      expect(await r.wait()).toBe("aborted");
    } finally {
      await s.close();
    }
  });

  it("without a token answers only requests addressed to a loopback name (no DNS rebinding)", async () => {
    const s = await startUiServer({ port: 0 });
    try {
      const { request } = await import("node:http");
      const status = (host: string) => new Promise<number>((resolve, reject) => {
        request({ host: "127.0.0.1", port: s.port, path: "/api/runs", headers: { host } }, (res) => { res.resume(); resolve(res.statusCode!); }).on("error", reject).end();
      });
      expect(await status(`127.0.0.1:${s.port}`)).toBe(200);
      expect(await status(`localhost:${s.port}`)).toBe(200);
      expect(await status(`evil.example:${s.port}`)).toBe(403);
    } finally {
      await s.close();
    }
  });

  it("names a port in use and suggests --port", async () => {
    const a = await startUiServer({ port: 0 });
    try {
      await expect(startUiServer({ port: a.port })).rejects.toThrow(`Port ${a.port} on 127.0.0.1 is already in use. Pick another with: flyte ui --port <n>`);
    } finally {
      await a.close();
    }
  });

  it("flyte ui: a port in use is a usage error naming it; a store that cannot be opened fails as in any command", async () => {
    const dir = await freshRuntime("flyte-ui-cli-");
    const taken = await startUiServer({ port: 0 });
    try {
      const r = flyte(dir, ["ui", "--port", String(taken.port)]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`error: Port ${taken.port} on 127.0.0.1 is already in use. Pick another with: flyte ui --port <n>\n`);
    } finally {
      await taken.close();
    }
    const broken = mkdtempSync(join(tmpdir(), "flyte-ui-broken-"));
    writeFileSync(join(broken, ".flyte"), "not a directory");
    const get = flyte(broken, ["get", "runs"]);
    const ui = flyte(broken, ["ui", "--port", "0"]);
    expect(ui.code).toBe(get.code);
    expect(get.code).not.toBe(0);
    expect(ui.stderr.split("\n")[0]).toBe(get.stderr.split("\n")[0]);
  });

  it("requires a token for a host other than loopback (generates one)", async () => {
    const s = await startUiServer({ port: 0, host: "0.0.0.0" });
    try {
      expect(s.token).toMatch(/^[\w-]{20,}$/);
      expect(s.openUrl).toBe(`${s.url}/?token=${s.token}`);
      expect((await fetch(`http://127.0.0.1:${s.port}/api/runs`)).status).toBe(401);
    } finally {
      await s.close();
    }
  });
});
