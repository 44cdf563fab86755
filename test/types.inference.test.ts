/**
 * Type-level tests (API.md §2.1–2.3, §10.2, §11.3): a task's input and output types are inferred from its function
 * signature or its zod schemas, and calling it wrongly is a compile error. `npm test` runs `tsc --noEmit` over
 * test/, so every `// @ts-expect-error` line below must be an error; vitest's `expectTypeOf` checks the rest.
 * The task bodies never run: only the `it` blocks that declare tasks are executed.
 */
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import {
  TaskEnvironment, map, run, withRunContext, type InputsOf, type MapResult, type OutputOf, type Run, type TaskTemplate,
} from "flyte-ts";
import { FunctionTaskTemplate } from "flyte-ts/extend";

const env = new TaskEnvironment({ name: `types-${process.pid}` });

const add = env.task(async function add({ a, b }: { a: number; b: number }) {
  return a + b;
});
const greet = env.task(function greet({ name }: { name: string }) {
  return `hello ${name}`;
});
const noInputs = env.task(async function noInputs() {
  return [1, 2, 3];
});
const optionalInputs = env.task(async function optionalInputs({ n = 3 }: { n?: number }) {
  return n;
});
const schemaTask = env.task(
  { name: "schemaTask", inputs: z.object({ x: z.number(), tags: z.array(z.string()) }), output: z.object({ total: z.number() }) },
  async ({ x, tags }) => ({ total: x * tags.length }),
);
const inputsOnly = env.task({ name: "inputsOnly", inputs: z.object({ s: z.string() }) }, async ({ s }) => s.length > 0);
const outputOnly = env.task({ name: "outputOnly", output: z.string() }, async function outputOnly({ n }: { n: number }) {
  return String(n);
});
const withOptions = env.task({ retries: 2, cache: "auto" }, async function withOptions({ id }: { id: string }) {
  return { id, at: new Date() };
});

describe("inference from the function signature", () => {
  it("infers inputs from the parameter and the output from the awaited return type", () => {
    expectTypeOf(add).toEqualTypeOf<TaskTemplate<{ a: number; b: number }, number>>();
    expectTypeOf(add).parameter(0).toEqualTypeOf<{ a: number; b: number }>();
    expectTypeOf(add).returns.toEqualTypeOf<Promise<number>>();
  });

  it("wraps the result of a synchronous function in a Promise", () => {
    expectTypeOf(greet).toEqualTypeOf<TaskTemplate<{ name: string }, string>>();
    expectTypeOf(greet({ name: "Ada" })).toEqualTypeOf<Promise<string>>();
  });

  it("keeps inference when options are passed", () => {
    expectTypeOf(withOptions).toEqualTypeOf<TaskTemplate<{ id: string }, { id: string; at: Date }>>();
  });

  it("exposes the same types through InputsOf / OutputOf", () => {
    const f = async ({ a }: { a: boolean }) => [a];
    expectTypeOf<InputsOf<typeof f>>().toEqualTypeOf<{ a: boolean }>();
    expectTypeOf<OutputOf<typeof f>>().toEqualTypeOf<boolean[]>();
  });

  it("rejects a wrong input type, a missing input, an extra key and an extra argument", () => {
    const never = () => {
      // @ts-expect-error a is a number
      void add({ a: "1", b: 2 });
      // @ts-expect-error b is missing
      void add({ a: 1 });
      // @ts-expect-error c is not an input
      void add({ a: 1, b: 2, c: 3 });
      // @ts-expect-error tasks take one inputs object
      void add({ a: 1, b: 2 }, { a: 1, b: 2 });
      // @ts-expect-error inputs are required
      void add();
      // @ts-expect-error inputs are one object, not positional values
      void add(1, 2);
    };
    expectTypeOf(never).toBeFunction();
  });

  it("types forward() and aio() like the call", () => {
    expectTypeOf(add.forward).parameter(0).toEqualTypeOf<{ a: number; b: number }>();
    expectTypeOf(add.forward).returns.toEqualTypeOf<number | Promise<number>>();
    expectTypeOf(add.aio).returns.toEqualTypeOf<Promise<number>>();
    const never = () => {
      // @ts-expect-error b must be a number
      void add.aio({ a: 1, b: "2" });
    };
    expectTypeOf(never).toBeFunction();
  });
});

describe("tasks without inputs", () => {
  it("are callable with no arguments", () => {
    expectTypeOf(noInputs).toEqualTypeOf<TaskTemplate<void, number[]>>();
    expectTypeOf(noInputs()).toEqualTypeOf<Promise<number[]>>();
    const never = () => {
      // @ts-expect-error the task declares no inputs
      void noInputs({ x: 1 });
    };
    expectTypeOf(never).toBeFunction();
  });

  it("still need an inputs object when every input is optional", () => {
    expectTypeOf(optionalInputs).parameter(0).toEqualTypeOf<{ n?: number }>();
    expectTypeOf(optionalInputs({})).toEqualTypeOf<Promise<number>>();
  });
});

describe("inference from zod schemas", () => {
  it("infers inputs and output from the schemas", () => {
    expectTypeOf(schemaTask).toEqualTypeOf<TaskTemplate<{ x: number; tags: string[] }, { total: number }>>();
    expectTypeOf(schemaTask({ x: 1, tags: ["a"] })).toEqualTypeOf<Promise<{ total: number }>>();
  });

  it("infers the output from the function when only inputs has a schema", () => {
    expectTypeOf(inputsOnly).toEqualTypeOf<TaskTemplate<{ s: string }, boolean>>();
  });

  it("infers inputs from the function when only output has a schema", () => {
    expectTypeOf(outputOnly).toEqualTypeOf<TaskTemplate<{ n: number }, string>>();
  });

  it("types the function's parameter from the inputs schema", () => {
    env.task({ name: `param${process.pid}`, inputs: z.object({ when: z.date() }) }, async (i) => {
      expectTypeOf(i).toEqualTypeOf<{ when: Date }>();
      return 0;
    });
  });

  it("rejects calls and bodies that disagree with the schemas", () => {
    const never = () => {
      // @ts-expect-error tags must be strings
      void schemaTask({ x: 1, tags: [1] });
      // @ts-expect-error x is missing
      void schemaTask({ tags: [] });
      // @ts-expect-error s must be a string
      void inputsOnly({ s: 1 });
    };
    expectTypeOf(never).toBeFunction();
  });
});

describe("run, withRunContext and map", () => {
  it("run(task, inputs) returns a Run of the task's output type", () => {
    const never = async () => {
      const r = await run(add, { a: 1, b: 2 });
      expectTypeOf(r).toEqualTypeOf<Run<number>>();
      expectTypeOf(r.outputs()).toEqualTypeOf<Promise<number>>();
      expectTypeOf(run(schemaTask, { x: 1, tags: [] })).toEqualTypeOf<Promise<Run<{ total: number }>>>();
      expectTypeOf(run(noInputs)).toEqualTypeOf<Promise<Run<number[]>>>();
      expectTypeOf(withRunContext({ name: "typed" }).run(greet, { name: "x" })).toEqualTypeOf<Promise<Run<string>>>();
      // @ts-expect-error a must be a number
      await run(add, { a: "1", b: 2 });
      // @ts-expect-error b is missing
      await withRunContext().run(add, { a: 1 });
    };
    expectTypeOf(never).toBeFunction();
  });

  it("map(task, items) yields the output type (or an Error per failed item)", () => {
    const never = async () => {
      const m = map(add, [{ a: 1, b: 2 }, { a: 3, b: 4 }], { concurrency: 2 });
      expectTypeOf(m).toEqualTypeOf<MapResult<number>>();
      expectTypeOf(await m).toEqualTypeOf<(number | Error)[]>();
      expectTypeOf(await m.collect()).toEqualTypeOf<(number | Error)[]>();
      for await (const v of m) expectTypeOf(v).toEqualTypeOf<number | Error>();
      // @ts-expect-error items must be inputs objects of the task
      map(add, [{ a: "1", b: 2 }]);
      // @ts-expect-error items must be inputs objects, not bare values
      map(greet, ["Ada"]);
    };
    expectTypeOf(never).toBeFunction();
  });
});

describe("override and extension templates", () => {
  it("override keeps the task's types", () => {
    expectTypeOf(add.override({ retries: 3 })).toEqualTypeOf<TaskTemplate<{ a: number; b: number }, number>>();
    const never = () => {
      // @ts-expect-error name cannot be overridden
      add.override({ name: "other" });
    };
    expectTypeOf(never).toBeFunction();
  });

  it("rejects unknown task options at compile time", () => {
    const never = () => {
      // @ts-expect-error retry is not a task option (retries is)
      env.task({ retry: 3 }, async function typo() {});
    };
    expectTypeOf(never).toBeFunction();
  });

  it("lets an untyped detached template be called with any inputs", () => {
    const t = new FunctionTaskTemplate({ name: "loose", fn: async ({ x }: { x: number }) => x });
    expectTypeOf(t).toBeCallableWith({ x: 1 });
    expectTypeOf(t).toBeCallableWith();
  });
});
