import { runInNewContext } from "node:vm";
import { afterEach, describe, expect, it } from "vitest";
import { errorFromRecord, errorToRecord, TypeTransformerFailedError } from "../errors.ts";
import { decodeLiteral, encodeLiteral } from "./codec.ts";
import { fromLiteral, type Literal, toLiteral } from "./literal.ts";
import { TypeEngine } from "./type-engine.ts";

const out = { taskName: "env.f", direction: "output" } as const;
const inp = { taskName: "env.f", direction: "input" } as const;

/** value → literal → bytes → literal → value, as every stored input/output travels. */
async function roundTrip(v: unknown): Promise<unknown> {
  const lit = await toLiteral(v, out);
  return fromLiteral(decodeLiteral(encodeLiteral(lit)));
}

async function failure(v: unknown, ctx: typeof out | typeof inp = out): Promise<TypeTransformerFailedError> {
  const e = await toLiteral(v, ctx).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TypeTransformerFailedError);
  return e as TypeTransformerFailedError;
}

const registered: string[] = [];
afterEach(() => {
  for (const n of registered.splice(0)) TypeEngine.unregister(n);
});

describe("literal form (API.md §12.1)", () => {
  it("JSON values are their own literal", async () => {
    const v = { a: null, b: true, c: 1.5, d: "s", e: [1, "x", [false]], f: { g: { h: -3 } } };
    expect(await toLiteral(v, out)).toEqual(v);
  });

  it("uses the tagged forms of the table", async () => {
    const lit = await toLiteral(
      { n: NaN, p: Infinity, m: -Infinity, d: new Date(0), b: 10n, map: new Map([["k", 1]]), set: new Set([1]), u: new Uint8Array([1, 2]) },
      out,
    );
    expect(lit).toEqual({
      n: { $flyte: "number", value: "NaN" },
      p: { $flyte: "number", value: "Infinity" },
      m: { $flyte: "number", value: "-Infinity" },
      d: { $flyte: "date", value: "1970-01-01T00:00:00.000Z" },
      b: { $flyte: "bigint", value: "10" },
      map: { $flyte: "map", entries: [["k", 1]] },
      set: { $flyte: "set", values: [1] },
      u: { $flyte: "bytes", base64: "AQI=" },
    });
  });

  it("omits undefined properties, and keeps undefined where omitting is impossible", async () => {
    expect(await toLiteral({ a: 1, b: undefined }, out)).toEqual({ a: 1 });
    expect(await roundTrip([1, undefined, 3])).toEqual([1, undefined, 3]);
    expect(await roundTrip(undefined)).toBeUndefined();
  });
});

describe("round trips keep types", () => {
  it("every built-in type, nested", async () => {
    const v = {
      when: new Date("2024-05-06T07:08:09.123Z"),
      big: 123456789012345678901234567890n,
      neg: -5n,
      nums: [NaN, Infinity, -Infinity, 0, -1.25, Number.MAX_SAFE_INTEGER, 2 ** 60, 1e-300],
      map: new Map<unknown, unknown>([["a", 1], [2, { deep: new Set([new Date(1), 3n]) }], [{ k: 1 }, [1]]]),
      set: new Set(["x", 1, null]),
      bytes: new Uint8Array([0, 255, 128]),
      buf: Buffer.from("hi"),
      status: "active" as "active" | "inactive",
      nested: { a: [{ b: { c: [new Date(5)] } }] },
      nil: null,
      empty: {},
      emptyArr: [],
    };
    const back = (await roundTrip(v)) as typeof v;
    expect(back.when).toBeInstanceOf(Date);
    expect(back.when.toISOString()).toBe("2024-05-06T07:08:09.123Z");
    expect(typeof back.big).toBe("bigint");
    expect(back.nums[0]).toBeNaN();
    expect(back.map).toBeInstanceOf(Map);
    expect(back.set).toBeInstanceOf(Set);
    expect(back.bytes).toBeInstanceOf(Uint8Array);
    expect(back.buf).toEqual(new Uint8Array([104, 105])); // Buffer arrives as a Uint8Array
    expect(back).toEqual({ ...v, buf: new Uint8Array([104, 105]) });
  });

  it("shared (non-circular) references are fine and arrive as equal copies", async () => {
    const shared = { x: 1 };
    expect(await roundTrip({ a: shared, b: shared, c: [shared, shared] })).toEqual({ a: { x: 1 }, b: { x: 1 }, c: [{ x: 1 }, { x: 1 }] });
  });

  it("null-prototype and other-realm plain objects are plain objects", async () => {
    const bare = Object.assign(Object.create(null) as object, { a: 1 });
    expect(await roundTrip(bare)).toEqual({ a: 1 });
    const foreign = runInNewContext("({ a: { b: [1, 2] } })") as unknown;
    expect(await roundTrip(foreign)).toEqual({ a: { b: [1, 2] } });
  });

  it("registered classes come back as instances (default toJSON/fromJSON)", async () => {
    class Point {
      constructor(
        public x = 0,
        public y = 0,
        public at = new Date(0),
      ) {}
      norm(): number {
        return Math.hypot(this.x, this.y);
      }
    }
    TypeEngine.registerClass(Point);
    registered.push("Point");
    const lit = await toLiteral({ p: new Point(3, 4) }, out);
    expect(lit).toEqual({ p: { $flyte: "class", name: "Point", value: { x: 3, y: 4, at: { $flyte: "date", value: "1970-01-01T00:00:00.000Z" } } } });
    const back = (await fromLiteral(decodeLiteral(encodeLiteral(lit)))) as { p: Point };
    expect(back.p).toBeInstanceOf(Point);
    expect(back.p.norm()).toBe(5);
    expect(back.p.at).toBeInstanceOf(Date);
  });

  it("registered classes nest inside each other, with custom toJSON/fromJSON and a name", async () => {
    class Money {
      constructor(readonly cents: bigint) {}
    }
    class Order {
      constructor(readonly items: Money[]) {}
    }
    TypeEngine.registerClass(Money, { name: "app.Money", toJSON: (m) => m.cents.toString(), fromJSON: (j) => new Money(BigInt(j as string)) });
    TypeEngine.registerClass(Order, { fromJSON: (j) => new Order((j as { items: Money[] }).items) });
    registered.push("app.Money", "Order");
    const back = (await roundTrip(new Order([new Money(5n), new Money(7n)]))) as Order;
    expect(back).toBeInstanceOf(Order);
    expect(back.items[1]).toBeInstanceOf(Money);
    expect(back.items[1]!.cents).toBe(7n);
  });

  it("custom transformers registered with TypeEngine.register", async () => {
    TypeEngine.register<URL>({
      name: "URL",
      isInstance: (v): v is URL => v instanceof URL,
      toLiteral: async (u) => u.href,
      fromLiteral: async (s) => new URL(s as string),
    });
    registered.push("URL");
    const back = (await roundTrip({ home: new URL("https://flyte.org/x?y=1") })) as { home: URL };
    expect(back.home).toBeInstanceOf(URL);
    expect(back.home.href).toBe("https://flyte.org/x?y=1");
  });

  it("duplicate transformer names are refused", () => {
    class A {}
    TypeEngine.registerClass(A, { name: "dup" });
    registered.push("dup");
    expect(() => TypeEngine.registerClass(class B {}, { name: "dup" })).toThrow(/"dup" is already registered/);
  });

  it("reading a class that is not registered names it and the fix", async () => {
    const lit: Literal = { m: { $flyte: "class", name: "Ghost", value: {} } };
    await expect(fromLiteral(lit, { taskName: "env.g", direction: "input" })).rejects.toThrow(
      'Task "env.g": input "m" was stored as class "Ghost", which is not registered in this process. Call TypeEngine.registerClass(Ghost, ...)',
    );
  });
});

describe("refusals name the task, the field and the type", () => {
  it("unregistered class instance (the contract's example)", async () => {
    class Foo {
      a = 1;
    }
    const e = await failure({ model: new Foo() });
    expect(e.message).toBe(
      'Task "env.f": output ".model" is an instance of class Foo, which has no registered transformer. Use TypeEngine.registerClass(Foo, ...)',
    );
    expect(e.code).toBe("TypeTransformerFailed");
    expect(e).toMatchObject({ taskName: "env.f", field: "model", direction: "output" });
    // The field info survives an action boundary.
    expect(errorFromRecord(errorToRecord(e))).toMatchObject({ name: "TypeTransformerFailedError", field: "model", taskName: "env.f" });
  });

  it("functions", async () => {
    expect((await failure({ cb: function handler() {} }, inp)).message).toBe(
      'Task "env.f": input "cb" is a function (handler), which cannot cross an action boundary. Pass data instead, and call the function inside the task.',
    );
  });

  it("symbols, as values and as keys", async () => {
    expect((await failure({ a: [Symbol("s")] })).message).toMatch(/^Task "env\.f": output "\.a\.0" is a symbol \(Symbol\(s\)\)/);
    expect((await failure({ o: { [Symbol("k")]: 1 } })).message).toMatch(/output "\.o" has a symbol-keyed property Symbol\(k\)/);
  });

  it("circular structures, naming where the cycle points", async () => {
    const a: Record<string, unknown> = { name: "a" };
    a.self = { again: a };
    expect((await failure({ root: a })).message).toBe(
      'Task "env.f": output ".root.self.again" is a circular reference (it points back to ".root"). Break the cycle, e.g. store an id instead of the object.',
    );
    const arr: unknown[] = [];
    arr.push(arr);
    expect((await failure({ xs: arr }, inp)).message).toMatch(/input "xs\.0" is a circular reference \(it points back to "xs"\)/);
  });

  it("WeakMap, WeakSet, Promise, Error, other typed arrays", async () => {
    expect((await failure({ w: new WeakMap() })).message).toMatch(/output "\.w" is a WeakMap.*Use a Map/);
    expect((await failure({ w: new WeakSet() })).message).toMatch(/output "\.w" is a WeakSet/);
    expect((await failure({ p: Promise.resolve(1) })).message).toMatch(/output "\.p" is a Promise\. Await it/);
    expect((await failure({ e: new TypeError("boom") })).message).toMatch(/output "\.e" is an Error \(TypeError: boom\)/);
    expect((await failure({ f: new Float64Array(2) })).message).toMatch(/output "\.f" is a Float64Array; only Uint8Array/);
    expect((await failure({ b: new ArrayBuffer(2) })).message).toMatch(/output "\.b" is an ArrayBuffer; wrap it as new Uint8Array/);
  });

  it('the reserved "$flyte" key and own "__proto__" keys', async () => {
    expect((await failure({ data: { $flyte: "date", value: "x" } })).message).toBe(
      'Task "env.f": output ".data" has a property "$flyte", which is reserved for flyte-ts tagged values. Rename the property.',
    );
    expect((await failure(JSON.parse('{"x":{"__proto__":{"polluted":true}}}') as unknown)).message).toMatch(
      /output "\.x\.__proto__" is an own property named "__proto__"/,
    );
  });

  it("inside Maps and Sets the path names the key", async () => {
    expect((await failure({ m: new Map([["k", () => 1]]) })).message).toMatch(/output "\.m\.k" is a function/);
    expect((await failure({ s: new Set([1, Symbol("z")]) })).message).toMatch(/output "\.s\.1" is a symbol/);
  });

  it("a failing custom transformer is reported at its field, with the cause", async () => {
    class Bad {}
    TypeEngine.registerClass(Bad, {
      toJSON: () => {
        throw new RangeError("nope");
      },
    });
    registered.push("Bad");
    const e = await failure({ x: [new Bad()] });
    expect(e.message).toMatch(/^Task "env\.f": output "\.x\.0" \(transformer "Bad" failed\) could not be converted: RangeError: nope/);
    expect(e.cause).toBeInstanceOf(RangeError);
  });

  it("structures nested too deeply for the stack are a named error on both sides", async () => {
    const deep = (n: number): unknown[] => {
      const root: unknown[] = [];
      let cur = root;
      for (let i = 0; i < n; i++) cur.push((cur = []));
      return root;
    };
    expect((await failure({ d: deep(200_000) })).message).toMatch(/^Task "env\.f": output "\." is nested too deeply to convert/);
    await expect(fromLiteral(deep(200_000) as Literal)).rejects.toThrow(TypeTransformerFailedError);
  });

  it("unknown tags in stored data are an error, not silently passed through", async () => {
    await expect(fromLiteral({ a: { $flyte: "quantum", v: 1 } })).rejects.toThrow(/Value "a" has an unknown tag \{"\$flyte": "quantum"\}/);
    await expect(fromLiteral({ a: { $flyte: "date" } })).rejects.toThrow(/malformed \{"\$flyte": "date"\} literal/);
  });
});
