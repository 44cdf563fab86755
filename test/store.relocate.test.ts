/**
 * A moved or copied project reads its own blobs (issue #13 item 4): local blob URIs are stored relative to
 * the state dir, so the copy never reads (or depends on) the original's files.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { flyte, REPO } from "./helpers/runtime.ts";

const FIXTURE = join(REPO, "test/fixtures/store-failures.ts");

describe("a copied project", () => {
  it("reads outputs and cache entries from its own blobs after the original's are gone", () => {
    const a = mkdtempSync(join(tmpdir(), "flyte-orig-"));
    const b = mkdtempSync(join(tmpdir(), "flyte-copy-"));
    expect(flyte(a, ["run", FIXTURE, "bigOut", "--n", "1", "--name", "r1", "-q"]).code).toBe(0);
    cpSync(join(a, ".flyte"), join(b, ".flyte"), { recursive: true });
    rmSync(join(a, ".flyte/blobs"), { recursive: true });
    // The store never names the original's absolute path.
    expect(readFileSync(join(b, ".flyte/flyte.db")).includes(Buffer.from(a))).toBe(false);

    const io = flyte(b, ["get", "io", "r1"]);
    expect(io.stderr).toBe("");
    expect(io.code).toBe(0);
    expect(JSON.parse(io.stdout)).toEqual({ inputs: { n: 1 }, outputs: `${"z".repeat(500)}1` });

    expect(flyte(b, ["run", FIXTURE, "bigOut", "--n", "1", "--name", "r2", "-q"]).code).toBe(0);
    const r2 = JSON.parse(flyte(b, ["get", "run", "r2", "--output-format", "json"]).stdout) as { root: { cacheHit: boolean } };
    expect(r2.root.cacheHit).toBe(true);
  });
});
