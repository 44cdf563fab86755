import { describe, expect, it } from "vitest";
import { StoreError } from "../errors.ts";
import { canonicalJson, decodeLiteral, encodeLiteral, sha256Hex } from "./codec.ts";
import type { Literal } from "./literal.ts";

describe("codec", () => {
  it("round-trips literals exactly, and is smaller than JSON on repetitive data", () => {
    const rows: Literal = Array.from({ length: 2000 }, (_, i) => ({
      id: i,
      name: `row-${i}`,
      score: i / 7,
      big: 2 ** 53 - i,
      neg: -(2 ** 40),
      flags: [true, false, null],
      when: { $flyte: "date", value: new Date(i).toISOString() },
      nested: { deep: { "key with spaces": "ü€😀", empty: {}, list: [] } },
    }));
    const bytes = encodeLiteral(rows);
    expect(decodeLiteral(bytes)).toEqual(rows);
    expect(bytes.byteLength).toBeLessThan(Buffer.byteLength(JSON.stringify(rows)) / 2);
  });

  it("round-trips scalars at the top level", () => {
    for (const v of [null, true, 0, -1.5, "", "x", [], {}] as Literal[]) expect(decodeLiteral(encodeLiteral(v))).toEqual(v);
  });

  it("a truncated or damaged record is a StoreError, not garbage", () => {
    const bytes = encodeLiteral({ a: "some text", b: [1, 2, 3] });
    const err = (() => {
      try {
        decodeLiteral(bytes.subarray(0, bytes.byteLength - 3));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe("CorruptLiteral");
    expect((err as Error).message).toMatch(/cannot be decoded.*truncated or corrupted/);
  });

  it("canonicalJson sorts keys at every level", () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson({ b: 1, a: 2 })).toBe(canonicalJson({ a: 2, b: 1 }));
  });

  it("File/Dir/DataFrame hash by content, not by location", () => {
    const f1: Literal = { $flyte: "file", uri: "s3://a/x/data.csv", hash: "abc", name: "data.csv" };
    const f2: Literal = { $flyte: "file", uri: "file:///tmp/y/data.csv", hash: "abc", name: "data.csv" };
    expect(canonicalJson({ f: f1 })).toBe(canonicalJson({ f: f2 }));
    expect(canonicalJson(f1)).toBe('{"$flyte":"file","hash":"abc"}');
    const noHash: Literal = { $flyte: "file", uri: "s3://a/x" };
    expect(canonicalJson(noHash)).toBe('{"$flyte":"file","uri":"s3://a/x"}');
  });

  it("sha256Hex hashes strings and bytes", () => {
    expect(sha256Hex("hello")).toBe("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    expect(sha256Hex(new TextEncoder().encode("hello"))).toBe(sha256Hex("hello"));
  });
});
