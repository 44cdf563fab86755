/**
 * The built front end. An installed package ships it prebuilt next to this module (dist/ui/web, made by
 * `npm run build`). A source checkout (where the CLI runs src/ through tsx) builds it on first use with Vite,
 * a dev dependency there, into .ui-build/ (git-ignored), and again whenever web/ changed since.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

export interface UiAssets {
  /** A built file by URL path (`/assets/x.js`), or undefined. */
  file(path: string): { body: Uint8Array; type: string } | undefined;
  index(): string;
}

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8",
  ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".json": "application/json",
};

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

/** Serves the files of a built front end from memory. */
export function assetsFrom(dir: string): UiAssets {
  const files = new Map<string, { body: Uint8Array; type: string }>();
  for (const p of walk(dir)) {
    files.set(`/${relative(dir, p).split(sep).join("/")}`, { body: readFileSync(p), type: TYPES[extname(p)] ?? "application/octet-stream" });
  }
  const index = Buffer.from(files.get("/index.html")!.body).toString("utf8");
  return { file: (path) => (path === "/index.html" ? undefined : files.get(path)), index: () => index };
}

function newest(dir: string): number {
  return Math.max(0, ...walk(dir).map((p) => statSync(p).mtimeMs));
}

/** Builds the front end of a source checkout (`root`) into `outDir` with Vite when it is missing or stale. */
export async function buildCheckoutAssets(root: string, outDir = join(root, ".ui-build")): Promise<string> {
  const web = join(root, "web");
  const built = join(outDir, "index.html");
  if (existsSync(built) && statSync(built).mtimeMs >= newest(web)) return outDir;
  const vite = (await import("vite")) as typeof import("vite");
  await vite.build({ configFile: join(web, "vite.config.ts"), logLevel: "warn", build: { outDir, emptyOutDir: true } });
  return outDir;
}

/** The front end this installation serves. */
export async function loadAssets(): Promise<UiAssets> {
  const shipped = fileURLToPath(new URL("./web/", import.meta.url));
  if (existsSync(join(shipped, "index.html"))) return assetsFrom(shipped);
  const root = fileURLToPath(new URL("../../", import.meta.url));
  if (existsSync(join(root, "web", "vite.config.ts"))) return assetsFrom(await buildCheckoutAssets(root));
  throw new Error(`The web UI's files are missing from ${shipped}. Reinstall flyte-ts.`);
}
