/**
 * Bad input to sandboxed orchestrators gets a named error: syntax errors (with line and column) and bad
 * sources at definition; unknown tasks, non-serialisable values and thrown errors at run time.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { TaskEnvironment, run } from "flyte-ts";
import { File } from "flyte-ts/io";
import { RestrictedTypeError, RuntimeUserError, ValidationError } from "flyte-ts/errors";
import { freshRuntime } from "./helpers/runtime.ts";

declare function flyteMap(task: string, items: object[], o?: object): Promise<unknown[]>;

let root: string;
beforeAll(async () => {
  root = await freshRuntime("flyte-sandbox-");
});

const env = new TaskEnvironment({ name: "sbx-errors" });
const echo = env.task(async function echo(inputs: Record<string, unknown>) {
  return inputs;
});
const makeDate = env.task(async function makeDate() {
  return new Date(0);
});
const makeFile = env.task(async function makeFile({ path }: { path: string }) {
  return File.fromLocal(path);
});
const readFile = env.task(async function readFile({ f }: { f: File }) {
  return { text: await f.text(), isFile: f instanceof File };
});

let seq = 0;
async function outcome(code: string, o: { typeCheck?: boolean } = {}, inputs: Record<string, unknown> = {}): Promise<unknown> {
  const names = Object.keys(inputs);
  const t = env.sandbox.orchestrator(code, { name: `err${seq++}`, inputs: Object.fromEntries(names.map((n) => [n, z.any()])), ...o });
  const r = await run(t, inputs);
  return r.outputs().catch((e: unknown) => e);
}

describe("definition-time errors", () => {
  it("a syntax error names the line and column", () => {
    let err: unknown;
    try {
      env.sandbox.orchestrator("const a = 1;\nconst b = a +;\nb", { name: "syntax", inputs: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toMatch(/syntax error at line 2, column 14: Unexpected token/);
    expect(err).toMatchObject({ line: 2, column: 14 });
    expect((err as Error).message).toContain("const b = a +;");
  });

  it("an unterminated string or brace is a syntax error too", () => {
    expect(() => env.sandbox.orchestrator("if (x) {\n  x + 1", { name: "s2", inputs: { x: z.number() } })).toThrow(/line 2/);
    expect(() => env.sandbox.orchestrator("'abc", { name: "s3", inputs: {} })).toThrow(/line 1, column 1: Unterminated string constant/);
  });

  it("sources that are not functions are refused: native, bound, class, method shorthand, generators", () => {
    const at = /cannot run in the sandbox|not a function or arrow|class cannot be an orchestrator|generator functions/;
    expect(() => env.sandbox.orchestrator({ name: "n1" }, Math.max as never)).toThrow(at);
    expect(() => env.sandbox.orchestrator({ name: "n2" }, async function bound() {}.bind(null))).toThrow(at);
    expect(() => env.sandbox.orchestrator({ name: "n3" }, class K {} as never)).toThrow(at);
    const obj = { async method({ n }: { n: number }) { return n; } };
    expect(() => env.sandbox.orchestrator({ name: "n4" }, obj.method)).toThrow(at);
    expect(() => env.sandbox.orchestrator({ name: "n5" }, function* gen() {} as never)).toThrow(at);
  });

  it("two tasks with the same bare name are a ValidationError", () => {
    const a = new TaskEnvironment({ name: "sbx-dup-a" });
    const b = new TaskEnvironment({ name: "sbx-dup-b" });
    const t1 = a.task(async function same() { return 1; });
    const t2 = b.task(async function same() { return 2; });
    expect(() => env.sandbox.orchestrator("1", { name: "dup1", inputs: {}, tasks: [t1, t2] })).toThrow(/two tasks are named "same"/);
    expect(() => a.sandbox.orchestrator("1", { name: "dup2", inputs: {}, tasks: [t2] })).toThrow(ValidationError);
    // The same task twice (or an override of an environment task) is not a duplicate.
    expect(() => a.sandbox.orchestrator("1", { name: "dup3", inputs: {}, tasks: [t1, t1.override({ cache: "auto" })] })).not.toThrow();
  });

  it("a task named like a JavaScript global cannot be given (the code could never call it)", () => {
    const o = new TaskEnvironment({ name: "sbx-globals" });
    const fetchTask = o.task(async function fetch() { return 1; });
    expect(() => env.sandbox.orchestrator("1", { name: "g1", inputs: {}, tasks: [fetchTask] })).toThrow(/named like a JavaScript global/);
  });

  it("declared types that cannot cross the boundary are a RestrictedTypeError unless typeCheck is off", () => {
    expect(() => env.sandbox.orchestrator("d", { name: "dt1", inputs: { d: z.date() } })).toThrow(RestrictedTypeError);
    expect(() => env.sandbox.orchestrator("1", { name: "dt2", inputs: {}, output: z.map(z.string(), z.number()) })).toThrow(/output is declared as map/);
    expect(() => env.sandbox.orchestrator("d", { name: "dt3", inputs: { d: z.date() }, typeCheck: false })).not.toThrow();
  });
});

describe("run-time errors", () => {
  it("calling a task that was not given is a ReferenceError listing the callable tasks", async () => {
    const err = await outcome("await notGiven({ x: 1 })");
    expect(err).toBeInstanceOf(RuntimeUserError);
    expect((err as RuntimeUserError).code).toBe("ReferenceError");
    expect((err as Error).message).toMatch(/'notGiven' is not defined/);
    expect((err as Error).message).toMatch(/tasks it was given \(.*echo.*\)/);
  });

  it("flyteMap over an unknown task names the available ones", async () => {
    const err = await outcome('await flyteMap("nope", [{}])');
    expect((err as RuntimeUserError).code).toBe("UnknownTask");
    expect((err as Error).message).toMatch(/no task named "nope".*Available tasks: .*echo/);
  });

  it.each([
    ["a Map output", "new Map([[1, 2]])", /the output is a Map/],
    ["a function in task inputs", "await echo({ f() {} })", /inputs of task "echo" at f is a function/],
    ["a class instance in task inputs", "class P {}\nawait echo({ p: new P() })", /at p is a P/],
    ["a BigInt", "({ n: 10n })", /at n is a bigint/],
    ["NaN", "[1, NaN]", /at \[1\] is a NaN/],
    ["a cycle", "const a = { };\na.self = a;\na", /is cyclic/],
    ["a Date returned by a task", "await makeDate()", /output of task "sbx-errors.makeDate" is a Date/],
    ["a forged File handle", "await readFile({ f: { __flyte_io_type__: 'File', ref: '999' } })", /handle the sandbox did not receive/],
  ])("%s → RestrictedTypeError", async (_what, code, message) => {
    const err = await outcome(code);
    expect(err).toBeInstanceOf(RestrictedTypeError);
    expect((err as RestrictedTypeError).code).toBe("RestrictedTypeUsage");
    expect((err as Error).message).toMatch(message);
  });

  it("a RestrictedTypeError from a task call can be caught inside the sandbox", async () => {
    expect(await outcome("let name;\ntry { await echo({ m: new Map() }) } catch (e) { name = e.name }\nname")).toBe("RestrictedTypeError");
  });

  it("typeCheck: false passes values through JSON instead (lossy, never a host object)", async () => {
    expect(await outcome("await makeDate()", { typeCheck: false })).toBe("1970-01-01T00:00:00.000Z");
    expect(await outcome("({ m: new Map([[1, 2]]), u: undefined, f() {} })", { typeCheck: false })).toEqual({ m: {} });
  });

  it("thrown errors become RuntimeUserError with code = the error's name and the line of the throw", async () => {
    const err = await outcome("const x = 1;\nthrow new TypeError('bad ' + x)");
    expect(err).toBeInstanceOf(RuntimeUserError);
    expect(err).toMatchObject({ code: "TypeError", message: "bad 1 (line 2 of the sandboxed code)" });
    const custom = await outcome("class QuotaError extends Error { constructor(m) { super(m); this.name = 'QuotaError'; } }\nthrow new QuotaError('over')");
    expect(custom).toMatchObject({ code: "QuotaError" });
    expect((custom as Error).message).toMatch(/^over/);
    expect(await outcome("throw 'a string'")).toMatchObject({ code: "Error", message: "a string" });
  });

  it("function mode reports lines relative to the function source", async () => {
    const fails = env.sandbox.orchestrator(async function fails() {
      const a = 1;
      throw new RangeError(`nope ${a}`);
    });
    const err = await (await run(fails)).outputs().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "RangeError" });
    expect((err as Error).message).toMatch(/^nope 1 \(line 3 of the sandboxed code\)/);
  });

  it("File values pass through the sandbox as opaque handles", async () => {
    const path = join(root, "hello.txt");
    writeFileSync(path, "hello from a file");
    const out = await outcome("const f = await makeFile({ path });\nconst keys = Object.keys(f).sort();\n({ keys, read: await readFile({ f }), kind: f.__flyte_io_type__ })", {}, { path });
    expect(out).toEqual({ keys: ["__flyte_io_type__", "ref"], read: { text: "hello from a file", isFile: true }, kind: "File" });
  });

  it("inputs that cannot cross the boundary fail before the code runs", async () => {
    const t = env.sandbox.orchestrator("x", { name: "inDate", inputs: { x: z.any() } });
    const err = await (await run(t, { x: new Map([[1, 2]]) })).outputs().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestrictedTypeError);
    expect((err as Error).message).toMatch(/the inputs at x is a Map/);
  });
});

describe("function-mode orchestrators in TypeScript", () => {
  it("see the environment's tasks and flyteMap as globals", async () => {
    const fm = env.sandbox.orchestrator(async function fm() {
      const rs = await flyteMap("echo", [{ a: 1 }, { a: 2 }]);
      return rs;
    });
    expect(await (await run(fm)).outputs()).toEqual([{ a: 1 }, { a: 2 }]);
  });
});
