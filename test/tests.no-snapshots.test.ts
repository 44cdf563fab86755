/**
 * Outside CI, vitest writes a missing snapshot instead of failing, so a snapshot test passes on its first run
 * whatever the code produced. Expected output lives in golden files that only an explicit command writes (see
 * test/images.dockerfile.test.ts: `UPDATE_GOLDEN=1 npx vitest run <file>`).
 */
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./helpers/runtime.ts";

const SNAPSHOT_MATCHERS = ["toMatchSnapshot", "toMatchInlineSnapshot", "toMatchFileSnapshot", "toThrowErrorMatchingSnapshot", "toThrowErrorMatchingInlineSnapshot"];

function testFiles(dir: string): string[] {
  return readdirSync(dir, { encoding: "utf8", recursive: true })
    .filter((f) => f.endsWith(".test.ts"))
    .map((f) => join(dir, f));
}

describe("test hygiene", () => {
  it("no test uses a vitest snapshot (it would be written, not compared, on a first run outside CI)", () => {
    const files = [...testFiles(join(REPO, "test")), ...testFiles(join(REPO, "src"))];
    expect(files.length).toBeGreaterThan(40);
    const uses = files.flatMap((f) =>
      SNAPSHOT_MATCHERS.filter((m) => readFileSync(f, "utf8").includes(`.${m}(`)).map((m) => `${relative(REPO, f)}: ${m}`),
    );
    expect(uses, "use a golden file that only UPDATE_GOLDEN=1 writes, as test/images.dockerfile.test.ts does").toEqual([]);
  });
});
