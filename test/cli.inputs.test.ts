/**
 * `flyte run` types the flags of a schema-less task from its TypeScript signature (compiler API, cached by the
 * file's content hash): wrong values are usage errors (exit 2) and no run is recorded.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { flyte as spawnFlyte, REPO } from "./helpers/runtime.ts";
import { flyteIn } from "./helpers/cli.ts";

const FIXTURE = join(REPO, "test/fixtures/signature-types.ts");
let root: string;
let cache: string;
const flyteHere = (args: string[]) => flyteIn(root, args, { env: { FLYTE_TS_CACHE_DIR: cache } });
const outputs = (stdout: string) => (JSON.parse(stdout.slice(stdout.indexOf("{"))) as { outputs: Record<string, unknown> }).outputs;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "flyte-inputs-"));
  cache = join(root, "sig-cache");
});

describe("inputs typed by the function signature", () => {
  it("rejects a non-number for a number input (exit 2) and records no run", async () => {
    const r = await flyteIn(root, ["run", join(REPO, "examples/quickstart.ts"), "main", "--n", "abc"], { env: { FLYTE_TS_CACHE_DIR: cache } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--n expects a number, got "abc"/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    const runs = await flyteHere(["get", "runs", "--output-format", "json"]);
    expect(runs.stdout).not.toMatch(/"main"|quickstart/);
    // The derivation was cached by content hash for the next run.
    expect(readdirSync(cache).filter((f) => f.endsWith(".json")).length).toBeGreaterThan(0);
  });

  it("--help shows types, optional inputs and defaults, and run-flag clashes", async () => {
    const r = await flyteHere(["run", FIXTURE, "kinds", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--count <number>\s+\(required\)/);
    expect(r.stdout).toMatch(/--ratio <number>\s+\(optional; default: 0.5\) How much to keep\./);
    expect(r.stdout).toMatch(/--tags <string> \.\.\.\s+\(optional; default: \[\]; repeat the flag or pass a JSON array\)/);
    expect(r.stdout).toMatch(/--when <ISO-8601 date>\s+\(optional\)/);
    expect(r.stdout).toMatch(/--loud \/ --no-loud\s+\(optional; default: false\)/);
    expect(r.stdout).toMatch(/--mode <fast\|slow>\s+\(optional; default: "fast"\)/);
    expect(r.stdout).toMatch(/--cfg <JSON object>/);
    const c = await flyteHere(["run", FIXTURE, "clash", "--help"]);
    expect(c.stdout).toMatch(/--input name=<string>\s+\(required; --name is a flyte run flag\)/);
  });

  it("parses every kind of value by its declared type", async () => {
    const r = (await flyteHere([
      "run", FIXTURE, "kinds", "--count", "3", "--tags", "a,b", "--tags", "c", "--when", "2024-05-01T12:00:00Z", "--big", "12345678901234567890",
      "--loud", "--cfg", '{"depth":2,"label":"x"}', "--mode", "slow", "--input", "note=123", "--output-format", "json",
    ]));
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(outputs(r.stdout)).toEqual({
      count: 3, ratio: 0.5, tags: ["a,b", "c"], when: "2024-05-01T12:00:00.000Z", big: "12345678901234567890", loud: true,
      cfg: { depth: 2, label: "x" }, mode: "slow", note: "123", types: { count: "number", note: "string", when: true, big: "bigint" },
    });
    const off = await flyteHere(["run", FIXTURE, "kinds", "--count", "1", "--no-loud", "--tags", '["x","y"]', "--output-format", "json"]);
    expect(off.code).toBe(0);
    expect(outputs(off.stdout)).toMatchObject({ loud: false, tags: ["x", "y"] });
    const arr = await flyteHere(["run", FIXTURE, "numbers", "--values", "1", "--values", "2.5", "--values", "[3, 4]", "--output-format", "json"]);
    expect(outputs(arr.stdout)).toBe(10.5);
  });

  it("rejects wrong values with one line naming the input (exit 2)", async () => {
    const cases: [string[], RegExp][] = [
      [["--count", "x"], /--count expects a number, got "x"\./],
      [["--count", "1", "--when", "yesterday"], /--when expects an ISO 8601 date such as 2024-05-01 or 2024-05-01T12:30:00Z, got "yesterday"\./],
      [["--count", "1", "--big", "1.5"], /--big expects an integer, got "1.5"\./],
      [["--count", "1", "--mode", "medium"], /--mode expects one of "fast", "slow", got "medium"\./],
      [["--count", "1", "--cfg", "[1]"], /--cfg expects a JSON object such as '\{"k": 1\}', got "\[1\]"\./],
      [["--count", "1", "--cfg", "{oops"], /--cfg expects a JSON object, got "\{oops"/],
      [["--count", "1", "--tags", '["a", 2]'], /--tags\[1\] expects a string, got 2\./],
      [["--count", "1", "--count", "2"], /--count was given more than once; give it once\./],
      [["--count"], /--count needs a value \(number\)\./],
      [["--count", "1", "--nope", "1"], /Task "kinds" has no input "nope"\. Inputs: count, ratio, tags, when, big, loud, cfg, mode, note\./],
    ];
    const before = (await flyteHere(["get", "runs", "--output-format", "json"])).stdout;
    for (const [args, msg] of cases) {
      const r = await flyteHere(["run", FIXTURE, "kinds", ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(msg);
      expect(r.stderr.trim().split("\n"), args.join(" ")).toHaveLength(1);
    }
    expect((await flyteHere(["get", "runs", "--output-format", "json"])).stdout).toBe(before);
  });

  it("takes File and Dir inputs from any existing path and rejects a missing one before a run exists", async () => {
    const work = join(root, "work");
    mkdirSync(join(work, "sub"), { recursive: true });
    writeFileSync(join(work, "data.txt"), "hello");
    const rel = await flyteIn(work, ["run", FIXTURE, "files", "--data", "data.txt", "--folder", "sub", "--output-format", "json"], { env: { FLYTE_TS_CACHE_DIR: cache } });
    expect(rel.code).toBe(0);
    expect(outputs(rel.stdout)).toEqual({ text: "hello", folder: true });
    const abs = await flyteIn(root, ["run", FIXTURE, "files", "--data", join(work, "data.txt"), "--output-format", "json"], { env: { FLYTE_TS_CACHE_DIR: cache } });
    expect(outputs(abs.stdout)).toEqual({ text: "hello", folder: false });
    const before = (await flyteIn(work, ["get", "runs", "--output-format", "json"])).stdout;
    const missing = await flyteIn(work, ["run", FIXTURE, "files", "--data", "nope.txt"], { env: { FLYTE_TS_CACHE_DIR: cache } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--data expects the path of an existing file, but "nope.txt" does not exist \(looked at .*nope.txt\)\./);
    const dirForFile = await flyteIn(work, ["run", FIXTURE, "files", "--data", "sub"], { env: { FLYTE_TS_CACHE_DIR: cache } });
    expect(dirForFile.code).toBe(2);
    expect(dirForFile.stderr).toMatch(/--data expects a file, but "sub" is a directory\./);
    expect((await flyteIn(work, ["get", "runs", "--output-format", "json"])).stdout).toBe(before);
  });

  it("inputs named like run flags are given with --input, and a missing one says so", async () => {
    const ok = await flyteHere(["run", FIXTURE, "clash", "--input", "name=ada", "--input", "env=lab", "--name", "clash-run", "--output-format", "json"]);
    expect(ok.code).toBe(0);
    expect(outputs(ok.stdout)).toBe("ada@lab");
    const missing = await flyteHere(["run", FIXTURE, "clash", "--name", "ada"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/Missing required input "name" for task "clash": --name is a flag of flyte run itself, so pass the input as --input name=<value>\./);
    const env = await flyteHere(["run", FIXTURE, "clash", "--input", "name=a", "--env", "lab"]);
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/--env expects KEY=VALUE, got "lab"\. The task has an input "env": pass it as --input env=<value>\./);
  });

  it("does not load the compiler for a task without inputs", async () => {
    const own = join(root, "no-inputs-cache");
    const r = await flyteIn(root, ["run", FIXTURE, "noInputs", "-q"], { env: { FLYTE_TS_CACHE_DIR: own } });
    expect(r.code).toBe(0);
    expect(existsSync(own)).toBe(false);
  });

  it("stores the derived schema as the action's interface", async () => {
    const r = await flyteHere(["run", FIXTURE, "numbers", "--values", "1", "--name", "sig-iface", "-q"]);
    expect(r.code).toBe(0);
    const a = JSON.parse((await flyteHere(["get", "action", "sig-iface", "a0", "--output-format", "json"])).stdout) as { interface: { inputs: unknown; output: unknown } };
    expect(a.interface).toEqual({
      inputs: { type: "object", properties: { values: { type: "array", items: { type: "number" } } }, required: ["values"], additionalProperties: false },
      output: { type: "number" },
    });
  });

  it("re-derives when a file the types come from changes", () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-sig-dep-"));
    writeFileSync(join(dir, "package.json"), '{"type":"module"}');
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(REPO, join(dir, "node_modules", "flyte-ts"));
    writeFileSync(join(dir, "shape.ts"), "export interface Shape { size: number }\n");
    writeFileSync(
      join(dir, "tasks.ts"),
      `import { TaskEnvironment } from "flyte-ts";\nimport type { Shape } from "./shape.ts";\nconst env = new TaskEnvironment({ name: "dep" });\n` +
        `export const area = env.task(async function area({ s }: { s: Shape }) { return JSON.stringify(s); });\n`,
    );
    const run = (v: string) => spawnFlyte(dir, ["run", "tasks.ts", "area", "--s", v], { env: { FLYTE_TS_CACHE_DIR: cache } });
    expect(spawnFlyte(dir, ["run", "tasks.ts", "area", "--help"], { env: { FLYTE_TS_CACHE_DIR: cache } }).stdout).toMatch(/--s <JSON object>/);
    expect(run('{"size":1}').code).toBe(0);
    writeFileSync(join(dir, "shape.ts"), "export type Shape = number[];\n");
    const after = run('{"size":1}');
    expect(after.code).toBe(2);
    expect(after.stderr).toMatch(/--s expects a number, got "\{\\"size\\":1\}"\./);
  });
});
