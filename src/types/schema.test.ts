import { describe, expect, it } from "vitest";
import { z } from "zod";
import { RuntimeDataValidationError } from "../errors.ts";
import { isObjectSchema, schemaToJsonSchema, validateWithSchema } from "./schema.ts";
import { TypeEngine } from "./type-engine.ts";

async function invalid(p: Promise<unknown>): Promise<RuntimeDataValidationError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RuntimeDataValidationError);
  return e as RuntimeDataValidationError;
}

describe("validateWithSchema", () => {
  const inputs = z.object({ x: z.number(), items: z.array(z.object({ price: z.number(), name: z.string() })).optional() });

  it("returns the parsed value", async () => {
    const coerce = z.object({ n: z.coerce.number() });
    expect(await validateWithSchema(coerce, { n: "5" }, { taskName: "env.add", direction: "input" })).toEqual({ n: 5 });
  });

  it("names the task, the input and the mismatch (the contract's message)", async () => {
    const e = await invalid(validateWithSchema(inputs, { x: "1" }, { taskName: "env.add", direction: "input" }));
    expect(e.message).toBe('Task "env.add": input "x" is invalid: Expected number, received string');
    expect(e).toMatchObject({ code: "DataValidationError", taskName: "env.add", field: "x", direction: "input" });
    expect(e.issues).toEqual([{ code: "invalid_type", path: "x", message: "Expected number, received string", expected: "number", received: "string" }]);
  });

  it("uses dotted paths into arrays and lists every issue", async () => {
    const e = await invalid(
      validateWithSchema(inputs, { x: 1, items: [{ price: 1, name: "a" }, { price: 2, name: "b" }, { price: 3, name: "c" }, { price: "9", name: 4 }] }, {
        taskName: "env.add",
        direction: "input",
      }),
    );
    expect(e.field).toBe("items.3.price");
    expect(e.issues.map((i) => i.path)).toEqual(["items.3.price", "items.3.name"]);
    expect(e.message).toBe(
      'Task "env.add": input "items.3.price" is invalid: Expected number, received string\n' +
        "  ✖ Expected number, received string → at items.3.price\n" +
        "  ✖ Expected string, received number → at items.3.name",
    );
  });

  it("output paths are relative to the output; the output itself is named as such", async () => {
    const out = z.object({ total: z.number() });
    const e = await invalid(validateWithSchema(out, { total: null }, { taskName: "env.sum", direction: "output" }));
    expect(e.message).toBe('Task "env.sum": output "total" is invalid: Expected number, received null');
    expect(e.direction).toBe("output");
    const e2 = await invalid(validateWithSchema(z.number(), "x", { taskName: "env.sum", direction: "output" }));
    expect(e2.message).toBe('Task "env.sum": output is invalid: Expected number, received string');
    expect(e2.field).toBe("");
  });

  it("keeps zod's own message for non-type issues (enums, unknown keys, refinements)", async () => {
    const e = await invalid(validateWithSchema(z.object({ s: z.enum(["a", "b"]) }), { s: "c" }, { taskName: "env.e", direction: "input" }));
    expect(e.message).toMatch(/^Task "env\.e": input "s" is invalid: Invalid option: expected one of "a"\|"b"/);
    const strict = z.object({ a: z.number() }).strict();
    const e2 = await invalid(validateWithSchema(strict, { a: 1, extra: 2 }, { taskName: "env.e", direction: "input" }));
    expect(e2.message).toMatch(/^Task "env\.e": inputs are invalid: Unrecognized key: "extra"/);
  });

  it("works with any Standard Schema, sync or async", async () => {
    const schema = {
      "~standard": {
        version: 1 as const,
        vendor: "custom",
        validate: async (v: unknown) => (typeof v === "string" ? { value: v.toUpperCase() } : { issues: [{ message: "must be a string", path: [{ key: "root" }] }] }),
      },
    };
    expect(await validateWithSchema(schema, "x", { direction: "input" })).toBe("X");
    const e = await invalid(validateWithSchema(schema, 1, { direction: "input" }));
    expect(e.message).toBe('Input "root" is invalid: must be a string');
  });
});

describe("schemaToJsonSchema / isObjectSchema", () => {
  it("exports zod schemas as JSON Schema, describing flyte types that JSON lacks", () => {
    const js = schemaToJsonSchema(z.object({ x: z.number(), when: z.date(), n: z.bigint(), tags: z.array(z.string()) }));
    expect(js).toMatchObject({
      type: "object",
      properties: {
        x: { type: "number" },
        when: { type: "string", format: "date-time" },
        n: { type: "string" },
        tags: { type: "array", items: { type: "string" } },
      },
      required: ["x", "when", "n", "tags"],
    });
  });

  it("falls back to z.toJSONSchema for zod schemas without Standard JSON Schema", () => {
    const s = z.object({ a: z.number() });
    const old = Object.create(s, { "~standard": { value: { ...s["~standard"], jsonSchema: undefined } } }) as typeof s;
    expect(schemaToJsonSchema(old)).toMatchObject({ type: "object", properties: { a: { type: "number" } } });
  });

  it("returns undefined for schemas without a JSON Schema", () => {
    expect(schemaToJsonSchema({ "~standard": { version: 1, vendor: "x", validate: (v: unknown) => ({ value: v }) } })).toBeUndefined();
  });

  it("recognises object schemas", () => {
    expect(isObjectSchema(z.object({ a: z.number() }))).toBe(true);
    expect(isObjectSchema(z.object({}).strict())).toBe(true);
    expect(isObjectSchema(z.number())).toBe(false);
    expect(isObjectSchema(z.array(z.object({})))).toBe(false);
  });
});

describe("TypeEngine with schemas", () => {
  it("validates on both sides; unions decode to the first matching branch", async () => {
    const schema = z.union([z.object({ kind: z.literal("a"), n: z.number() }), z.object({ kind: z.literal("b"), when: z.date() })]);
    const lit = await TypeEngine.toLiteral({ kind: "b", when: new Date(3) }, { schema });
    expect(lit).toEqual({ kind: "b", when: { $flyte: "date", value: "1970-01-01T00:00:00.003Z" } });
    expect(await TypeEngine.toValue(lit, { schema })).toEqual({ kind: "b", when: new Date(3) });
    await expect(TypeEngine.toValue({ kind: "c" }, { schema })).rejects.toBeInstanceOf(RuntimeDataValidationError);
  });

  it("string enums and numeric TS enums keep their primitive form and are checked", async () => {
    enum Level {
      Low = 1,
      High = 2,
    }
    const schema = z.object({ level: z.nativeEnum(Level), color: z.enum(["red", "blue"]) });
    const lit = await TypeEngine.toLiteral({ level: Level.High, color: "red" }, { schema });
    expect(lit).toEqual({ level: 2, color: "red" });
    await expect(TypeEngine.toLiteral({ level: 3, color: "red" }, { schema, taskName: "env.t", direction: "input" })).rejects.toThrow(
      /^Task "env\.t": input "level" is invalid/,
    );
  });

  it("registered classes with a schema validate their JSON form", async () => {
    class Temp {
      constructor(public celsius: number) {}
    }
    TypeEngine.registerClass(Temp, { schema: z.object({ celsius: z.number().min(-273.15) }) });
    try {
      const back = await TypeEngine.toValue(await TypeEngine.toLiteral(new Temp(20)));
      expect(back).toBeInstanceOf(Temp);
      await expect(TypeEngine.toLiteral({ t: new Temp(-300) }, { taskName: "env.w", direction: "output" })).rejects.toThrow(
        /^Task "env\.w": output "t\.celsius" is invalid: Too small/,
      );
    } finally {
      TypeEngine.unregister("Temp");
    }
  });
});
