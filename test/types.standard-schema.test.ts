/**
 * Type-level tests: tasks declared with zod, valibot and arktype schemas infer their input and output types
 * (`npm test` runs tsc over test/, so each `@ts-expect-error` must be an error), and an arktype task does not hit
 * TS2589 ("Type instantiation is excessively deep").
 */
import { type } from "arktype";
import * as v from "valibot";
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { TaskEnvironment, type TaskTemplate } from "flyte-ts";

const env = new TaskEnvironment({ name: `std-types-${process.pid}` });

const zodTask = env.task(
  { name: "zodTask", inputs: z.object({ n: z.number().default(3), tags: z.array(z.string()) }), output: z.object({ total: z.number() }) },
  async ({ n, tags }) => ({ total: n * tags.length }),
);
const valibotTask = env.task(
  { name: "valibotTask", inputs: v.object({ n: v.optional(v.number(), 3), tags: v.array(v.string()) }), output: v.object({ total: v.number() }) },
  async ({ n, tags }) => ({ total: n * tags.length }),
);
const arktypeTask = env.task(
  { name: "arktypeTask", inputs: type({ n: "number = 3", tags: "string[]" }), output: type({ total: "number" }) },
  async ({ n, tags }) => ({ total: n * tags.length }),
);
const arktypeInputsOnly = env.task({ name: "arktypeInputsOnly", inputs: type({ when: "Date", "big?": "bigint" }) }, async ({ when, big }) => [when, big] as const);
const arktypeOutputOnly = env.task({ name: "arktypeOutputOnly", output: type("string") }, async function arktypeOutputOnly({ x }: { x: number }) {
  return String(x);
});

describe("Standard Schema inference", () => {
  it("infers inputs (defaulted inputs optional) and outputs for zod, valibot and arktype", () => {
    type Expected = TaskTemplate<{ n?: number | undefined; tags: string[] }, { total: number }>;
    expectTypeOf(zodTask).toEqualTypeOf<Expected>();
    expectTypeOf(valibotTask).toEqualTypeOf<Expected>();
    expectTypeOf(arktypeTask).parameter(0).toEqualTypeOf<{ n?: number; tags: string[] }>();
    expectTypeOf(arktypeTask).returns.toEqualTypeOf<Promise<{ total: number }>>();
    expectTypeOf(arktypeInputsOnly).returns.toEqualTypeOf<Promise<readonly [Date, bigint | undefined]>>();
    expectTypeOf(arktypeOutputOnly).toEqualTypeOf<TaskTemplate<{ x: number }, string>>();
  });

  it("rejects wrong calls and wrong return values at compile time", () => {
    const never = () => {
      // @ts-expect-error tags must be strings
      void zodTask({ tags: [1] });
      // @ts-expect-error tags must be strings
      void valibotTask({ tags: [1] });
      // @ts-expect-error tags must be strings
      void arktypeTask({ tags: [1] });
      // @ts-expect-error the output schema says total is a number
      env.task({ name: "badArk", inputs: type({ x: "number" }), output: type({ total: "number" }) }, async ({ x }) => ({ total: String(x) }));
      // @ts-expect-error the output schema says total is a number
      env.task({ name: "badVb", inputs: v.object({ x: v.number() }), output: v.object({ total: v.number() }) }, async ({ x }) => ({ total: String(x) }));
    };
    expectTypeOf(never).toBeFunction();
  });
});
