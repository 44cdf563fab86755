/** CLI fixes found by trying it as a user (issue #12 item 5, #13 item 7), each through the spawned `flyte`. */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { FLYTE_BIN, REPO, flyte, flyteAsync, waitFor } from "./helpers/runtime.ts";
import { flyteIn } from "./helpers/cli.ts";

const FIXTURE = join(REPO, "test/fixtures/pipeline.ts");
const RETRIES = join(REPO, "examples/tour/retries-timeouts.ts");
let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "flyte-fixes-"));
});

/** Runs `flyte <args>` on a pseudo-terminal (util-linux `script`), typing `keys` once `prompt` shows. */
function onTty(cwd: string, args: string[], prompt: RegExp, keys: string): Promise<{ code: number | null; out: string }> {
  const cmd = ["node", FLYTE_BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const child = spawn("script", ["-qfec", cmd, "/dev/null"], { cwd, env: { ...process.env, FLYTE_CONFIG: "" }, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let typed = false;
  child.stdout.on("data", (d) => {
    out += String(d);
    if (!typed && prompt.test(out)) {
      typed = true;
      child.stdin.write(keys);
    }
  });
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, out })));
}

describe("flyte run without a task", () => {
  it("--help and -h work without a file; no file or no task is exit 2; a file alone lists its tasks", () => {
    for (const h of ["--help", "-h"]) {
      const r = flyte(root, ["run", h]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: flyte run \[options\] \[file\] \[task\]/);
    }
    const none = flyte(root, ["run"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe("error: flyte run needs a file and a task: flyte run <file> <task> [inputs]. See: flyte run --help\n");
    const list = flyte(root, ["run", FIXTURE]);
    expect(list.code).toBe(2);
    expect(list.stderr).toMatch(/^error: no task named. Tasks in .*pipeline.ts:\n {2}countLines +fixture-plain.countLines\n/);
    expect(list.stderr).toMatch(/\n {2}typed +fixture-plain.typed\n/);
    const help = flyte(root, ["run", FIXTURE, "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Tasks in .*pipeline.ts:[\s\S]*fanout/);
  });

  it("an unknown task suggests the closest name", async () => {
    const r = await flyteIn(root, ["run", FIXTURE, "tpyed"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ModuleLoadError: Task "tpyed" was not found in .*pipeline.ts. Did you mean "typed"\? Tasks in the file: /);
    expect((await flyteIn(root, ["run", FIXTURE, "zzzzzz"])).stderr).not.toMatch(/Did you mean/);
  });
});

describe("the ids the live view prints", () => {
  it("short action ids and unique task names work in get logs, get action and get io", async () => {
    const r = await flyteIn(root, ["run", FIXTURE, "fanout", "--n", "2", "--dir", root, "--fast", "9", "--name", "ids", "-q"]);
    expect(r.code).toBe(0);
    const ids = [...new Set([...r.stdout.matchAll(/step ([0-9a-z]{8}) /g)].map((m) => m[1]!))];
    expect(ids).toHaveLength(2);
    const logs: string[] = [];
    for (const id of ids) logs.push((await flyteIn(root, ["get", "logs", "ids", id, "--raw"])).stdout.trim());
    expect(logs.sort()).toEqual(["step 0 ran", "step 1 ran"]);
    const action = await flyteIn(root, ["get", "action", "ids", ids[0]!]);
    expect(action.code).toBe(0);
    expect(action.stdout).toMatch(new RegExp(`^Action ${ids[0]}\\w+  task fixture-plain.step  succeeded`));
    expect(JSON.parse((await flyteIn(root, ["get", "io", "ids", "fanout"])).stdout)).toMatchObject({ inputs: { n: 2 }, outputs: 1 });
    const ambiguous = await flyteIn(root, ["get", "io", "ids", "step"]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/^error: "step" matches 2 actions of run "ids": /);
    const missing = await flyteIn(root, ["get", "logs", "ids", "nothere"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('ActionNotFoundError: Action "nothere" does not exist in run "ids". See its actions with: flyte get run ids\n');
  });

  it("attempts are numbered alike in the live view and get action; failure lines carry the error; the count includes the root", async () => {
    const r = await flyteIn(root, ["run", RETRIES, "main", "--name", "tries", "-q"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/▶ running {3}flaky ([0-9a-z]{8}) \d+ms \[attempt #1\] attempt #0 failed: Error: transient failure on attempt 0\n/);
    expect(r.stdout).toMatch(/✔ succeeded flaky [0-9a-z]{8} \d+ms \[attempt #2\]\n/);
    expect(r.stdout).toMatch(/⏱ timed_out slow [0-9a-z]{8} \d+ms TaskTimeoutError: Task "tour-retries.slow" attempt #0 ran longer than its maxRuntime/);
    expect(r.stdout).toMatch(/✔ Run tries succeeded in \S+; 3 actions \(2 succeeded, 1 timed_out\)\n/);
    const flaky = /flaky ([0-9a-z]{8})/.exec(r.stdout)![1]!;
    const action = (await flyteIn(root, ["get", "action", "tries", flaky])).stdout;
    expect(action).toMatch(/ {2}#0 failed .* transient failure on attempt 0/);
    expect(action).toMatch(/ {2}#2 succeeded/);
  });
});

describe("usage errors (exit 2) and messages", () => {
  it("bad --phase, --output-format, --max-action-concurrency and __proto__ inputs are refused; nothing is recorded", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-usage-"));
    const phase = await flyteIn(dir, ["get", "runs", "--phase", "bogus"]);
    expect(phase.code).toBe(2);
    expect(phase.stderr).toBe('error: --phase must be one of queued, waiting_for_resources, initializing, running, succeeded, failed, aborted, timed_out, got "bogus".\n');
    const format = await flyteIn(dir, ["get", "runs", "--output-format", "xml"]);
    expect(format.code).toBe(2);
    expect(format.stderr).toBe('error: --output-format must be table, json or yaml, got "xml".\n');
    const conc = await flyteIn(dir, ["run", FIXTURE, "fails", "--why", "x", "--max-action-concurrency", "abc"]);
    expect(conc.code).toBe(2);
    expect(conc.stderr).toBe('error: --max-action-concurrency expects a whole number (0 = no limit), got "abc".\n');
    const proto = await flyteIn(dir, ["run", FIXTURE, "fails", "--why", "x", "--input", '__proto__={"why":"y"}']);
    expect(proto.code).toBe(2);
    expect(proto.stderr).toMatch(/^error: --input "__proto__=\{\\"why\\":\\"y\\"\}" uses the key "__proto__", which cannot be an input name/);
    writeFileSync(join(dir, "in.json"), '{"x":1,"tags":["a"],"cfg":{"k":1,"__proto__":{"polluted":true}}}');
    const file = await flyteIn(dir, ["run", FIXTURE, "typed", "--inputs-file", "in.json"]);
    expect(file.code).toBe(2);
    expect(file.stderr).toBe('error: --inputs-file in.json (at cfg.__proto__) uses the key "__proto__", which cannot be an input name or a key of an input value. Rename the key.\n');
    const nested = await flyteIn(dir, ["run", FIXTURE, "typed", "--x", "1", "--tags", "a", "--cfg", '{"__proto__":{"k":1}}']);
    expect(nested.code).toBe(2);
    expect(nested.stderr).toMatch(/^error: --cfg \(at cfg.__proto__\) uses the key "__proto__"/);
    const invalid = await flyteIn(dir, ["run", FIXTURE, "typed", "--x", "1", "--tags", "a", "--cfg", '{"k":"zz"}']);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/^error: Task "fixture-plain.typed": input "cfg.k" is invalid: .*\. Nothing was run; fix the input and try again.\n$/);
    expect((await flyteIn(dir, ["get", "runs"])).stdout).toBe("No runs yet. Start one with: flyte run <file.ts> <task>\n");
    expect((await flyteIn(dir, ["get", "runs", "--with-label", "team=none"])).stdout).toBe("No runs match these filters. List all runs with: flyte get runs\n");
  });

  it("a failure summary ends each sentence with one period", async () => {
    const r = await flyteIn(root, ["run", FIXTURE, "fails", "--why", "the disk is gone.", "-q"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed after 1 attempt: Error: failed because the disk is gone. Logs: flyte get logs/);
    expect(r.stderr).not.toMatch(/\.\./);
  });
});

describe("project state", () => {
  it("a command in a subdirectory uses the project's .flyte instead of creating one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-walk-"));
    expect((await flyteIn(dir, ["run", FIXTURE, "fails", "--why", "x", "--name", "top-run", "-q"])).code).toBe(1);
    const sub = join(dir, "src", "deep");
    mkdirSync(sub, { recursive: true });
    expect((await flyteIn(sub, ["get", "runs"])).stdout).toMatch(/top-run\s+fixture-plain.fails\s+failed/);
    expect((await flyteIn(sub, ["run", FIXTURE, "fails", "--why", "y", "--name", "sub-run", "-q"])).code).toBe(1);
    expect(existsSync(join(sub, ".flyte"))).toBe(false);
    expect(existsSync(join(dir, "src", ".flyte"))).toBe(false);
    expect((await flyteIn(dir, ["get", "runs"])).stdout).toMatch(/sub-run/);
  });
});

describe("confirmation and secrets on and off a terminal", () => {
  it("cache clear without --yes refuses when stdin is not a terminal, and asks on one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-clear-"));
    const r = await flyteIn(dir, ["cache", "clear"], { input: "" });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: cache clear asks for confirmation, but stdin is not a terminal. Pass --yes to delete without asking.\n");
    const tty = await onTty(dir, ["cache", "clear"], /\[y\/N\] $/, "n\r");
    expect(tty.code).toBe(0);
    expect(tty.out).toMatch(/Delete all cache entries\? \[y\/N\] n\r?\nNothing deleted./);
  });

  it("secret create on a terminal prompts without echo; an empty value is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-prompt-"));
    const value = "typed-secret-4821";
    const r = await onTty(dir, ["secret", "create", "api-token"], /hidden\): $/, `${value}\r`);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Value for secret api-token \(input is hidden\): \r?\n.*Secret api-token stored./s);
    expect(r.out).not.toContain(value);
    expect(readFileSync(join(dir, ".flyte", "secrets", "_", "api-token"), "utf8")).toBe(value);
    const empty = await onTty(dir, ["secret", "create", "other"], /hidden\): $/, "\r");
    expect(empty.code).toBe(2);
    expect(empty.out).toMatch(/error: The value of secret other is empty; nothing stored./);
    const piped = await flyteIn(dir, ["secret", "create", "other"], { input: "" });
    expect(piped.code).toBe(2);
    expect(piped.stderr).toBe("error: The value of secret other is empty; nothing stored. Give it with --value, --from-file, on stdin or at the prompt.\n");
    expect(existsSync(join(dir, ".flyte", "secrets", "_", "other"))).toBe(false);
  });
});

describe("abort and lost owners", () => {
  it("flyte abort run <name> works and the abort is reported once", async () => {
    const child = flyteAsync(root, ["run", FIXTURE, "sleeper", "--seconds", "30", "--name", "abort-alias", "-q"]);
    // Listened for at once: the in-process abort lets the event loop run, so the child may exit before it returns.
    const exited = new Promise<number | null>((r) => child.once("exit", r));
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += String(d)));
    child.stderr!.on("data", (d) => (err += String(d)));
    await waitFor(() => /running/.test(out), 20_000, "the run to start");
    const a = await flyteIn(root, ["abort", "run", "abort-alias", "--reason", "enough"]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe("Run abort-alias aborted.\n");
    expect(await exited).toBe(1);
    expect(err).toMatch(/aborted after 1 attempt: ActionAbortedError: Run "abort-alias" was aborted: enough. Logs:/);
    expect(err.match(/was aborted/g)).toHaveLength(1);
    const get = (await flyteIn(root, ["get", "run", "abort-alias"])).stdout;
    expect(get).toMatch(/Error: ActionAbortedError \(ActionAbortedError, user\): Run "abort-alias" was aborted: enough\n/);
    expect(get).not.toMatch(/ActionAbortedError: Action of task/);
  }, 60_000);

  it("the OwnerLost error names the run to recover", async () => {
    const child = flyteAsync(root, ["run", FIXTURE, "sleeper", "--seconds", "30", "--name", "lost-owner", "-q"]);
    let out = "";
    child.stdout!.on("data", (d) => (out += String(d)));
    await waitFor(() => /running/.test(out), 20_000, "the run to start");
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const d = JSON.parse((await flyteIn(root, ["get", "run", "lost-owner", "--output-format", "json"])).stdout) as { phase: string; error: { code: string; message: string } };
    expect(d.phase).toBe("failed");
    expect(d.error.code).toBe("OwnerLost");
    expect(d.error.message).toBe('The process running run "lost-owner" stopped (killed or crashed) before it finished. Start it again with: flyte recover lost-owner');
  }, 60_000);
});

describe("README steps", () => {
  it("the Secrets section's commands run examples/tour/secrets.ts", async () => {
    const md = readFileSync(join(REPO, "README.md"), "utf8");
    const section = md.slice(md.indexOf("### Secrets"));
    const block = /```bash\n([\s\S]*?)```/.exec(section)![1]!;
    const commands = block.trim().split("\n").map((l) => l.replace(/^npx flyte /, "").split(" "));
    expect(commands.at(-1)).toEqual(["run", "examples/tour/secrets.ts", "main"]);
    const dir = mkdtempSync(join(tmpdir(), "flyte-readme-secrets-"));
    for (const args of commands) {
      // Run outside the repo (so its .flyte is untouched) with the example's path made absolute.
      const r = await flyteIn(dir, [...args.map((a) => (a.startsWith("examples/") ? join(REPO, a) : a)), ...(args[0] === "run" ? ["-q"] : [])]);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
      if (args[0] === "run") expect(r.stdout).toMatch(/Outputs: \{ tokenLength: 6, tokenInEnv: true, passwordInEnv: true \}/);
    }
  });
});
