/**
 * The web UI's action page shows File, Dir and DataFrame values as previews and links (src/ui/blobs.ts), and the
 * cache key's parts. The blob endpoint serves only URIs the action's inputs and outputs hold, with headers that keep
 * the browser from rendering what it sends. Browser cases run in Debian's Chromium, like test/ui.browser.test.ts.
 */
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import { getRun, run, type Run } from "flyte-ts";
import type { DataFrame, Dir, File } from "flyte-ts/io";
import { startUiServer, type UiServer } from "flyte-ts/ui";
import { freshRuntime } from "./helpers/runtime.ts";
import { BIG_TEXT, cachedSquare, files, NOTES_TEXT, square } from "./fixtures/ui/tasks.ts";

const CHROMIUM = process.env.FLYTE_TEST_CHROMIUM ?? "/usr/bin/chromium";

interface FilesOut { notes: File; long: File; weights: File; folder: Dir; table: DataFrame }

let server: UiServer;
let filesRun: Run;
let out: FilesOut;
let other: Run;

const blob = (runName: string, action: string, q: Record<string, string>) =>
  fetch(`${server.url}/api/runs/${runName}/actions/${action}/blob?${new URLSearchParams(q)}`);
const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> });
const REFUSED = { status: 404, body: { error: { name: "NotFound", message: "This action's inputs and outputs hold no file, directory or data frame at that URI." } } };

beforeAll(async () => {
  await freshRuntime("flyte-ui-io-");
  server = await startUiServer({ port: 0 });
  filesRun = await run(files, { rows: 60 });
  expect(await filesRun.wait()).toBe("succeeded");
  out = (await filesRun.outputs()) as FilesOut;
  other = await run(square, { x: 3 });
  await other.wait();
}, 120_000);
afterAll(async () => {
  await server?.close();
});

describe("the blob endpoint", () => {
  it("previews a text file, says a binary one is binary, and downloads either as an attachment with safe headers", async () => {
    expect(await json(await blob(filesRun.name, "a0", { uri: out.notes.path, view: "text" }))).toEqual({ status: 200, body: { kind: "text", text: NOTES_TEXT, truncated: false } });
    expect(await json(await blob(filesRun.name, "a0", { uri: out.weights.path, view: "text" }))).toEqual({ status: 200, body: { kind: "binary", truncated: false } });
    // A long file: its first 64 KB, without the character its end cuts in two; the download has it all.
    expect(await json(await blob(filesRun.name, "a0", { uri: out.long.path, view: "text" }))).toEqual({ status: 200, body: { kind: "text", text: "a".repeat(64 * 1024 - 1), truncated: true } });
    expect(await (await blob(filesRun.name, "a0", { uri: out.long.path })).text()).toBe(BIG_TEXT);
    const res = await blob(filesRun.name, "a0", { uri: out.weights.path });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="weights.bin"; filename*=UTF-8''weights.bin`);
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-security-policy")).toBe("default-src 'none'; sandbox");
    expect([...new Uint8Array(await res.arrayBuffer())]).toEqual([0, 1, 2, 3, 255, 0, 7]);
  });

  it("lists a directory's files and serves a file listed under it", async () => {
    const list = await json(await blob(filesRun.name, "a0", { uri: out.folder.path, view: "list" }));
    expect(list.status).toBe(200);
    const entries = list.body.entries as { path: string; uri: string }[];
    expect(entries.map((e) => e.path)).toEqual(["a.csv", "sub/b.txt"]);
    expect(list.body.truncated).toBe(false);
    expect(await json(await blob(filesRun.name, "a0", { uri: entries[1]!.uri, view: "text" }))).toMatchObject({ body: { kind: "text", text: "bee" } });
    expect(await (await blob(filesRun.name, "a0", { uri: entries[0]!.uri })).text()).toBe("id,name\n1,one\n");
  });

  it("reads a data frame's first rows with its columns", async () => {
    const { status, body } = await json(await blob(filesRun.name, "a0", { uri: out.table.uri!, view: "rows" }));
    expect(status).toBe(200);
    expect((body.columns as { name: string }[]).map((c) => c.name)).toEqual(["id", "name", "score"]);
    const rows = body.rows as unknown[][];
    expect(rows).toHaveLength(50);
    expect(rows[3]).toEqual([3, "row 3", 1.5]);
    expect(body).toMatchObject({ truncated: true, numRows: 60 });
  });

  it("refuses any URI the action's values do not hold: arbitrary files, other actions' blobs, paths out of a directory", async () => {
    expect(await json(await blob(filesRun.name, "a0", { uri: "file:///etc/passwd", view: "text" }))).toEqual(REFUSED);
    expect(await json(await blob(filesRun.name, "a0", { uri: "/etc/passwd" }))).toEqual(REFUSED);
    // A blob of this run, asked for through another action (which does not hold it).
    expect(await json(await blob(other.name, "a0", { uri: out.notes.path, view: "text" }))).toEqual(REFUSED);
    expect(await json(await blob(filesRun.name, "a0", { uri: `${out.folder.path}/../notes.txt`, view: "text" }))).toEqual(REFUSED);
    expect(await json(await blob(filesRun.name, "a0", { uri: `${out.folder.path}/sub/../../weights.bin` }))).toEqual(REFUSED);
    // A view for another kind of value: a file is not listed, a directory not downloaded.
    expect(await json(await blob(filesRun.name, "a0", { uri: out.notes.path, view: "list" }))).toEqual(REFUSED);
    expect(await json(await blob(filesRun.name, "a0", { uri: out.folder.path }))).toEqual(REFUSED);
    expect(await json(await blob(filesRun.name, "a0", { uri: out.notes.path, view: "rows" }))).toEqual(REFUSED);
    expect(await json(await blob(filesRun.name, "a0", {}))).toEqual(REFUSED);
    expect(await json(await blob(filesRun.name, "a0", { uri: out.notes.path, view: "html" }))).toEqual({
      status: 400, body: { error: { name: "ValidationError", message: "view must be one of download, text, list, rows." } },
    });
    expect((await blob("no-such-run", "a0", { uri: out.notes.path })).status).toBe(404);
  });
});

describe.skipIf(!existsSync(CHROMIUM))("the action page in Chromium: blobs and the cache", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ["--no-sandbox"] : [] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });
  const openPage = async (): Promise<Page & { dialogs: string[] }> => {
    const page = (await browser.newPage()) as Page & { dialogs: string[] };
    page.dialogs = [];
    page.on("dialog", (d) => { page.dialogs.push(d.message()); void d.accept(); });
    return page;
  };

  it("previews the text file as text, marks the binary one, lists the directory and shows the frame's first rows", async () => {
    const page = await openPage();
    await page.goto(`${server.url}/runs/${filesRun.name}/actions/a0`);
    const notes = page.locator(`[data-uri="${out.notes.path}"]`);
    await notes.getByTestId("blob-preview").click();
    await expect.poll(() => notes.getByTestId("blob-text").textContent()).toBe(NOTES_TEXT);
    const weights = page.locator(`[data-uri="${out.weights.path}"]`);
    await weights.getByTestId("blob-preview").click();
    await weights.getByTestId("blob-binary").waitFor();
    const folder = page.locator(`[data-uri="${out.folder.path}"]`);
    await folder.getByTestId("blob-list").click();
    await expect.poll(() => folder.locator("[data-testid=dir-entries] > li").count()).toBe(2);
    const table = page.locator(`[data-uri="${out.table.uri}"]`);
    await table.getByTestId("blob-rows").click();
    await expect.poll(() => table.locator("tbody tr").count()).toBe(50);
    expect(await table.locator("thead th").allTextContents()).toEqual(["id", "name", "score"]);
    expect(await table.locator("tbody tr").nth(3).locator("td").allTextContents()).toEqual(["3", "row 3", "1.5"]);
    // The download link is an attachment.
    const href = await notes.getByTestId("blob-download").getAttribute("href");
    const res = await page.request.get(`${server.url}${href}`);
    expect(res.headers()["content-disposition"]).toBe(`attachment; filename="notes.txt"; filename*=UTF-8''notes.txt`);
    expect(await res.text()).toBe(NOTES_TEXT);
    // The file's <script>/<img onerror> content stayed text.
    expect(await page.locator("main script, main img").count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __xss?: string }).__xss)).toBeUndefined();
    expect(page.dialogs).toEqual([]);
    await page.close();
  });

  it("shows why an action hit or missed its cache: the outcome, the key and its parts, the run that wrote the entry", async () => {
    const first = await run(cachedSquare, { x: 4, note: "a" });
    await first.wait();
    const second = await run(cachedSquare, { x: 4, note: "b" });
    await second.wait();
    const key = (await (await (await getRun(second.name)).action("a0")).details()).cache?.key;
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    const page = await openPage();
    await page.goto(`${server.url}/runs/${second.name}/actions/a0`);
    const cache = page.getByTestId("cache");
    await expect.poll(() => cache.getByTestId("cache-outcome").textContent()).toBe("hit");
    expect(await cache.getByTestId("cache-key").textContent()).toBe(key);
    expect(await cache.getByTestId("cache-input").allTextContents()).toEqual([expect.stringMatching(/^input x[0-9a-f]{64}$/)]);
    expect(await cache.textContent()).toContain("ignored inputsnote");
    await cache.getByRole("link", { name: `${first.name} / a0` }).click();
    await page.waitForURL(`**/runs/${first.name}/actions/a0`);
    await expect.poll(() => page.getByTestId("cache-outcome").textContent()).toBe("miss");
    expect(await page.getByTestId("cache-key").textContent()).toBe(key);
    await page.close();
  });
});
