/**
 * The package as users get it: `npm pack` (which builds dist/ through `prepack`), installed with
 * `npm i <tarball> typescript zod` into a fresh project outside this repo, typechecked with a tsconfig a user would
 * write, and run with `npx flyte run`. Needs the npm registry; fails with a clear message when it is unreachable.
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO } from "./helpers/runtime.ts";

const INSTALL_TIMEOUT_MS = 300_000;

interface Result { code: number | null; out: string }

/** Runs a command without blocking the event loop (vitest's worker must keep answering while npm installs). */
function sh(cmd: string, args: string[], cwd: string, timeoutMs = 120_000, env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, FLYTE_CONFIG: "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`\`${cmd} ${args.join(" ")}\` did not finish within ${timeoutMs / 1000} s (in ${cwd}); output so far:\n${out}`));
    }, timeoutMs);
    child.on("error", (e) => { clearTimeout(timer); reject(e); });
    child.on("close", (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}

async function ok(p: Promise<Result>, what: string): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.out}`);
  return r.out;
}

const USER_TS = `import { ctx, TaskEnvironment } from "flyte-ts";
import { ClusteredTaskEnvironment } from "flyte-ts/clustered";
import { ValidationError } from "flyte-ts/errors";
import { FunctionTaskTemplate } from "flyte-ts/extend";
import { File } from "flyte-ts/io";
import { log } from "flyte-ts/report";
import { z } from "zod";

const env = new TaskEnvironment({ name: "user" });
const cluster = new ClusteredTaskEnvironment({ name: "user-cluster", replicas: 1, nprocPerNode: 2 });

export const square = env.task(async function square({ x }: { x: number }): Promise<number> {
  return x * x;
});

export const worldSize = cluster.task(async function worldSize(): Promise<number> {
  return ctx()!.worldSize!;
});

export const main = env.task(async function main({ n = 3 }: { n?: number }): Promise<number> {
  const squares = await Promise.all(Array.from({ length: n }, (_, x) => square({ x })));
  await log(\`<p>\${squares.join(",")}</p>\`);
  const total: number = squares.reduce((a, b) => a + b, 0);
  console.log(\`total=\${total} ranks=\${await worldSize()} validation=\${new ValidationError("x") instanceof Error}\`);
  return total;
});

export const extras = [File, FunctionTaskTemplate, z.object({ n: z.number() })] as const;
`;

// A call with the wrong input type, and a result used as the wrong type: both must be compile errors.
const BAD_TS = `import { TaskEnvironment } from "flyte-ts";
const env = new TaskEnvironment({ name: "bad" });
export const sq = env.task(async function sq({ x }: { x: number }) { return x * x; });
export const main = env.task(async function main() { const s: string = await sq({ x: "nope" }); return s; });
`;

const TSCONFIG = {
  compilerOptions: { target: "es2022", module: "nodenext", moduleResolution: "nodenext", strict: true, noEmit: true, skipLibCheck: false },
  include: ["user.ts"],
};

const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));

let work: string;
let project: string;
let tarball: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "flyte-pack-"));
  const ping = await sh("npm", ["ping", "--fetch-timeout=20000", "--fetch-retries=0"], work, 60_000);
  if (ping.code !== 0) throw new Error(`The npm registry is unreachable, so the package cannot be installed into a test project:\n${ping.out}`);

  // Pack a copy of the package, so the build (prepack) never writes into this checkout while other tests run.
  const pkg = join(work, "pkg");
  mkdirSync(pkg);
  for (const f of ["package.json", "README.md", "tsconfig.json", "tsconfig.build.json", "bin", "src", "web"]) cpSync(join(REPO, f), join(pkg, f), { recursive: true });
  symlinkSync(join(REPO, "node_modules"), join(pkg, "node_modules"), "dir");
  await ok(sh("npm", ["pack", "--pack-destination", work], pkg, 180_000), "npm pack");
  tarball = join(work, readdirSync(work).find((f) => f.endsWith(".tgz"))!);

  project = join(work, "app");
  mkdirSync(project);
  await ok(sh("npm", ["init", "-y"], project), "npm init");
  await ok(sh("npm", ["pkg", "set", "type=module"], project), "npm pkg set");
  // better-sqlite3's install script downloads a prebuilt binary, or compiles for minutes where it cannot. Offer it the
  // binary this checkout already built when the versions match (prebuild-install's documented local-prebuild lookup).
  const sqlite = join(REPO, "node_modules/better-sqlite3");
  const prebuilds = join(work, "prebuilds");
  mkdirSync(prebuilds);
  const sqliteVersion = (JSON.parse(readFileSync(join(sqlite, "package.json"), "utf8")) as { version: string }).version;
  const prebuild = `better-sqlite3-v${sqliteVersion}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  if (existsSync(join(sqlite, "build/Release/better_sqlite3.node"))) {
    await sh("tar", ["czf", join(prebuilds, prebuild), "-C", sqlite, "build/Release/better_sqlite3.node"], work);
  }
  await ok(
    sh("npm", ["i", tarball, "typescript", "zod", "--no-audit", "--no-fund", "--prefer-offline", "--fetch-timeout=60000", "--fetch-retries=1"],
      project, INSTALL_TIMEOUT_MS, { npm_config_better_sqlite3_local_prebuilds: prebuilds }),
    `npm i ${tarball} typescript zod`,
  );
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify(TSCONFIG, null, 2));
  writeFileSync(join(project, "user.ts"), USER_TS);
}, INSTALL_TIMEOUT_MS + 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the packed package installed in a new project", () => {
  it("the tarball holds compiled JavaScript and declarations, no TypeScript sources or tests", async () => {
    const files = (await ok(sh("tar", ["tzf", tarball], work), "tar")).split("\n").filter(Boolean).map((f) => f.replace(/^package\//, ""));
    expect(files).toEqual(expect.arrayContaining(["package.json", "README.md", "bin/flyte.js", "dist/index.js", "dist/index.d.ts", "dist/cli/main.js",
      "dist/cli/commands/build.js", "dist/clustered/rank-entry.js", "dist/errors.d.ts", "dist/io/index.d.ts", "dist/report/index.d.ts", "dist/extend.d.ts",
      "dist/store/postgres/postgres-store.js", "dist/store/postgres/migrations/001_init.sql", "dist/store/postgres/migrations/004_leases.sql",
      "dist/ui/index.d.ts", "dist/ui/server.js", "dist/ui/web/index.html"]));
    // The web UI's front end is shipped built (Vite), so users never build it.
    expect(files.some((f) => /^dist\/ui\/web\/assets\/index-[\w-]+\.js$/.test(f))).toBe(true);
    expect(files.filter((f) => /\.ts$/.test(f) && !f.endsWith(".d.ts"))).toEqual([]);
    expect(files.filter((f) => /(^|\/)(test|bench|examples|src)\//.test(f) || /\.test\.|conformance|testing\//.test(f))).toEqual([]);
  });

  it("its public types need no devDependency", () => {
    const dts = walk(join(project, "node_modules/flyte-ts/dist")).filter((f) => f.endsWith(".d.ts"));
    expect(dts.length).toBeGreaterThan(50);
    const leaks = dts.filter((f) => /from "(better-sqlite3|s3rver|vitest|@kubernetes-models\/validate)"|import\("(better-sqlite3|s3rver|vitest)"\)/.test(readFileSync(f, "utf8")));
    expect(leaks).toEqual([]);
  });

  it("typechecks a user file under nodenext + strict + skipLibCheck false, and catches a type error", async () => {
    expect(await ok(sh("npx", ["tsc", "-p", "."], project), "tsc on user.ts")).toBe("");
    writeFileSync(join(project, "bad.ts"), BAD_TS);
    writeFileSync(join(project, "tsconfig.bad.json"), JSON.stringify({ ...TSCONFIG, include: ["bad.ts"] }));
    const bad = await sh("npx", ["tsc", "-p", "tsconfig.bad.json"], project);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/bad\.ts\(4,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
    expect(bad.out).toMatch(/bad\.ts\(4,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
  });

  it("`npx flyte run user.ts main` runs the tasks as child actions of one runtime", async () => {
    const r = await sh("npx", ["flyte", "run", "user.ts", "main", "--n", "4", "--name", "installed"], project);
    expect(r.out).toMatch(/\[main\] total=14 ranks=2 validation=true/);
    expect(r.out).toMatch(/Outputs: 14/);
    expect(r.code).toBe(0);
    const got = await ok(sh("npx", ["flyte", "get", "run", "installed", "--output-format", "json"], project), "flyte get run");
    const run = JSON.parse(got) as { phase: string; root: { taskName: string; children: { taskName: string; phase: string }[] } };
    expect(run.phase).toBe("succeeded");
    expect(run.root.taskName).toBe("user.main");
    expect(run.root.children.map((c) => c.taskName).sort()).toEqual(["user-cluster.worldSize", "user.square", "user.square", "user.square", "user.square"]);
    expect(run.root.children.every((c) => c.phase === "succeeded")).toBe(true);
  });

  it("`npx flyte ui` serves the prebuilt front end and the runs API", async () => {
    // node itself (not npx, which does not pass SIGTERM on), so that killing it stops the server.
    const bin = join(project, "node_modules/flyte-ts/bin/flyte.js");
    const child = spawn(process.execPath, [bin, "ui", "--port", "0"], { cwd: project, env: { ...process.env, FLYTE_CONFIG: "" }, stdio: ["ignore", "pipe", "pipe"] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        const timer = setTimeout(() => reject(new Error(`flyte ui printed no URL within 60 s:\n${out}`)), 60_000);
        const on = (d: Buffer) => {
          out += d.toString();
          const m = /Flyte UI: (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m) { clearTimeout(timer); resolve(m[1]!); }
        };
        child.stdout.on("data", on);
        child.stderr.on("data", on);
      });
      const html = await (await fetch(`${url}/runs/installed`)).text();
      const script = /src="(\/assets\/index-[\w-]+\.js)"/.exec(html)?.[1];
      expect(script).toBeDefined();
      expect((await fetch(`${url}${script}`)).headers.get("content-type")).toMatch(/javascript/);
      const runs = (await (await fetch(`${url}/api/runs`)).json()) as { runs: { name: string }[] };
      expect(runs.runs.map((r) => r.name)).toContain("installed");
    } finally {
      child.kill("SIGTERM");
    }
  });

  it("the CLI loads its lazily imported commands from dist/ and needs no TypeScript source of flyte-ts", async () => {
    const help = await ok(sh("npx", ["flyte", "--help"], project), "flyte --help");
    expect(help).toMatch(/\bbuild \[options\]/);
    expect(help).toMatch(/\bk8s\b/);
    const installed = join(project, "node_modules/flyte-ts");
    expect(walk(installed).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
  });
});
