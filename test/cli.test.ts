import { execSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { flyte, flyteAsync, REPO, waitFor } from "./helpers/runtime.ts";
import { flyteIn } from "./helpers/cli.ts";

const FIXTURE = join(REPO, "test/fixtures/pipeline.ts");
let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "flyte-cli-"));
});

describe("flyte run", () => {
  it("runs the quickstart and prints the outputs", () => {
    const r = flyte(REPO, ["run", "examples/quickstart.ts", "main", "--n", "5", "-q"], { env: { FLYTE_STORAGE_URL: join(root, "qs-blobs") } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/succeeded .*\n/);
    expect(r.stdout).toMatch(/Outputs: 30/);
    expect(r.stdout).toMatch(/\[main\] sum of squares = 30/);
  });

  it("parses inputs from the task's schema", async () => {
    const r = await flyteIn(root, ["run", FIXTURE, "typed", "--x", "3", "--tags", "a", "--tags", "b", "--cfg", '{"k":1}', "--loud", "--output-format", "json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.slice(r.stdout.indexOf("{")))).toMatchObject({ phase: "succeeded", outputs: { x: 6, tags: ["a", "b"], k: 1, loud: true } });
  });

  it("turns an explicit path into a File input and shows File outputs by URI", async () => {
    writeFileSync(join(root, "data.csv"), "a,b\n1,2\n3,4\n");
    const r = await flyteIn(root, ["run", FIXTURE, "countLines", "--data", "./data.csv", "--name", "with-file", "-q"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/lines: 3/);
    expect(r.stdout).toMatch(/upper:\s+'File\(file:\/\/.*upper.txt\)'/);
    const got = await flyteIn(root, ["get", "run", "with-file", "--outputs"]);
    expect(got.stdout).toMatch(/Inputs: \{\s+data: 'File\(file:\/\/.*data.csv\)'\s+\}/);
  });

  it("keeps the JSON schema of a typed task's interface beside its values", async () => {
    const r = await flyteIn(root, ["run", FIXTURE, "typed", "--x", "1", "--tags", "a", "--cfg", '{"k":2}', "--name", "typed-schema", "-q"]);
    expect(r.code).toBe(0);
    const a = JSON.parse((await flyteIn(root, ["get", "action", "typed-schema", "a0", "--output-format", "json"])).stdout) as {
      inputs: unknown; interface: { inputs: { type: string; properties: Record<string, unknown> } };
    };
    expect(a.inputs).toEqual({ x: 1, tags: ["a"], cfg: { k: 2 } });
    expect(a.interface.inputs.type).toBe("object");
    expect(Object.keys(a.interface.inputs.properties)).toEqual(["x", "tags", "cfg", "loud"]);
  });

  it("--help on a task lists its inputs", async () => {
    const r = await flyteIn(root, ["run", FIXTURE, "typed", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--x <number>\s+\(required\)/);
    expect(r.stdout).toMatch(/--tags <string> \.\.\.\s+\(required; repeat the flag or pass a JSON array\)/);
    expect(r.stdout).toMatch(/--loud \/ --no-loud\s+\(optional\)/);
  });

  it("a missing or wrong input is a usage error (exit 2) naming the input", async () => {
    const missing = await flyteIn(root, ["run", FIXTURE, "typed", "--x", "3"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/Missing required inputs --tags, --cfg for task "typed"/);
    const wrong = await flyteIn(root, ["run", FIXTURE, "typed", "--x", "abc", "--tags", "a", "--cfg", "{}"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--x expects a number, got "abc"/);
    const unknown = await flyteIn(root, ["run", FIXTURE, "typed", "--y", "1"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Task "typed" has no input "y". Inputs: x, tags, cfg, loud/);
  });

  it("an unknown file or task is a ModuleLoadError (exit 1)", () => {
    const nofile = flyte(root, ["run", "nope.ts", "main"]);
    expect(nofile.code).toBe(1);
    expect(nofile.stderr).toMatch(/ModuleLoadError: File nope.ts does not exist/);
    const notask = flyte(root, ["run", FIXTURE, "nope"]);
    expect(notask.code).toBe(1);
    expect(notask.stderr).toMatch(/Task "nope" was not found in .*pipeline.ts. Tasks in the file: .*fanout/);
  });

  it("a definition mistake or a broken file is reported without a stack trace", () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-badfile-"));
    writeFileSync(join(dir, "package.json"), '{"type":"module"}');
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(REPO, join(dir, "node_modules", "flyte-ts"));
    writeFileSync(join(dir, "bad.ts"), 'import { TaskEnvironment } from "flyte-ts";\nexport const env = new TaskEnvironment({ name: "Bad Name" });\n');
    writeFileSync(join(dir, "syntax.ts"), "export const x = ;\n");
    const bad = flyte(dir, ["run", "bad.ts", "main"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe('ValidationError: TaskEnvironment: name "Bad Name" is invalid. Use lowercase letters and digits in snake_case or kebab-case, e.g. "data-processing".');
    const syntax = flyte(dir, ["run", "syntax.ts", "main"]);
    expect(syntax.code).toBe(1);
    expect(syntax.stderr).toBe('ModuleLoadError: Cannot load syntax.ts, it has a syntax error: Unexpected ";" at syntax.ts:1:18\n  1 | export const x = ;\n    |                  ^\n');
    writeFileSync(join(dir, "package.json"), "{}");
    const cjs = flyte(dir, ["run", "bad.ts", "main"]);
    expect(cjs.stderr).toMatch(/Add "type": "module" to package.json or rename the file to .mts/);
  });

  it("a failing task exits 1 with a one-paragraph summary and the run is recorded", async () => {
    const r = await flyteIn(root, ["run", FIXTURE, "fails", "--why", "testing", "--name", "will-fail", "-q"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Run will-fail failed after .*Action a0 \(fixture-plain.fails\) failed after 1 attempt: Error: failed because testing/);
    expect(r.stderr).toMatch(/flyte get logs will-fail a0/);
    expect(r.stderr).not.toMatch(/at .*pipeline\.ts:\d+/);
    const get = await flyteIn(root, ["get", "run", "will-fail"]);
    expect(get.stdout).toMatch(/will-fail\s+task fixture-plain.fails\s+failed/);
    const logs = await flyteIn(root, ["get", "logs", "will-fail", "a0", "--raw"]);
    expect(logs.stdout.trim()).toBe("about to fail");
  });
});

describe("usage mistakes name the flag and the accepted form", () => {
  it("rejects malformed flags with exit 2", async () => {
    const env = await flyteIn(root, ["run", FIXTURE, "fails", "--why", "x", "--env", "NOEQUALS"]);
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/--env expects KEY=VALUE, got "NOEQUALS"/);
    const file = await flyteIn(root, ["run", FIXTURE, "fails", "--inputs-file", join(root, "missing.json")]);
    expect(file.code).toBe(2);
    expect(file.stderr).toMatch(/--inputs-file .*missing.json could not be read as a JSON object/);
    const label = await flyteIn(root, ["get", "runs", "--with-label", "oops"]);
    expect(label.code).toBe(2);
    expect(label.stderr).toMatch(/--with-label expects k=v, got "oops"/);
    const both = await flyteIn(root, ["secret", "create", "k", "--value", "v", "--from-file", "f"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/Give either --value or --from-file, not both/);
    const gen = mkdtempSync(join(tmpdir(), "flyte-gen2-"));
    expect((await flyteIn(gen, ["gen", "config"])).code).toBe(0);
    const again = await flyteIn(gen, ["gen", "config"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/\.flyte\/config\.yaml already exists. Pass --force to overwrite it/);
    const style = await flyteIn(root, ["run", FIXTURE, "fails", "--why", "x", "--copy-style", "weird"]);
    expect(style.code).toBe(2);
    expect(style.stderr).toMatch(/--copy-style must be loaded_modules, all or none, got "weird"/);
    const remote = await flyteIn(root, ["run", FIXTURE, "fails", "--why", "x", "--remote"]);
    expect(remote.code).toBe(1);
    expect(remote.stderr).toMatch(/mode "remote" runs actions on workers, which needs backend: cluster \(PostgreSQL, flyte worker\)/);
    const dry = await flyteIn(root, ["run", FIXTURE, "typed", "--x", "2", "--tags", "a", "--cfg", '{"k":1}', "--dry-run", "--name", "dry-one"]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/Dry run: task fixture-plain.typed with inputs .* is valid; no run was created/);
    expect((await flyteIn(root, ["get", "run", "dry-one"])).code).toBe(1);
    const unknownCmd = await flyteIn(root, ["rnu"]);
    expect(unknownCmd.code).toBe(2);
    expect(unknownCmd.stderr).toMatch(/unknown command 'rnu'/);
  });
});

describe("plain progress for large runs", () => {
  it("prints per-action lines for the first 200 actions, then a summary", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-wide-"));
    writeFileSync(join(dir, "gate"), "");
    const r = await flyteIn(root, ["run", FIXTURE, "fanout", "--n", "300", "--dir", dir, "--fast", "999", "-q"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/… 301 actions: 301 succeeded/);
    expect((r.stdout.match(/succeeded\s+step /g) ?? []).length).toBeLessThanOrEqual(200);
  });
});

describe("flyte get", () => {
  it("lists runs and shows a run's tree, io and logs", async () => {
    const r = await flyteIn(root, ["run", FIXTURE, "fanout", "--n", "2", "--dir", root, "--fast", "9", "--name", "listed", "-q"]);
    expect(r.code).toBe(0);
    const runs = await flyteIn(root, ["get", "runs"]);
    expect(runs.stdout).toMatch(/NAME\s+TASK\s+PHASE/);
    expect(runs.stdout).toMatch(/listed\s+fixture-plain.fanout\s+succeeded/);
    const filtered = await flyteIn(root, ["get", "runs", "--phase", "failed", "--output-format", "json"]);
    expect((JSON.parse(filtered.stdout) as { phase: string }[]).every((x) => x.phase === "failed")).toBe(true);
    const run = await flyteIn(root, ["get", "run", "listed", "--outputs"]);
    expect(run.stdout).toMatch(/Outputs: 1/);
    expect(run.stdout.match(/succeeded\s+\S+\s+step/g)).toHaveLength(2);
    const io = await flyteIn(root, ["get", "io", "listed"]);
    expect(JSON.parse(io.stdout)).toMatchObject({ inputs: { n: 2, fast: 9 }, outputs: 1 });
    const logs = await flyteIn(root, ["get", "logs", "listed"]);
    expect(logs.stdout).toMatch(/step 0 ran/);
    expect(logs.stdout).toMatch(/step 1 ran/);
    const none = await flyteIn(root, ["get", "run", "missing-run"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/RunNotFoundError: Run "missing-run" was not found/);
  });
});

describe("flyte abort", () => {
  it("aborts a run owned by another process", async () => {
    const child = flyteAsync(root, ["run", FIXTURE, "sleeper", "--seconds", "30", "--name", "to-abort", "-q"]);
    // Listened for at once: the in-process abort lets the event loop run, so the child may exit before it returns.
    const exited = new Promise<number | null>((r) => child.once("exit", r));
    let out = "";
    child.stdout!.on("data", (d) => (out += String(d)));
    await waitFor(() => /running/.test(out), 20_000, "the run to start");
    const a = await flyteIn(root, ["abort", "to-abort", "--reason", "test says stop"]);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/Run to-abort aborted/);
    const code = await exited;
    expect(code).toBe(1);
    const d = JSON.parse((await flyteIn(root, ["get", "run", "to-abort", "--output-format", "json"])).stdout) as { phase: string; error: { message: string } };
    expect(d.phase).toBe("aborted");
    expect(d.error.message).toMatch(/test says stop/);
  }, 60_000);
});

describe("flyte cache clear", () => {
  it("deletes cache entries", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-cache-"));
    expect((await flyteIn(dir, ["run", join(REPO, "examples/quickstart.ts"), "main", "--n", "3", "-q"])).code).toBe(0);
    const second = await flyteIn(dir, ["run", join(REPO, "examples/quickstart.ts"), "main", "--n", "3", "-q"]);
    expect(second.stdout).toMatch(/cache hit/);
    const clear = await flyteIn(dir, ["cache", "clear", "--yes"]);
    expect(clear.stdout).toMatch(/Deleted 4 cache entries/);
    const third = await flyteIn(dir, ["run", join(REPO, "examples/quickstart.ts"), "main", "--n", "3", "-q"]);
    expect(third.stdout).not.toMatch(/cache hit/);
    expect((await flyteIn(dir, ["cache", "clear", "--yes", "--task", "quickstart.sum"])).stdout).toMatch(/Deleted 1 cache entry of quickstart.sum/);
  });
});

describe("secrets", () => {
  it("create/get/delete, injected into the task, never stored in the state dir", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-secret-"));
    const value = "s3cr3t-value-7f9a";
    const missing = await flyteIn(dir, ["run", FIXTURE, "usesSecret", "-q"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/SecretNotFoundError.*Secret "api-token" was not found in the secret store. Create it with: flyte secret create api-token/);
    expect((await flyteIn(dir, ["secret", "create", "api-token"], { input: `${value}\n` })).stdout).toMatch(/Secret api-token stored/);
    const file = join(dir, ".flyte", "secrets", "_", "api-token");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const list = await flyteIn(dir, ["secret", "get"]);
    expect(list.stdout).toMatch(/api-token/);
    expect(list.stdout).not.toContain(value);
    const r = await flyteIn(dir, ["run", FIXTURE, "usesSecret", "--name", "with-secret", "-q"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Outputs: 17/);
    expect(r.stdout).toMatch(/token is \*\*\*\*/);
    expect(r.stdout).not.toContain(value);
    // The value is nowhere in the state dir except the secret store itself.
    const hits = execSync(`grep -rl --exclude-dir=secrets ${value} ${join(dir, ".flyte")} || true`, { encoding: "utf8" }).trim();
    expect(hits).toBe("");
    expect((await flyteIn(dir, ["secret", "delete", "api-token"])).stdout).toMatch(/deleted/);
    const gone = await flyteIn(dir, ["secret", "delete", "api-token"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/Secret "api-token" does not exist/);
  });
});

describe("flyte gen config and configuration", () => {
  it("writes a starter config, git-ignores .flyte and rejects unknown keys", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-gen-"));
    expect((await flyteIn(dir, ["gen", "config"])).code).toBe(0);
    expect(existsSync(join(dir, ".flyte", "config.yaml"))).toBe(true);
    expect(readFileSync(join(dir, ".gitignore"), "utf8")).toContain(".flyte/");
    expect((await flyteIn(dir, ["get", "config", "--output-format", "json"])).stdout).toMatch(/"backend": "embedded"/);
    writeFileSync(join(dir, ".flyte", "config.yaml"), "backend: embedded\nstroe:\n  stateDir: x\n");
    const bad = await flyteIn(dir, ["get", "runs"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/InitializationError \(BadConfig\): Unknown key "stroe" in config file .*config.yaml/);
    mkdirSync(join(dir, "sub"));
    expect(readdirSync(dir)).toContain(".flyte");
  });
});
