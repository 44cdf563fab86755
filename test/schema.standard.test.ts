/**
 * Standard Schema for real: the same task declared with zod, valibot and arktype validates at run time, exports a
 * JSON Schema, and gets typed `flyte run` flags (optional, default, array, enum, Date).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type } from "arktype";
import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { TaskEnvironment } from "flyte-ts";
import { RuntimeDataValidationError, ValidationError } from "flyte-ts/errors";
import { schemaToJsonSchema } from "../src/types/schema.ts";
import { withArktype, withValibot, withZod } from "./fixtures/standard-schemas.ts";
import { flyte, REPO } from "./helpers/runtime.ts";

const FIXTURE = join(REPO, "test/fixtures/standard-schemas.ts");
const TASKS = { zod: withZod, valibot: withValibot, arktype: withArktype } as const;

describe.each(Object.entries(TASKS))("%s task", (lib, task) => {
  it("validates inputs at run time and applies defaults", async () => {
    await expect(task({ mode: "fast" })).resolves.toEqual({ n: 3, tags: [], mode: "fast", when: null, label: null });
    await expect(task({ mode: "slow", n: 2, tags: ["a"], when: new Date("2024-05-01T00:00:00Z") })).resolves.toMatchObject({
      n: 2, tags: ["a"], when: "2024-05-01T00:00:00.000Z",
    });
    // @ts-expect-error mode is not "medium" (checked again at run time)
    const bad = task({ mode: "medium" });
    await expect(bad).rejects.toBeInstanceOf(RuntimeDataValidationError);
    await expect(task({ mode: "fast", n: 1.5 })).rejects.toThrow(/Task "std\.with\w+": input "n" is invalid/);
  });

  it("exports the inputs as a JSON Schema object with defaults, enums and dates", () => {
    const js = schemaToJsonSchema(task.interface.inputs!) as { type: string; properties: Record<string, Record<string, unknown>>; required?: string[] };
    expect(js.type).toBe("object");
    expect(js.required).toEqual(["mode"]);
    expect(js.properties.n).toMatchObject({ type: "integer", default: 3 });
    expect(js.properties.tags).toMatchObject({ type: "array", items: { type: "string" } });
    expect(js.properties.mode).toMatchObject({ enum: ["fast", "slow"] });
    expect(js.properties.when).toMatchObject({ "x-flyte-type": "date" });
  });

  it(`gets typed flags on the command line (${lib})`, () => {
    const root = mkdtempSync(join(tmpdir(), `flyte-std-${lib}-`));
    const help = flyte(root, ["run", FIXTURE, task.taskName, "--help"]);
    expect(help.stdout).toMatch(/--n <integer>\s+\(optional; default: 3\)/);
    expect(help.stdout).toMatch(/--tags <string> \.\.\.\s+\(optional; default: \[\]; repeat the flag or pass a JSON array\)/);
    expect(help.stdout).toMatch(/--mode <fast\|slow>\s+\(required\)/);
    expect(help.stdout).toMatch(/--when <ISO-8601 date>\s+\(optional\)/);
    expect(help.stdout).toMatch(/--input label=<string>\s+\(optional; --label is a flyte run flag\)/);
    const ok = flyte(root, ["run", FIXTURE, task.taskName, "--mode", "slow", "--tags", "a", "--tags", "b", "--when", "2024-05-01", "--input", "label=7", "--output-format", "json"]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout.slice(ok.stdout.indexOf("{"))).outputs).toEqual({ n: 3, tags: ["a", "b"], mode: "slow", when: "2024-05-01T00:00:00.000Z", label: "7" });
    const bad = flyte(root, ["run", FIXTURE, task.taskName, "--mode", "medium"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--mode expects one of "fast", "slow", got "medium"\./);
    const missing = flyte(root, ["run", FIXTURE, task.taskName, "--n", "2"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/Missing required input --mode for task "with\w+"/);
  });
});

describe("what counts as a schema", () => {
  it("accepts arktype types, which are functions", () => {
    const env = new TaskEnvironment({ name: `std-fn-${process.pid}` });
    const t = env.task({ inputs: type({ x: "number" }), output: type("number") }, async function twice({ x }) {
      return x * 2;
    });
    expect(typeof t.interface.inputs).toBe("function");
    expect(() => env.task({ inputs: (() => 1) as never }, async function notSchema() {})).toThrow(ValidationError);
  });

  it("rejects a valibot schema that is not an object as inputs", () => {
    const env = new TaskEnvironment({ name: `std-vb-${process.pid}` });
    expect(() => env.task({ inputs: v.string() as never }, async function s() {})).toThrow(/inputs must be an object schema/);
  });
});
