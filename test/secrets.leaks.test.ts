/**
 * Secrets never leak (issue #13 item 3): every way a task can let a value out is tried through the real CLI,
 * then the whole state dir (database, WAL, blobs; the secret store itself aside) and every CLI output are
 * searched for each value in each of its forms.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { flyte, REPO, type CliResult } from "./helpers/runtime.ts";

const FIXTURE = join(REPO, "test/fixtures/secret-leaks.ts");
const PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----\n";
const QUOTED = 'pa"ss\\word-42';
const TOKEN = "tok-abcdef-1234";

/** Each value as it could appear: whole, without its trailing newline, line by line, JSON-escaped. */
function forms(value: string): string[] {
  const base = [value, value.replace(/\n$/, ""), ...value.split("\n")].filter((f) => f.length >= 4);
  return [...new Set(base.flatMap((f) => [f, JSON.stringify(f).slice(1, -1)]))];
}
const NEEDLES = [PEM, QUOTED, TOKEN].flatMap(forms);

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

function leaksIn(text: string): string[] {
  return NEEDLES.filter((n) => text.includes(n));
}

let root: string;
const outputs: CliResult[] = [];
const cli = (args: string[], o: { input?: string } = {}) => {
  const r = flyte(root, args, o);
  outputs.push(r);
  return r;
};

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "flyte-leaks-"));
  writeFileSync(join(root, "pem.txt"), PEM);
  writeFileSync(join(root, "token.txt"), `${TOKEN}\n`);
  expect(cli(["secret", "create", "pem", "--from-file", "pem.txt"]).code).toBe(0);
  expect(cli(["secret", "create", "token", "--from-file", "token.txt"]).code).toBe(0);
  expect(cli(["secret", "create", "quoted", "--value", QUOTED]).code).toBe(0);
});

describe("secret create", () => {
  it("--from-file stores what --value would: one trailing newline is not part of the value", () => {
    expect(readFileSync(join(root, ".flyte/secrets/_/token"), "utf8")).toBe(TOKEN);
    expect(readFileSync(join(root, ".flyte/secrets/_/pem"), "utf8")).toBe(PEM.slice(0, -1));
    writeFileSync(join(root, "two.txt"), "value-with-blank-line\n\n");
    expect(cli(["secret", "create", "two", "--from-file", "two.txt"]).code).toBe(0);
    expect(readFileSync(join(root, ".flyte/secrets/_/two"), "utf8")).toBe("value-with-blank-line\n");
  });

  it("refuses a value shorter than 4 characters", () => {
    const r = cli(["secret", "create", "pin", "--value", "123"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Secret "pin" is 3 characters long; a secret needs at least 4 so it can be hidden from logs and errors. Use a longer value.');
    expect(existsSync(join(root, ".flyte/secrets/_/pin"))).toBe(false);
  });
});

describe("a run that tries every way out", () => {
  let out: Record<string, { name?: string; code?: string; field?: string | null; message?: string; ok?: unknown }>;
  beforeAll(() => {
    const r = cli(["run", FIXTURE, "main", "--name", "leaky", "--output-format", "json"]);
    expect(r.code, r.stderr).toBe(0);
    out = (JSON.parse(r.stdout.slice(r.stdout.search(/^\{$/m))) as { outputs: typeof out }).outputs;
  });

  it("refuses a secret in an output, a child's inputs, a trace() result and a cached output, naming the field", () => {
    expect(out.leakOutput).toMatchObject({ name: "SecretLeakError", code: "SecretLeak", field: "token" });
    expect(out.leakOutput!.message).toBe(
      'Task "leaks.leakOutput": output ".token" holds the value of secret "token". Secret values are never stored (outputs, inputs, trace results and cache entries are): use the secret inside the task and pass on something that does not contain it.',
    );
    expect(out.leakJson).toMatchObject({ name: "SecretLeakError", field: "" });
    expect(out.leakJson!.message).toMatch(/^Task "leaks.leakJson": output "." holds the value of secret "quoted"\./);
    expect(out.leakInput).toMatchObject({ name: "SecretLeakError", field: "x" });
    expect(out.leakInput!.message).toMatch(/^Task "leaks.child": input "x" holds the value of secret "token"\./);
    expect(out.leakTrace).toMatchObject({ name: "SecretLeakError", field: "value" });
    expect(out.leakTrace!.message).toMatch(/^Task "trace fetchToken": output ".value" holds the value of secret "pem"\./);
    expect(out.leakCached).toMatchObject({ name: "SecretLeakError", field: "key" });
  });

  it("masks secrets in error codes, messages and stack traces, and in logs printed line by line or JSON-escaped", () => {
    expect(out.badCode).toMatchObject({ code: "****", message: "login refused" });
    expect(out.badStack!.message).toBe("cannot parse key:\n****");
    const logs = cli(["get", "logs", "leaky"]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain("{\"quoted\":\"****\"}");
    expect(logs.stdout).toContain("login failed for ****");
  });

  it("leaves no secret in any CLI output or anywhere in the state dir", () => {
    cli(["get", "runs"]);
    cli(["get", "run", "leaky"]);
    cli(["get", "run", "leaky", "--output-format", "json"]);
    type Tree = { name: string; shortName: string; children?: Tree[] };
    const flat = (t: Tree): Tree[] => [t, ...(t.children ?? []).flatMap(flat)];
    const actions = flat(JSON.parse(cli(["get", "action", "leaky", "--output-format", "json"]).stdout) as Tree);
    // Each CLI call costs a process start: the actions whose records held a secret (errors, outputs, inputs).
    for (const a of actions.filter((x) => ["badCode", "badStack", "leakOutput", "leakInput", "leakTrace"].includes(x.shortName))) {
      cli(["get", "action", "leaky", a.name, "--output-format", "json"]);
    }
    cli(["get", "io", "leaky"]);
    expect(actions.length).toBeGreaterThan(8);
    for (const r of outputs) expect(leaksIn(r.stdout + r.stderr)).toEqual([]);
    const stateFiles = filesUnder(join(root, ".flyte")).filter((f) => !f.startsWith(join(root, ".flyte/secrets/")));
    expect(stateFiles.some((f) => f.endsWith("flyte.db"))).toBe(true);
    for (const f of stateFiles) expect({ file: f, leaks: leaksIn(readFileSync(f).toString("utf8")) }).toEqual({ file: f, leaks: [] });
    // The cached task failed, so no cache entry holds its output.
    expect(cli(["cache", "clear", "--yes"]).stdout).toBe("Deleted 0 cache entries.\n");
  });
});

describe("mounted secrets after a crash", () => {
  it("a temp dir of mounted secrets left by a killed process is removed when flyte next starts", () => {
    const marker = join(root, "mount-dir.txt");
    const r = flyte(root, ["run", FIXTURE, "crash", "--marker", marker, "-q"]);
    expect(r.code).not.toBe(0);
    const dir = readFileSync(marker, "utf8");
    expect(dir).toMatch(/flyte-secrets-\d+-/);
    expect(readFileSync(join(dir, "token"), "utf8")).toBe(TOKEN);
    mkdirSync(join(root, "elsewhere"), { recursive: true });
    expect(flyte(join(root, "elsewhere"), ["get", "runs"]).code).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });
});
