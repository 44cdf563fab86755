import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { init, run } from "flyte-ts";
import { main } from "../examples/quickstart.ts";

describe("smoke", () => {
  it("runs the quickstart", async () => {
    await init({ root: mkdtempSync(join(tmpdir(), "flyte-smoke-")) });
    const r = await run(main, { n: 5 });
    expect(await r.outputs()).toBe(30);
    const d = await r.details();
    expect(d.root.children.length).toBe(6);
  });
});
