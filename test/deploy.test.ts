/**
 * `flyte deploy` / `deploy()` and `flyte get tasks` (issue #15 item 3): environments with their dependsOn, code
 * bundles (loaded_modules, all, none), versions from content, no-op redeploys, taken versions, and every error a
 * user can meet on the way. Each test works in its own temp project whose node_modules links flyte-ts.
 */
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { deploy, init, listDeployedTasks, getDeployedTask, TaskEnvironment, type DeployResult } from "flyte-ts";
import { CodeBundleError, DeploymentError, ImageBuildError, ValidationError } from "flyte-ts/errors";
import type { ImageBuilder } from "../src/images/builder.ts";
import { readTar, writeTar } from "../src/deploy/tar.ts";
import { getRuntime } from "../src/run/runtime.ts";
import { flyteIn } from "./helpers/cli.ts";
import { REPO } from "./helpers/runtime.ts";

const ENVS = `import { TaskEnvironment, Trigger } from "flyte-ts";
import { twice } from "./lib/util.ts";
const base = new TaskEnvironment({ name: "base" });
const app = new TaskEnvironment({ name: "app", image: "node:20-slim", dependsOn: [base] });
export const helper = base.task(async function helper({ x }: { x: number }) { return twice(x); });
export const main = app.task({ triggers: Trigger.hourly("at"), retries: 2 }, async function main({ at, n = 2 }: { at: Date; n?: number }) {
  return \`\${at.toISOString()} \${await helper({ x: n })}\`;
});
`;

/** A temp project: package.json, envs.ts importing lib/util.ts (which imports a package), an unrelated file. */
function project(prefix: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), `flyte-deploy-${prefix}-`));
  const all: Record<string, string> = {
    "package.json": '{"type":"module"}',
    "envs.ts": ENVS,
    "lib/util.ts": 'import leftPad from "left-pad";\nexport const twice = (x: number) => Number(leftPad(String(x * 2), 1));\n',
    "unused.ts": "export const nobodyImportsMe = 1;\n",
    "node_modules/left-pad/package.json": '{"name":"left-pad","type":"module","main":"index.js"}',
    "node_modules/left-pad/index.js": "export default (s) => s;\n",
    ...files,
  };
  for (const [rel, text] of Object.entries(all)) {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  symlinkSync(REPO, join(dir, "node_modules", "flyte-ts"));
  return dir;
}

async function deployJson(dir: string, args: string[]): Promise<DeployResult> {
  const r = await flyteIn(dir, ["--output-format", "json", "deploy", ...args]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as DeployResult;
}

async function bundleFiles(uri: string): Promise<Map<string, string>> {
  const tar = gunzipSync(readFileSync(fileURLToPath(uri)));
  return new Map(readTar(tar).map((e) => [e.path, Buffer.from(e.data ?? []).toString()]));
}

describe("flyte deploy", () => {
  it("deploys a named environment with its dependsOn, dependencies first, and flyte get tasks lists them", async () => {
    const dir = project("deps");
    const r = await flyteIn(dir, ["deploy", "envs.ts", "app"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const version = /Deployed version ([0-9a-f]{16})/.exec(r.stdout)?.[1];
    expect(version).toBeDefined();
    const lines = r.stdout.split("\n");
    expect(lines.slice(1, 4).map((l) => l.trim().split(/\s+/)[0])).toEqual(["ENVIRONMENT", "base", "app"]);
    expect(r.stdout).toMatch(/^ {2}base +flyte-ts:[0-9a-f]{32} \(not-built\) +base\.helper$/m);
    expect(r.stdout).toMatch(/^ {2}app +node:20-slim +app\.main$/m);
    expect(r.stdout).toContain("Triggers: app.main/hourly\n");
    expect(r.stdout).toMatch(/Bundle: 3 files, sha256 [0-9a-f]{12}, file:\/\/.*\/\.flyte\/blobs\/bundles\/[0-9a-f]{64}\.tar\.gz\n/);
    expect(r.stdout).toMatch(
      /Image flyte-ts:[0-9a-f]{32} \(base\) was not built: no image builder is configured \(image\.builder in the config\)\. Workers need it: build it with "flyte build <file>", or deploy with --build\./,
    );

    const table = await flyteIn(dir, ["get", "tasks"]);
    expect(table.code).toBe(0);
    const rows = table.stdout.trim().split("\n").map((l) => l.split(/\s{2,}/));
    expect(rows[0]).toEqual(["NAME", "VERSION", "ENVIRONMENT", "IMAGE", "DEPLOYED"]);
    expect(rows.slice(1).map((row) => row.slice(0, 3))).toEqual([["app.main", version, "app"], ["base.helper", version, "base"]]);
    const json = JSON.parse((await flyteIn(dir, ["--output-format", "json", "get", "tasks", "app.main"])).stdout) as unknown[];
    expect(json).toEqual([{ name: "app.main", version, environment: "app", image: "node:20-slim", deployedAt: expect.stringMatching(/^\d{4}-/) }]);
    // The bare task name works when one environment has it.
    const one = await flyteIn(dir, ["get", "tasks", "helper"]);
    expect(one.stdout).toMatch(new RegExp(`^VERSION +DEPLOYED +ENVIRONMENT +IMAGE\\n${version} +\\S+ +base +flyte-ts:[0-9a-f]+ +latest\\n$`));

    // What was registered: the spec of each task, and the trigger.
    await init({ root: dir });
    const spec = (await getDeployedTask("app.main"))!.spec;
    expect(spec).toMatchObject({
      name: "app.main", environment: "app", image: "node:20-slim", module: "envs.ts", retries: { count: 2 }, triggers: ["hourly"],
      interface: { inputs: { properties: { at: { format: "date-time" }, n: { type: "number", default: 2 } }, required: ["at"] }, output: { type: "string" } },
      cache: { behavior: "disable", version: "" }, timeout: {}, resources: null, interruptible: false, queue: null,
    });
    const triggers = await getRuntime().store.listTriggers({ project: "default", domain: "development" });
    expect(triggers.map((t) => [t.taskName, t.name, t.version, t.active])).toEqual([["app.main", "hourly", version, true]]);
    expect(triggers[0]!.spec).toMatchObject({ automation: { cron: "0 * * * *", timezone: "UTC" }, inputs: { at: { $flyte: "TriggerTime" } } });
  });

  it("ships exactly the user files the entry loads, deterministically; redeploying the same code is a no-op that says so", async () => {
    const dir = project("bundle");
    const first = await deployJson(dir, ["envs.ts"]);
    expect(first.status).toBe("deployed");
    expect(first.environments.map((e) => e.name)).toEqual(["base", "app"]);
    expect(first.bundle!.files).toEqual(["envs.ts", "lib/util.ts", "package.json"]);
    const files = await bundleFiles(first.bundle!.uri);
    expect([...files.keys()]).toEqual(["envs.ts", "lib/util.ts", "package.json"]);
    expect(files.get("envs.ts")).toBe(ENVS);

    // A touched file (new mtime, same bytes) changes nothing.
    utimesSync(join(dir, "envs.ts"), new Date(), new Date(Date.now() + 60_000));
    const again = await flyteIn(dir, ["deploy", "envs.ts"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`Already deployed: version ${first.version}\n`);
    expect(again.stdout).toContain(`Nothing changed: version ${first.version} is already deployed with this code and these task specs.\n`);
    expect((await flyteIn(dir, ["get", "tasks", "app.main"])).stdout.trim().split("\n")).toHaveLength(2);
  });

  it("changed code is a new version; deploying the old code again makes it the latest again", async () => {
    const dir = project("change");
    const v1 = (await deployJson(dir, ["envs.ts"])).version;
    writeFileSync(join(dir, "lib/util.ts"), 'export const twice = (x: number) => x + x;\n');
    const second = await deployJson(dir, ["envs.ts"]);
    expect(second.status).toBe("deployed");
    expect(second.version).not.toBe(v1);
    expect(second.bundle!.files).toEqual(["envs.ts", "lib/util.ts", "package.json"]);
    const versions = JSON.parse((await flyteIn(dir, ["--output-format", "json", "get", "tasks", "base.helper"])).stdout) as { version: string }[];
    expect(versions.map((v) => v.version)).toEqual([second.version, v1]);

    writeFileSync(join(dir, "lib/util.ts"), 'import leftPad from "left-pad";\nexport const twice = (x: number) => Number(leftPad(String(x * 2), 1));\n');
    const back = await flyteIn(dir, ["deploy", "envs.ts"]);
    expect(back.stdout).toContain(`Version ${v1} was already deployed with this content; its tasks are the latest versions again.\n`);
    const latest = JSON.parse((await flyteIn(dir, ["--output-format", "json", "get", "tasks"])).stdout) as { name: string; version: string }[];
    expect(latest.map((t) => [t.name, t.version])).toEqual([["app.main", v1], ["base.helper", v1]]);
  });

  it("--copy-style all ships every project file but node_modules, .flyte and ignored ones; --dry-run writes nothing", async () => {
    const dir = project("all", { ".gitignore": "secret.txt\nbuild/\n", ".flyteignore": "*.csv\n", "data/a.csv": "x", "build/out.js": "x", "notes/secret.txt": "x", "README.md": "hi" });
    const dry = await flyteIn(dir, ["deploy", "envs.ts", "--copy-style", "all", "--dry-run"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^Dry run: would deploy version [0-9a-f]{16}\n/);
    const listed = dry.stdout.split("\n").filter((l) => /^ {2}\S+$/.test(l)).map((l) => l.trim());
    expect(listed).toEqual([".flyteignore", ".gitignore", "README.md", "envs.ts", "lib/util.ts", "package.json", "unused.ts"]);
    const none = await flyteIn(dir, ["--output-format", "json", "get", "tasks"]);
    expect(JSON.parse(none.stdout)).toEqual([]);
    expect((await flyteIn(dir, ["get", "tasks"])).stdout).toBe("No tasks deployed yet. Deploy some with: flyte deploy <file.ts>\n");

    const r = await deployJson(dir, ["envs.ts", "--copy-style", "all"]);
    expect([...(await bundleFiles(r.bundle!.uri)).keys()]).toEqual(listed);
  });

  it("--copy-style none needs --version; a version taken by other content is refused", async () => {
    const dir = project("none");
    const usage = await flyteIn(dir, ["deploy", "envs.ts", "--copy-style", "none"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe(
      "error: --copy-style none needs --version: without a code bundle there is no code hash to derive a version from. Add --version v1, or use --copy-style loaded_modules.\n",
    );
    const bogus = await flyteIn(dir, ["deploy", "envs.ts", "--copy-style", "some"]);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toBe('error: --copy-style must be loaded_modules, all or none, got "some".\n');

    const v1 = await deployJson(dir, ["envs.ts", "--copy-style", "none", "--version", "v1"]);
    expect(v1).toMatchObject({ version: "v1", status: "deployed", bundle: null });
    const text = await flyteIn(dir, ["deploy", "envs.ts", "--copy-style", "none", "--version", "v1"]);
    expect(text.stdout).toContain("Bundle: none (copy style none: the image holds the code)\n");
    expect(text.stdout).toContain("Nothing changed: version v1 is already deployed");

    const dryTaken = await flyteIn(dir, ["deploy", "envs.ts", "--version", "v1", "--dry-run"]);
    expect(dryTaken.stdout).toContain("Version v1 is already deployed with other content: deploying would fail. Choose a new version.\n");
    const drySame = await flyteIn(dir, ["deploy", "envs.ts", "--version", "v1", "--copy-style", "none", "--dry-run"]);
    expect(drySame.stdout).toContain("Version v1 is already deployed with this content: deploying would change nothing.\n");
    const taken = await flyteIn(dir, ["deploy", "envs.ts", "--version", "v1"]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(
      /^DeploymentError: Version "v1" is already deployed in default\/development with different code or task specs \(deployed \d{4}-\d\d-\d\dT[\d:.]+Z\)\. Deploy under a new version, or omit the version to use the content hash\.\n$/,
    );
  });

  it("says clearly what is wrong with the file, the folder or the environment names", async () => {
    const dir = project("errors", {
      "empty.ts": "export const x = 1;\n",
      "main.ts": 'import { main } from "./envs.ts";\nexport { main };\n',
      "jobs/one.ts": 'import { TaskEnvironment } from "flyte-ts";\nconst e = new TaskEnvironment({ name: "one" });\nexport const t1 = e.task(async function t1() { return 1; });\n',
      "trig.ts": 'import { TaskEnvironment, Trigger } from "flyte-ts";\nconst e = new TaskEnvironment({ name: "trig" });\nexport const t = e.task({ triggers: Trigger.daily(undefined, { inputs: { nope: 1 } }) }, async function t({ x = 1 }: { x?: number }) { return x; });\n',
      "jobs/two.ts": 'import { TaskEnvironment } from "flyte-ts";\nconst e = new TaskEnvironment({ name: "two" });\nexport const t2 = e.task(async function t2() { return 2; });\n',
    });
    const missing = await flyteIn(dir, ["deploy", "nope.ts"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ModuleLoadError: File nope.ts does not exist \(looked at .*nope.ts\)\. Pass the path of a \.ts or \.js file that defines your tasks\.\n$/);
    const empty = await flyteIn(dir, ["deploy", "empty.ts"]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toBe("error: empty.ts defines no environments. Create one with new TaskEnvironment({ name }) and declare its tasks with env.task(...).\n");
    const unknown = await flyteIn(dir, ["deploy", "envs.ts", "nope"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('error: envs.ts has no environment named "nope". Environments: base, app.\n');
    const folder = await flyteIn(dir, ["deploy", "jobs"]);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toBe("error: jobs is a folder. Pass a file, or add --recursive to deploy the environments of every file under it.\n");
    const emptyFolder = mkdtempSync(join(tmpdir(), "flyte-deploy-empty-"));
    expect((await flyteIn(emptyFolder, ["deploy", ".", "-r"])).stderr).toBe("error: . holds no .ts or .js files to deploy.\n");

    const trigger = await flyteIn(dir, ["deploy", "trig.ts"]);
    expect(trigger.code).toBe(1);
    expect(trigger.stderr).toBe('ValidationError: Trigger "daily" on task "trig.t": input "nope" is not an input of the task. Task inputs: x.\n');

    const recursive = await deployJson(dir, ["jobs", "-r"]);
    expect(recursive.environments.map((e) => e.name)).toEqual(["one", "two"]);
    expect(recursive.bundle!.files).toEqual(["jobs/one.ts", "jobs/two.ts", "package.json"]);
  });

  it("a file that only imports environments asks for their names or --all", async () => {
    const dir = project("imports", { "main.ts": 'export { main } from "./envs.ts";\n' });
    // Loaded first through another file, so that envs.ts is already imported: main.ts itself creates nothing.
    const r = await flyteIn(dir, ["deploy", "main.ts"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: main.ts creates no environment itself; the files it imports create base, app. Name the ones to deploy (flyte deploy main.ts base) or add --all.\n");
    const all = await deployJson(dir, ["main.ts", "--all"]);
    expect(all.environments.map((e) => e.name)).toEqual(["base", "app"]);
  });
});

describe("flyte deploy and get tasks, more messages", () => {
  it("--no-build says which images still need building; get tasks checks its arguments", async () => {
    const dir = project("nobuild", {
      "other.ts": 'import { TaskEnvironment } from "flyte-ts";\nconst e = new TaskEnvironment({ name: "other" });\nexport const helper = e.task(async function helper() { return 1; });\n',
    });
    const r = await flyteIn(dir, ["deploy", "envs.ts", "base", "--no-build"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Image flyte-ts:[0-9a-f]{32} \(base\) was not built: building was turned off\. Workers need it: build it with "flyte build <file>", or deploy with --build\.\n/);
    const unknown = await flyteIn(dir, ["get", "tasks", "base.nope"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('RemoteTaskNotFoundError: Task "base.nope" is not deployed in default/development. Deployed tasks: base.helper.\n');
    const empty = await flyteIn(dir, ["--domain", "staging", "get", "tasks", "helper"]);
    expect(empty.stderr).toBe('RemoteTaskNotFoundError: Task "helper" is not deployed in default/staging. No task is deployed there yet: deploy it with flyte deploy <file.ts>.\n');
    expect((await flyteIn(dir, ["deploy", "other.ts"])).code).toBe(0);
    const ambiguous = await flyteIn(dir, ["get", "tasks", "helper"]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toBe('error: Task name "helper" is ambiguous: base.helper, other.helper. Use the full name (env.task).\n');
    const limit = await flyteIn(dir, ["get", "tasks", "--limit", "0"]);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toBe('error: --limit expects a whole number >= 1, got "0".\n');
    expect(JSON.parse((await flyteIn(dir, ["--output-format", "json", "get", "tasks", "--limit", "1"])).stdout)).toHaveLength(1);
  });
});

describe("deploy()", () => {
  it("refuses bad arguments with messages that say what to do", async () => {
    const env = new TaskEnvironment({ name: "deploy-args" });
    const message = async (p: Promise<unknown>) => ((await p.catch((e: unknown) => e)) as Error).message;
    await expect(deploy()).rejects.toBeInstanceOf(ValidationError);
    expect(await message(deploy())).toBe('deploy: no environments given. Pass the environments to deploy, e.g. deploy(env) or deploy([envA, envB], { version: "v1" }).');
    expect(await message(deploy("env" as never))).toBe('deploy: expected environments, got "env". Pass TaskEnvironment objects, e.g. deploy(env).');
    expect(await message(deploy([env], { copyStyle: "none" }))).toBe(
      'deploy: copyStyle "none" needs a version: without a bundle there is no code hash to derive one from. Pass version (e.g. --version v1), or use copyStyle "loaded_modules".',
    );
    expect(await message(deploy([env], { copyStyle: "some" as never }))).toBe('deploy: copyStyle must be "loaded_modules", "all" or "none", got "some".');
    expect(await message(deploy([env], { version: "no spaces" }))).toBe(
      'deploy: version "no spaces" is not a valid version. Use up to 128 letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. "v1.2.0").',
    );
    expect(await message(deploy([env], { versoin: "v1" } as never))).toMatch(/^Unknown option "versoin" for deploy\. Did you mean "version"\?/);
    expect(await message((deploy as (...a: unknown[]) => Promise<unknown>)([env], {}, {}))).toBe("deploy: expected (envs, options), got 3 arguments. Use deploy([envA, envB], { version }).");
  });

  it("refuses two environments of one name and an include that matches nothing; ships included files", async () => {
    const dir = project("api", {
      "same.ts": 'import { TaskEnvironment } from "flyte-ts";\nexport const a = new TaskEnvironment({ name: "same" });\nexport const b = new TaskEnvironment({ name: "same" });\nexport const c = new TaskEnvironment({ name: "uses-both", dependsOn: [a, b] });\n',
      "include.ts": 'import { TaskEnvironment } from "flyte-ts";\nexport const env = new TaskEnvironment({ name: "inc", include: ["data/*.json", "missing.txt"] });\nexport const good = new TaskEnvironment({ name: "inc-good", include: ["data/*.json"] });\nexport const t = good.task(async function t() { return 1; });\n',
      "data/x.json": "{}",
    });
    await init({ root: dir });
    const same = (await import(join(dir, "same.ts"))) as { c: TaskEnvironment };
    const err = await deploy(same.c).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeploymentError);
    expect((err as Error).message).toBe(
      `Two different environments are named "same" (created in ${join(dir, "same.ts")}) (created in ${join(dir, "same.ts")}). Environment names must be unique in a deployment: rename one.`,
    );
    const inc = (await import(join(dir, "include.ts"))) as { env: TaskEnvironment; good: TaskEnvironment };
    const bad = await deploy(inc.env).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(CodeBundleError);
    expect((bad as Error).message).toBe(
      `Environment "inc": include "missing.txt" matches no file under ${dir}. Paths and globs are relative to the file that created the environment; fix or remove the pattern.`,
    );
    // With copy style none the bundle holds only the included files.
    const only = await deploy([inc.good], { dryRun: true, copyStyle: "none", version: "v1" });
    expect(only.bundle?.files).toEqual(["data/x.json"]);
    const ok = await deploy([inc.good], { dryRun: true });
    expect(ok).toMatchObject({ status: "dry-run", environments: [{ name: "inc-good", tasks: ["inc-good.t"] }] });
    expect(ok.bundle?.files).toEqual(["data/x.json", "include.ts", "package.json"]);
    expect(await listDeployedTasks()).toEqual([]);
    // A file the bundle cannot follow (it changed on disk since it was loaded) is a CodeBundleError.
    writeFileSync(join(dir, "include.ts"), 'import "./gone.ts";\n');
    const broken = await deploy(inc.good).catch((e: unknown) => e);
    expect(broken).toBeInstanceOf(CodeBundleError);
    expect((broken as Error).message).toMatch(/^Cannot find the files include\.ts loads: include\.ts:1: Could not resolve "\.\/gone\.ts"\. Fix the import, or deploy with copyStyle "all"\.$/);
    writeFileSync(join(dir, "include.ts"), "export {};\n");
    const deployed = await deploy(inc.good);
    expect(deployed.status).toBe("deployed");
    expect((await listDeployedTasks()).map((t) => [t.name, t.version])).toEqual([["inc-good.t", deployed.version]]);
  });
});

describe("deploy() and the project root", () => {
  it("leaves files outside the root out of the bundle and says so; nothing at all to ship is a CodeBundleError", async () => {
    const dir = project("root", { "sub/placeholder.txt": "" });
    // The project root is sub/: envs.ts and lib/util.ts are outside it.
    await init({ root: join(dir, "sub") });
    const mod = (await import(join(dir, "envs.ts"))) as { main: { env: TaskEnvironment } };
    const err = await deploy([mod.main.env], { dryRun: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodeBundleError);
    expect((err as Error).message).toBe(`No files to bundle under ${join(dir, "sub")} (copyStyle "loaded_modules"): every file is ignored. Check .gitignore/.flyteignore, or run flyte from your project folder.`);
    writeFileSync(join(dir, "sub", "package.json"), '{"type":"module"}');
    const r = await deploy([mod.main.env], { dryRun: true });
    expect(r.bundle?.files).toEqual(["package.json"]);
    expect(r.messages).toContain(
      `The code loads 2 files from outside the project root ${join(dir, "sub")} (${join(dir, "envs.ts")}, ${join(dir, "lib/util.ts")}), which the bundle does not hold: the image must provide them. Run flyte from a folder that contains them to ship them instead.`,
    );
    expect(r.tasks.find((t) => t.name === "app.main")?.module).toBe(join(dir, "envs.ts"));
  });

  it("an environment without a known source file cannot make a loaded_modules bundle; an unwritable storage is a CodeBundleError", async () => {
    const dir = project("nofile");
    writeFileSync(join(dir, "blobs-is-a-file"), "");
    await init({ root: dir, storage: join(dir, "blobs-is-a-file") });
    const env = new TaskEnvironment({ name: "no-file" });
    Object.defineProperty(env, "sourceFile", { value: undefined });
    const err = await deploy(env).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodeBundleError);
    expect((err as Error).message).toBe(
      'No source file is known for the deployed environments\' tasks, so there is nothing to bundle. Declare tasks with env.task in a file, or deploy with copyStyle "all".',
    );
    const upload = await deploy([env], { copyStyle: "all" }).catch((e: unknown) => e);
    expect(upload).toBeInstanceOf(CodeBundleError);
    expect((upload as Error).message).toMatch(
      new RegExp(`^Cannot upload the code bundle to file://${join(dir, "blobs-is-a-file")}/bundles/[0-9a-f]{64}\\.tar\\.gz: .*\\. Check that the storage \\(${join(dir, "blobs-is-a-file")}\\) is reachable and writable\\.$`),
    );
  });

  it("listDeployedTasks and getDeployedTask check their options", async () => {
    await init({ root: project("list") });
    await expect(listDeployedTasks({ limit: 0 })).rejects.toThrow("listDeployedTasks: limit must be a whole number >= 1, got 0.");
    await expect(listDeployedTasks({ nmae: "x" } as never)).rejects.toThrow(/^Unknown option "nmae" for listDeployedTasks\. Did you mean "name"\?/);
    expect(await getDeployedTask("env.nope")).toBeUndefined();
  });
});

describe("deploy() and images", () => {
  it("builds images that need building with the builder (as flyte build does); a builder that cannot build fails the deploy", async () => {
    const dir = project("images");
    await init({ root: dir });
    const mod = (await import(join(dir, "envs.ts"))) as { main: { env: TaskEnvironment } };
    const built: string[] = [];
    const fake: ImageBuilder = {
      name: "fake",
      probe: async () => ({ ok: true, version: "1" }),
      existsLocally: async (uri) => built.includes(uri),
      build: async (req) => void built.push(req.uri),
    };
    const progress: string[] = [];
    const r = await deploy([mod.main.env], { build: true, builder: fake, onProgress: (e) => progress.push(e.type) });
    expect(built).toEqual([r.environments[0]!.image]);
    expect(r.images).toEqual([
      { uri: r.environments[0]!.image, environments: ["base"], status: "built" },
      { uri: "node:20-slim", environments: ["app"], status: "prebuilt" },
    ]);
    expect(progress).toEqual(["check", "build", "built"]);
    expect(r.messages).toEqual([]);
    // Already there: not built again; the deployment itself is unchanged.
    const again = await deploy([mod.main.env], { build: true, builder: fake });
    expect(again.images[0]!.status).toBe("exists");
    expect(again.status).toBe("unchanged");
    expect(built).toHaveLength(1);

    const broken: ImageBuilder = { ...fake, name: "broken", probe: async () => ({ ok: false, reason: "it is broken", fix: "Fix it" }) };
    const err = await deploy([mod.main.env], { build: true, builder: broken }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageBuildError);
    expect((err as Error).message).toBe("The broken image builder is not usable here: it is broken. Fix it");
  });

  it("flyte deploy checks --builder", async () => {
    const r = await flyteIn(project("builder"), ["deploy", "envs.ts", "--builder", "kaniko"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: --builder must be "docker" or "buildah", got "kaniko".\n');
  });
});

describe("unpackBundle", () => {
  it("restores a deployed bundle's files where a worker would import them, and refuses a damaged one", async () => {
    const dir = project("unpack");
    await init({ root: dir });
    const mod = (await import(join(dir, "envs.ts"))) as { main: { env: TaskEnvironment } };
    const r = await deploy(mod.main.env);
    const { unpackBundle } = await import("../src/deploy/bundle.ts");
    const dest = mkdtempSync(join(tmpdir(), "flyte-unpack-"));
    const blobs = getRuntime().blobStore;
    expect(await unpackBundle(blobs, r.bundle!.uri, dest, r.bundle!.digest)).toEqual(["envs.ts", "lib/util.ts", "package.json"]);
    expect(readFileSync(join(dest, "envs.ts"), "utf8")).toBe(ENVS);
    const wrong = await unpackBundle(blobs, r.bundle!.uri, mkdtempSync(join(tmpdir(), "flyte-unpack-")), "0".repeat(64)).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(CodeBundleError);
    expect((wrong as Error).message).toBe(`The code bundle ${r.bundle!.uri} does not match its recorded SHA-256 ${"0".repeat(64)}: it was changed or damaged. Deploy again to upload it.`);
    const evil = await blobs.put("bundles/evil.tar.gz", gzipSync(writeTar([{ path: "../evil.ts", type: "file", data: new Uint8Array([1]) }])));
    const escape = await unpackBundle(blobs, evil.uri, dest).catch((e: unknown) => e);
    expect((escape as Error).message).toBe(`The code bundle ${evil.uri} holds "../evil.ts", which points outside the folder it is unpacked into. Deploy again from a clean checkout.`);
    const missing = await unpackBundle(blobs, blobs.uriFor("bundles/nope.tar.gz"), dest).catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/^Cannot read the code bundle .*bundles\/nope\.tar\.gz: Blob .* does not exist\..* Deploy again to upload it\.$/);
  });
});
