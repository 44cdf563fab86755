/**
 * CLI output through real shell pipes: complete when the reader is slow or buffers (> 1 MiB of JSON, logs
 * and I/O), and a reader that stops early (`| head`) ends the CLI quietly.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { FLYTE_BIN, REPO } from "./helpers/runtime.ts";

const FIXTURE = join(REPO, "test/fixtures/big-output.ts");
const KB = 1200;
let dir: string;

/** Runs a bash pipeline in `dir` (`F` is the flyte CLI); returns its stdout, the CLI's stderr and each stage's exit status. */
function pipeline(cmd: string): { stdout: string; stderr: string; status: number[] } {
  const script = `F() { node ${JSON.stringify(FLYTE_BIN)} "$@"; }; ${cmd} 2>"$ERRF"; echo "::\${PIPESTATUS[*]}"`;
  const errFile = join(dir, `stderr-${Math.random().toString(36).slice(2)}`);
  const out = execFileSync("bash", ["-c", script], { cwd: dir, encoding: "utf8", env: { ...process.env, FLYTE_CONFIG: "", ERRF: errFile }, maxBuffer: 64 << 20 });
  const i = out.lastIndexOf("::");
  return { stdout: out.slice(0, i), stderr: readFileSync(errFile, "utf8"), status: out.slice(i + 2).trim().split(" ").map(Number) };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "flyte-pipes-"));
  // The run echoes > 1 MiB of logs, more than spawnSync buffers: they go to /dev/null.
  const r = pipeline(`F run ${JSON.stringify(FIXTURE)} big --kb ${KB} --name big -q > /dev/null`);
  expect(r.status).toEqual([0]);
}, 60_000);

describe("piped output is complete", () => {
  it("get run --output-format json through a slow JSON reader parses (> 1 MiB)", () => {
    // The reader waits before reading, so the pipe fills and the CLI must wait for it to drain before exiting.
    const reader = `node -e 'setTimeout(() => { let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => { const o = JSON.parse(s); console.log(o.outputs.length, s.length); }); }, 300)'`;
    const r = pipeline(`F get run big --outputs --output-format json | ${reader}`);
    const [count, bytes] = r.stdout.trim().split(" ").map(Number);
    expect(count).toBe(KB);
    expect(bytes).toBeGreaterThan(1 << 20);
    expect(r.status).toEqual([0, 0]);
  });

  it("get io and get logs through | wc -c match what they write to a file", () => {
    const io = pipeline("F get io big | wc -c");
    const logs = pipeline("F get logs big | wc -c");
    const ioFile = pipeline(`F get io big > io.json; wc -c < io.json`);
    const logsFile = pipeline(`F get logs big > logs.txt; wc -c < logs.txt`);
    expect(Number(io.stdout.trim())).toBeGreaterThan(1 << 20);
    expect(Number(io.stdout.trim())).toBe(Number(ioFile.stdout.trim()));
    expect(Number(logs.stdout.trim())).toBeGreaterThan(1 << 20);
    expect(Number(logs.stdout.trim())).toBe(Number(logsFile.stdout.trim()));
    const lines = pipeline("F get logs big --raw | wc -l");
    expect(Number(lines.stdout.trim())).toBe(KB);
  });

  it("a reader that stops early (| head) ends the CLI quietly with status 0", () => {
    for (const cmd of ["F get logs big | head -n 2", "F get io big | head -c 100", "F get run big --outputs --output-format yaml | head -n 1"]) {
      const r = pipeline(cmd);
      expect(r.stdout.length).toBeGreaterThan(0);
      expect(r.stderr).toBe("");
      expect(r.status[0]).toBe(0);
    }
  });
});
