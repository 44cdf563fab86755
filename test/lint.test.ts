/**
 * The dependency lint (eslint.config.js, `npm run lint`) really refuses what it is meant to refuse: a value
 * import cycle, an import against the folder graph, cli/ reaching past the public API.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";
import { REPO } from "./helpers/runtime.ts";
// @ts-expect-error -- the ESLint config is plain JavaScript without types.
import { LAYERS } from "../eslint.config.js";

const eslint = new ESLint({ cwd: REPO });

/** Lints `code` as if it were the file `filePath` (its imports resolve against the real tree). */
async function problems(filePath: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: join(REPO, filePath) });
  return r!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe("npm run lint", () => {
  it("exits non-zero on a value import cycle and names import-x/no-cycle", () => {
    const r = spawnSync(process.execPath, [join(REPO, "node_modules/eslint/bin/eslint.js"), "test/fixtures/lint"], { cwd: REPO, encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/cycle-a\.ts[\s\S]*import-x\/no-cycle/);
    expect(r.stdout).toMatch(/cycle-b\.ts[\s\S]*import-x\/no-cycle/);
    // A loop closed only by `import type` is not a runtime cycle.
    expect(r.stdout).not.toContain("types-a.ts");
    expect(r.stdout).not.toContain("types-b.ts");
  });

  it("refuses an import against the folder graph, type-only ones included", async () => {
    expect(await problems("src/internal/x.ts", `import { run } from "../run/run.ts";\nexport const r = run;\n`)).toEqual([
      "import-x/no-restricted-paths: Unexpected path \"../run/run.ts\" imported in restricted zone. src/internal may import only: errors.ts (eslint.config.js LAYERS).",
    ]);
    expect(await problems("src/authoring/x.ts", `import type { RunStore } from "../store/store.ts";\nexport type S = RunStore;\n`)).toHaveLength(1);
    expect(await problems("src/controller/x.ts", `import { run } from "../run/run.ts";\nexport const r = run;\n`)).toHaveLength(1);
    expect(await problems("src/run/x.ts", `import { map } from "./map.ts";\nimport type { Controller } from "../controller/controller.ts";\nexport const m: [typeof map, Controller?] = [map];\n`)).toEqual([]);
  });

  it("places every folder and top-level file of src/ in the folder graph (a new one cannot escape it)", () => {
    const placed = new Set([...Object.keys(LAYERS as Record<string, string[]>), "cli", "index.ts", "extend.ts"]);
    const entries = readdirSync(join(REPO, "src"), { withFileTypes: true }).map((d) => d.name).filter((n) => !n.endsWith(".test.ts"));
    expect(entries.filter((n) => !placed.has(n))).toEqual([]);
  });

  it("lets cli/ import the public API but not the runtime's insides", async () => {
    expect(await problems("src/cli/x.ts", `import { run } from "../index.ts";\nimport { File } from "../io/index.ts";\nexport const r = [run, File];\n`)).toEqual([]);
    expect(await problems("src/cli/x.ts", `import { SqliteStore } from "../store/sqlite/sqlite-store.ts";\nexport const s = SqliteStore;\n`)).toEqual([
      "import-x/no-restricted-paths: Unexpected path \"../store/sqlite/sqlite-store.ts\" imported in restricted zone. src/cli may import only the public API (index.ts, errors.ts, extend.ts, io/, report/, clustered/, ui/ index.ts), run/, dev/ and internal/.",
    ]);
    expect(await problems("src/cli/x.ts", `import { File } from "../io/file.ts";\nexport const f = File;\n`)).toHaveLength(1);
  });
});
