/**
 * The `flyte ui` server: a JSON API over the public read API (`listRuns`, `getRun`, `Run.details()`,
 * `Run.action()`, `Run.logs()`, `Run.abort()`) and the prebuilt front end. Bound to 127.0.0.1 unless told
 * otherwise; with a token every request must carry it (cookie set by `/?token=…`, or `Authorization: Bearer`),
 * and the mutating endpoints (abort, recover) also check the request's Origin.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { Hono, type Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { streamSSE } from "hono/streaming";
import { FlyteError } from "../errors.ts";
import { ACTION_PHASES, getRun, listRuns, TERMINAL_PHASES, type ActionDetails, type ActionPhase } from "../index.ts";
import { File } from "../io/index.ts";
import { loadAssets, type UiAssets } from "./assets.ts";
import { registerBlobRoutes } from "./blobs.ts";
import { packTree } from "./tree-codec.ts";
import { toWire } from "./wire.ts";

export interface UiServerOptions {
  port?: number;
  /** Default 127.0.0.1. Any other host requires a token. */
  host?: string;
  /** Required unless the host is loopback; `true` generates one. */
  token?: string | true;
  /** Starts a recovery of `runName` and returns the new run's name (given by the CLI, which can load task files). */
  recover?: (runName: string) => Promise<string>;
  /** Where the built front end is (default: found next to this module, or built on demand in a source checkout). */
  assets?: UiAssets;
}

export interface UiServer {
  url: string;
  /** The URL including the token (what to open in a browser), or `url` when there is no token. */
  openUrl: string;
  port: number;
  token?: string;
  close(): Promise<void>;
}

/** A port that is taken or cannot be bound; the message names it and suggests --port. */
export class UiPortError extends Error {
  constructor(port: number, host: string, cause: string) {
    super(`Port ${port} on ${host} is ${cause === "EADDRINUSE" ? "already in use" : `not available (${cause})`}. Pick another with: flyte ui --port <n>`);
    this.name = "UiPortError";
  }
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);
const PAGE_MAX = 500;
const REPORT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:";
const APP_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'";

function sameToken(a: string | undefined, b: string): boolean {
  if (!a) return false;
  const x = Buffer.from(a), y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Builds the Hono app (exported for tests that call `app.request()` without a socket). */
export function createUiApp(o: {
  token?: string; recover?: UiServerOptions["recover"]; assets: UiAssets; origins: () => string[];
  /** Host headers answered when there is no token (loopback names with the port). */
  hosts?: () => string[];
}): Hono {
  const app = new Hono();
  const token = o.token;
  const ended = new Map<string, string>();

  app.use("*", async (c, next) => {
    // Without a token only loopback Host names are answered: a web page cannot rebind its own name to 127.0.0.1.
    const hosts = o.hosts?.();
    if (!token && hosts && !hosts.includes(c.req.header("host") ?? "")) {
      return c.text("403: this UI answers only requests addressed to 127.0.0.1 or localhost.\n", 403);
    }
    if (token) {
      const q = c.req.query("token");
      if (q !== undefined && sameToken(q, token) && c.req.method === "GET" && !c.req.path.startsWith("/api/")) {
        setCookie(c, "flyte_ui_token", token, { httpOnly: true, sameSite: "Strict", path: "/" });
        const url = new URL(c.req.url);
        url.searchParams.delete("token");
        return c.redirect(url.pathname + url.search, 302);
      }
      const auth = c.req.header("authorization");
      const given = auth?.startsWith("Bearer ") ? auth.slice(7) : getCookie(c, "flyte_ui_token");
      if (!sameToken(given, token)) {
        return c.text(given ? "401: wrong token. Open the URL `flyte ui` printed (it carries ?token=…).\n" : "401: this UI needs a token. Open the URL `flyte ui` printed (it carries ?token=…).\n", 401);
      }
    }
    await next();
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    if (!c.res.headers.has("Content-Security-Policy")) c.header("Content-Security-Policy", APP_CSP);
  });

  app.onError((e, c) => {
    if (e instanceof FlyteError) {
      const status = /NotFound/.test(e.name) ? 404 : e.kind === "user" ? 400 : 500;
      return c.json({ error: { name: e.name, message: e.message } }, status);
    }
    return c.json({ error: { name: "InternalError", message: (e as Error)?.message ?? String(e) } }, 500);
  });

  const mutating = (c: Context): Response | undefined => {
    const origin = c.req.header("origin");
    if (!origin || !o.origins().includes(origin)) {
      return c.json({ error: { name: "Forbidden", message: `Refused: the request's Origin (${origin ?? "none"}) is not this UI.` } }, 403);
    }
    return undefined;
  };

  app.get("/api/runs", async (c) => {
    const phase = c.req.query("phase") || undefined;
    if (phase !== undefined && !ACTION_PHASES.includes(phase as ActionPhase)) {
      return c.json({ error: { name: "ValidationError", message: `phase must be one of ${ACTION_PHASES.join(", ")}.` } }, 400);
    }
    const labelText = c.req.query("label") || undefined;
    const eq = labelText?.indexOf("=") ?? -1;
    if (labelText !== undefined && eq <= 0) return c.json({ error: { name: "ValidationError", message: "label must be key=value." } }, 400);
    const offset = Math.max(0, Number(c.req.query("offset") ?? 0) | 0);
    const limit = Math.min(PAGE_MAX, Math.max(1, Number(c.req.query("limit") ?? 100) | 0));
    const task = c.req.query("task") || undefined;
    // listRuns has no offset: read one page past the end to know whether another page exists.
    const rows = await listRuns({
      limit: offset + limit + 1, ...(phase ? { phase: phase as ActionPhase } : {}), ...(task ? { task } : {}),
      ...(labelText ? { label: [labelText.slice(0, eq), labelText.slice(eq + 1)] as [string, string] } : {}),
    });
    return c.json({ runs: rows.slice(offset, offset + limit).map(toWire), offset, hasMore: rows.length > offset + limit });
  });

  app.get("/api/runs/:name", async (c) => {
    const name = c.req.param("name");
    const cached = ended.get(name);
    if (cached) return c.body(cached, 200, { "Content-Type": "application/json; charset=utf-8" });
    const r = await getRun(name);
    const { root, ...d } = await r.details();
    const src = await r.source();
    const terminal = TERMINAL_PHASES.includes(d.phase);
    const body = JSON.stringify({ ...(toWire(d) as object), tree: packTree(root), url: r.url, recoverable: Boolean(src.file && o.recover), terminal });
    // An ended run no longer changes: keep the last few answers (a 10,000-action tree takes a while to read).
    if (terminal) {
      ended.set(name, body);
      if (ended.size > 8) ended.delete(ended.keys().next().value!);
    }
    return c.body(body, 200, { "Content-Type": "application/json; charset=utf-8" });
  });

  app.get("/api/runs/:name/actions/:action", async (c) => {
    const r = await getRun(c.req.param("name"));
    const a = await r.action(c.req.param("action"));
    const details = await a.details();
    const io = await a.io();
    const { children, ...rest } = details;
    return c.json(toWire({ ...rest, childCount: children.length, children: children.slice(0, 200).map(summaryOf), io }));
  });

  app.get("/api/runs/:name/actions/:action/report", async (c) => {
    const r = await getRun(c.req.param("name"));
    const d = await (await r.action(c.req.param("action"))).details();
    if (!d.reportUri) return c.text("This action has no report.", 404);
    let html: string;
    try {
      html = d.reportUri.startsWith("file:") ? readFileSync(new URL(d.reportUri), "utf8") : await File.fromExisting(d.reportUri).text();
    } catch {
      return c.text("The report file cannot be read.", 404);
    }
    return c.body(html, 200, { "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": REPORT_CSP });
  });

  app.get("/api/runs/:name/logs", async (c) => {
    const r = await getRun(c.req.param("name"));
    const action = c.req.query("action") || undefined;
    const attemptText = c.req.query("attempt");
    const attempt = attemptText ? Number(attemptText) : undefined;
    if (action !== undefined) await r.action(action);
    return streamSSE(c, async (stream) => {
      let aborted = false;
      stream.onAbort(() => { aborted = true; });
      const batch: unknown[] = [];
      let last = Date.now();
      const flush = async () => {
        if (batch.length) await stream.writeSSE({ event: "lines", data: JSON.stringify(batch.splice(0)) });
        last = Date.now();
      };
      try {
        for await (const l of r.logs({ ...(action ? { action } : {}), ...(attempt !== undefined ? { attempt } : {}), follow: true })) {
          if (aborted) return;
          batch.push({ time: l.time.getTime(), action: l.action, attempt: l.attempt, stream: l.stream, message: l.message });
          if (batch.length >= 500 || Date.now() - last > 100) await flush();
        }
        await flush();
        await stream.writeSSE({ event: "end", data: await r.phase() });
      } catch (e) {
        await stream.writeSSE({ event: "failed", data: (e as Error).message });
      }
    });
  });

  app.post("/api/runs/:name/abort", async (c) => {
    const refused = mutating(c);
    if (refused) return refused;
    const r = await getRun(c.req.param("name"));
    if (TERMINAL_PHASES.includes(await r.phase())) return c.json({ phase: await r.phase(), already: true });
    await r.abort("aborted from the web UI");
    return c.json({ phase: await r.phase() });
  });

  app.post("/api/runs/:name/recover", async (c) => {
    const refused = mutating(c);
    if (refused) return refused;
    if (!o.recover) return c.json({ error: { name: "Unsupported", message: "This server cannot recover runs." } }, 400);
    const name = await o.recover(c.req.param("name"));
    return c.json({ name });
  });

  registerBlobRoutes(app);

  app.all("/api/*", (c) => c.json({ error: { name: "NotFound", message: `No API endpoint ${c.req.path}.` } }, 404));

  app.get("*", (c) => {
    const file = o.assets.file(c.req.path);
    if (file) return c.body(file.body as Uint8Array<ArrayBuffer>, 200, { "Content-Type": file.type, "Cache-Control": "public, max-age=31536000, immutable" });
    return c.html(o.assets.index());
  });
  return app;
}

function summaryOf(a: ActionDetails) {
  return { name: a.name, shortName: a.shortName, taskName: a.taskName, phase: a.phase, group: a.group, cacheHit: a.cacheHit, recovered: a.recovered };
}

/** Starts the server (after the runtime was opened with `init`/`initFromConfig`). */
export async function startUiServer(o: UiServerOptions = {}): Promise<UiServer> {
  const host = o.host ?? "127.0.0.1";
  const port = o.port ?? 8080;
  let token = o.token === true ? randomBytes(18).toString("base64url") : o.token;
  if (!LOOPBACK.has(host) && !token) token = randomBytes(18).toString("base64url");
  const assets = o.assets ?? (await loadAssets());
  let origins: string[] = [];
  const app = createUiApp({
    ...(token ? { token } : {}), ...(o.recover ? { recover: o.recover } : {}), assets, origins: () => origins,
    hosts: () => origins.map((u) => new URL(u).host),
  });
  const server = createAdaptorServer({ fetch: app.fetch });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(new UiPortError(port, host, e.code ?? e.message)));
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host;
  const url = `http://${shown}:${actual}`;
  origins = [url, ...(LOOPBACK.has(host) ? [`http://localhost:${actual}`, `http://127.0.0.1:${actual}`, `http://[::1]:${actual}`] : [])];
  return {
    url, openUrl: token ? `${url}/?token=${token}` : url, port: actual, ...(token ? { token } : {}),
    close: () => new Promise<void>((resolve) => {
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}
