/**
 * `npm run screenshots`: screenshots of the web UI's main pages for the README (docs/ui-*.png), taken with
 * Debian's Chromium over a fresh store holding a few example runs (test/fixtures/ui/tasks.ts).
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { init, run, withRunContext } from "flyte-ts";
import { startUiServer } from "flyte-ts/ui";
import { cachedSquare, fan, files, flaky, slow, ticker, withReport, xss } from "../test/fixtures/ui/tasks.ts";

const out = resolve(import.meta.dirname, "../docs");
mkdirSync(out, { recursive: true });
await init({ root: mkdtempSync(join(tmpdir(), "flyte-shots-")) });

await (await run(xss, { s: "fail" })).wait();
await (await run(flaky)).wait();
await (await run(withReport)).wait();
await (await run(ticker, { lines: 12, every: 20 })).wait();
const filesRun = await run(files, { rows: 40 });
await filesRun.wait();
const cacheWriter = await run(cachedSquare, { x: 12, note: "first call" });
await cacheWriter.wait();
const cacheHit = await run(cachedSquare, { x: 12, note: "second call" });
await cacheHit.wait();
const fanRun = await withRunContext({ labels: { team: "data", env: "dev" } }).run(fan, { n: 24 });
await fanRun.wait();
const live = await withRunContext({ labels: { team: "ml" } }).run(slow, { lines: 200, every: 100 });

const server = await startUiServer({ port: 0 });
const browser = await chromium.launch({
  executablePath: process.env.FLYTE_TEST_CHROMIUM ?? "/usr/bin/chromium", headless: true,
  args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 760 }, deviceScaleFactor: 1 });
try {
  await page.goto(server.url);
  await page.locator(`tr[data-run="${live.name}"]`).waitFor();
  await page.screenshot({ path: join(out, "ui-runs.png") });

  await page.goto(`${server.url}/runs/${fanRun.name}`);
  await page.locator('[data-fanout="ui.square"]').click();
  await page.locator("[data-action]").nth(5).waitFor();
  await page.screenshot({ path: join(out, "ui-run.png") });

  await page.goto(`${server.url}/runs/${live.name}/actions/${(await (await live.details()).root.children[0]!).name}`);
  await page.locator('[data-testid="logs"] .msg').nth(10).waitFor();
  await page.screenshot({ path: join(out, "ui-logs.png") });

  const rep = (await import("flyte-ts")).listRuns;
  const reportRun = (await rep({ task: "withReport", limit: 1 }))[0]!;
  await page.goto(`${server.url}/runs/${reportRun.name}/actions/a0`);
  await page.frameLocator('[data-testid="report"]').locator("h1").waitFor();
  await page.screenshot({ path: join(out, "ui-action.png"), fullPage: true });

  const { notes, folder, table } = (await filesRun.outputs()) as { notes: { path: string }; folder: { path: string }; table: { uri: string } };
  await page.goto(`${server.url}/runs/${filesRun.name}/actions/a0`);
  await page.locator(`[data-uri="${notes.path}"]`).getByTestId("blob-preview").click();
  await page.locator(`[data-uri="${folder.path}"]`).getByTestId("blob-list").click();
  await page.locator(`[data-uri="${table.uri}"]`).getByTestId("blob-rows").click();
  await page.getByTestId("blob-text").waitFor();
  await page.getByTestId("dir-entries").waitFor();
  await page.getByTestId("frame-table").waitFor();
  await page.locator(".cols .panel").nth(1).screenshot({ path: join(out, "ui-io.png") });

  await page.goto(`${server.url}/runs/${cacheHit.name}/actions/a0`);
  await page.getByTestId("cache").waitFor();
  await page.screenshot({ path: join(out, "ui-cache.png") });
  console.log(`Screenshots written to ${out}`);
} finally {
  await live.abort("screenshots taken");
  await browser.close();
  await server.close();
  process.exit(0);
}
