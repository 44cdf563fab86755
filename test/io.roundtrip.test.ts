import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { TaskEnvironment, init, run } from "flyte-ts";
import { DataFrame, Dir, File } from "flyte-ts/io";
import { TypeEngine } from "flyte-ts/extend";
import { InlineIOMaxBytesBreached, RuntimeDataValidationError, TypeTransformerFailedError } from "flyte-ts/errors";
import { freshRuntime } from "./helpers/runtime.ts";

class Point {
  constructor(public x: number, public y: number) {}
  norm(): number {
    return Math.hypot(this.x, this.y);
  }
}
TypeEngine.registerClass(Point);
enum Color { Red = "red", Green = "green" }
enum Level { Low = 1, High = 2 }

let root: string;
beforeAll(async () => {
  root = await freshRuntime("flyte-io-");
});

const env = new TaskEnvironment({ name: "io-rt" });

/** Task A produces a value; task B receives it and reports what it got; the parent returns both. */
function roundTrip<T>(label: string, make: () => T | Promise<T>) {
  const produce = env.task({ name: `produce_${label}` }, async function produce() {
    return make();
  });
  const inspect = env.task({ name: `inspect_${label}` }, async function inspect({ v }: { v: T }) {
    return v;
  });
  return env.task({ name: `pipe_${label}` }, async function pipe() {
    const v = await produce();
    return inspect({ v });
  });
}

const values: Record<string, () => unknown> = {
  json: () => ({ a: 1, b: "two", c: [true, null, 3.5], d: { e: "nested" } }),
  date: () => new Date("2026-01-02T03:04:05.678Z"),
  bigint: () => 12345678901234567890n,
  map: () => new Map<string, unknown>([["k", 1], ["when", new Date(0)]]),
  set: () => new Set([1, 2, 3]),
  bytes: () => new Uint8Array([0, 1, 2, 255]),
  special: () => ({ nan: NaN, inf: Infinity, ninf: -Infinity, undef: undefined }),
  stringEnum: () => Color.Green,
  numericEnum: () => Level.High,
  union: () => [1, "x", null, { k: [new Date(5)] }],
  klass: () => new Point(3, 4),
};

describe("every value type crosses action boundaries intact", () => {
  for (const [label, make] of Object.entries(values)) {
    it(label, async () => {
      const r = await run(roundTrip(label, make));
      const out = await r.outputs();
      const expected = make();
      if (label === "special") expect(out).toEqual({ nan: NaN, inf: Infinity, ninf: -Infinity });
      else expect(out).toEqual(expected);
      if (label === "klass") expect((out as Point).norm()).toBe(5);
      if (label === "date") expect(out).toBeInstanceOf(Date);
      if (label === "bigint") expect(typeof out).toBe("bigint");
    });
  }

  it("File, Dir and DataFrame arrive with their content", async () => {
    const src = mkdtempSync(join(tmpdir(), "io-src-"));
    writeFileSync(join(src, "a.txt"), "alpha");
    mkdirSync(join(src, "sub"));
    writeFileSync(join(src, "sub", "b.txt"), "beta");
    const produce = env.task(async function produceRefs() {
      return {
        file: await File.fromLocal(join(src, "a.txt")),
        dir: await Dir.fromLocal(src),
        df: DataFrame.fromRecords([{ id: 1, name: "x" }, { id: 2, name: "y" }]),
      };
    });
    const consume = env.task(async function consumeRefs({ refs }: { refs: { file: File; dir: Dir; df: DataFrame } }) {
      const files: string[] = [];
      for await (const f of refs.dir.walk()) files.push(`${f.name}=${await f.text()}`);
      return { text: await refs.file.text(), files: files.sort(), rows: await refs.df.toRecords(), hash: refs.file.hash };
    });
    const pipe = env.task(async function pipeRefs() {
      return consume({ refs: await produce() });
    });
    const out = (await (await run(pipe)).outputs()) as { text: string; files: string[]; rows: unknown[]; hash: string };
    expect(out.text).toBe("alpha");
    expect(out.files).toEqual(["a.txt=alpha", "b.txt=beta"]);
    expect(out.rows).toEqual([{ id: 1, name: "x" }, { id: 2, name: "y" }]);
    expect(out.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("schema-typed values are validated and coerced on the way in and out", async () => {
    const typed = env.task(
      { inputs: z.object({ when: z.coerce.date(), color: z.enum(["red", "green"]) }), output: z.object({ day: z.number() }) },
      async function typedIo({ when }) {
        return { day: when.getUTCDate() };
      },
    );
    const ok = await run(typed, { when: "2026-03-04" as unknown as Date, color: "red" });
    expect(await ok.outputs()).toEqual({ day: 4 });
    const bad = await run(typed, { when: new Date(), color: "blue" as "red" });
    const e = (await bad.outputs().catch((x: unknown) => x)) as RuntimeDataValidationError;
    expect(e).toBeInstanceOf(RuntimeDataValidationError);
    expect(e.field).toBe("color");
    expect(e.message).toMatch(/Task "io-rt.typedIo": input "color" is invalid/);
  });

  it("values without a transformer are rejected naming the task, the field and the type", async () => {
    class Unregistered {
      v = 1;
    }
    const bad = env.task(async function returnsClass() {
      return { model: new Unregistered() };
    });
    const e = await (await run(bad)).outputs().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TypeTransformerFailedError);
    expect((e as Error).message).toMatch(/Task "io-rt.returnsClass": output ".model" is an instance of class Unregistered, which has no registered transformer. Use TypeEngine.registerClass\(Unregistered/);
  });
});

describe("maxInlineIoBytes", () => {
  it("offloads values above the limit to the blob store, transparently", async () => {
    const big = env.task({ maxInlineIoBytes: 1024 }, async function bigOut({ n }: { n: number }) {
      return "x".repeat(n);
    });
    const parent = env.task(async function bigParent() {
      return (await big({ n: 50_000 })).length;
    });
    const r = await run(parent);
    expect(await r.outputs()).toBe(50_000);
    const child = (await r.details()).root.children[0]!;
    const blobs = join(root, ".flyte", "blobs", "default", "development", r.name, child.name);
    expect(readFileSync(join(blobs, "outputs")).length).toBeGreaterThan(50_000);
  });

  it("with offloading disabled, exceeding the limit fails with InlineIOMaxBytesBreached naming the limit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flyte-nooffload-"));
    mkdirSync(join(dir, ".flyte"));
    writeFileSync(join(dir, ".flyte", "config.yaml"), "io:\n  offload: false\n");
    await init({ root: dir });
    try {
      const big = env.task({ maxInlineIoBytes: 1024, name: "bigNoOffload" }, async function bigNoOffload() {
        return "y".repeat(5000);
      });
      const e = await (await run(big)).outputs().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(InlineIOMaxBytesBreached);
      expect((e as Error).message).toMatch(/1(\.0)? KiB|1024/);
      expect((e as Error).message).toMatch(/maxInlineIoBytes/);
    } finally {
      await init({ root });
    }
  });
});
