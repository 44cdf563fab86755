import { createHash } from "node:crypto";
import { describe, it, expect } from "vitest";
import { ValidationError } from "../errors.ts";
import { Cache, FunctionBodyPolicy, normalizeCache, sourceTokens, type CachePolicy } from "./cache.ts";

const bad = (f: () => unknown, re: RegExp) => {
  expect(f).toThrow(ValidationError);
  expect(f).toThrow(re);
};
const sha = (s: string) => createHash("sha256").update(s).digest("hex");

// Built with `new Function` so the exact source text (formatting, comments) is under the test's control.
const fnFrom = (src: string): (...a: unknown[]) => unknown => new Function(`return (${src})`)() as (...a: unknown[]) => unknown;
const version = (src: string, salt = "") => new FunctionBodyPolicy().getVersion(salt, { fn: fnFrom(src) });

describe("Cache defaults and normalisation", () => {
  it("fills defaults for an enabled cache", () => {
    const c = new Cache({ behavior: "auto" });
    expect(c.behavior).toBe("auto");
    expect(c.versionOverride).toBeUndefined();
    expect(c.serialize).toBe(false);
    expect(c.ignoredInputs).toEqual([]);
    expect(c.salt).toBe("");
    expect(c.policies).toHaveLength(1);
    expect(c.policies[0]).toBeInstanceOf(FunctionBodyPolicy);
    expect(c.isEnabled()).toBe(true);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("has no default policies when disabled", () => {
    const c = new Cache({ behavior: "disable" });
    expect(c.policies).toEqual([]);
    expect(c.isEnabled()).toBe(false);
    expect(c.getVersion({ fn: () => 1 })).toBe("");
  });

  it.each([
    ["enable", "auto"], ["ENABLED", "auto"], ["on", "auto"], ["True", "auto"], ["yes", "auto"], ["Auto", "auto"],
    ["override", "override"], ["OVERRIDE", "override"],
    ["off", "disable"], ["false", "disable"], ["No", "disable"], ["none", "disable"], ["disable", "disable"],
  ])("maps behavior %s to %s", (alias, behavior) => {
    expect(new Cache({ behavior: alias }).behavior).toBe(behavior);
  });

  it("treats override as enabled", () => expect(new Cache({ behavior: "override" }).isEnabled()).toBe(true));

  it("accepts a single ignored input and a single policy", () => {
    const p: CachePolicy = { getVersion: () => "p" };
    const c = new Cache({ behavior: "auto", ignoredInputs: "requestedAt", policies: p });
    expect(c.ignoredInputs).toEqual(["requestedAt"]);
    expect(c.getIgnoredInputs()).toEqual(["requestedAt"]);
    expect(c.policies).toEqual([p]);
  });

  it("is callable without new", () => {
    const c = Cache({ behavior: "on" });
    expect(c).toBeInstanceOf(Cache);
    expect(c.behavior).toBe("auto");
  });
});

describe("Cache validation", () => {
  it("rejects an unknown behavior", () => bad(() => new Cache({ behavior: "sometimes" }), /Cache: behavior "sometimes" is not valid. Use "auto", "override" or "disable"/));
  it("rejects a missing behavior", () => bad(() => new Cache({} as never), /Cache: behavior undefined is not valid/));
  it("rejects unknown options with a suggestion", () => bad(() => new Cache({ behavior: "auto", salts: "x" } as never), /Unknown option "salts" for Cache. Did you mean "salt"\?/));
  it("rejects an enabled cache with no policies and no versionOverride", () =>
    bad(() => new Cache({ behavior: "auto", policies: [] }), /Cache: at least one cache policy is required/));
  it("allows no policies when versionOverride is set", () => expect(new Cache({ behavior: "auto", policies: [], versionOverride: "v1" }).getVersion()).toBe("v1"));
  it("rejects a policy without getVersion", () => bad(() => new Cache({ behavior: "auto", policies: [{} as CachePolicy] }), /Cache: policies must be CachePolicy objects/));
  it("rejects non-string ignoredInputs", () => bad(() => new Cache({ behavior: "auto", ignoredInputs: [1] as never }), /Cache: ignoredInputs must be an input name or an array of input names, got \[1\]/));
  it("rejects a non-boolean serialize", () => bad(() => new Cache({ behavior: "auto", serialize: "yes" as never }), /Cache: serialize must be true or false, got "yes"/));
  it("rejects a non-string salt", () => bad(() => new Cache({ behavior: "auto", salt: 1 as never }), /Cache: salt must be a string, got 1/));
  it("rejects an empty versionOverride", () => bad(() => new Cache({ behavior: "auto", versionOverride: "" }), /Cache: versionOverride must be a non-empty string/));
  it("wraps a throwing policy", () => {
    class Boom implements CachePolicy {
      getVersion(): string {
        throw new Error("no source");
      }
    }
    bad(() => new Cache({ behavior: "auto", policies: [new Boom()] }).getVersion(), /Cache: failed to generate a version with cache policy Boom: Error: no source/);
  });
});

describe("Cache.getVersion", () => {
  it("returns versionOverride verbatim", () => expect(new Cache({ behavior: "auto", versionOverride: "v7", salt: "s" }).getVersion()).toBe("v7"));
  it("hashes the concatenated policy versions", () => {
    const a: CachePolicy = { getVersion: (salt) => `a${salt}` };
    const b: CachePolicy = { getVersion: () => "b" };
    expect(new Cache({ behavior: "auto", salt: "1", policies: [a, b] }).getVersion()).toBe(sha("a1b"));
  });
  it("passes salt and params to each policy", () => {
    const fn = () => 1;
    const seen: unknown[] = [];
    new Cache({ behavior: "auto", salt: "s", policies: { getVersion: (salt, p) => (seen.push(salt, p.fn), "") } }).getVersion({ fn });
    expect(seen).toEqual(["s", fn]);
  });
  it("is sha256 of the function-body version by default", () => {
    const fn = fnFrom("function f(x) { return x + 1; }");
    expect(new Cache({ behavior: "auto", salt: "v1" }).getVersion({ fn })).toBe(sha(new FunctionBodyPolicy().getVersion("v1", { fn })));
  });
});

describe("FunctionBodyPolicy", () => {
  it("is the sha256 of the tokens joined by spaces plus the salt", () => {
    expect(version("function f(a) { return a * 2 }", "salt")).toBe(sha("function f ( a ) { return a * 2 }salt"));
  });
  it("returns an empty version without a function", () => expect(new FunctionBodyPolicy().getVersion("s", {})).toBe(""));
  it("ignores whitespace, line breaks and comments", () => {
    const a = version("async function f({ data }) { return data.length; }");
    const b = version(`async function f( { data } ) {
      // count the characters
      return data.length; /* done */
    }`);
    expect(b).toBe(a);
  });
  it("ignores the quote style of string literals", () => {
    expect(version(`function f() { return "x" + 'y'; }`)).toBe(version(`function f() { return 'x' + "y"; }`));
  });
  it("changes when the body changes", () => {
    expect(version("function f(a) { return a * 2 }")).not.toBe(version("function f(a) { return a * 3 }"));
  });
  it("changes with the salt", () => {
    expect(version("function f(a) { return a * 2 }", "v1")).not.toBe(version("function f(a) { return a * 2 }", "v2"));
  });
  it("handles arrows and anonymous function expressions", () => {
    expect(version("(x) => x + 1")).toBe(version("(x)=>x+1"));
    expect(version("function (x) { return x }")).toBe(version("function(x){return x}"));
  });
  it("handles method shorthands, getters and class methods", () => {
    expect(sourceTokens("run(a) { return a }")).toEqual(["run", "(", "a", ")", "{", "return", "a", "}"]);
    expect(sourceTokens("async *gen() { yield 1 }")).toEqual(["async", "*", "gen", "(", ")", "{", "yield", "1", "}"]);
    expect(sourceTokens("get size() { return 1 }")).toEqual(["get", "size", "(", ")", "{", "return", "1", "}"]);
    expect(sourceTokens("static make() { return #x in this }")).toEqual(["static", "make", "(", ")", "{", "return", "#x", "in", "this", "}"]);
    const obj = { run(a: number) { return a; } };
    expect(new FunctionBodyPolicy().getVersion("", { fn: obj.run })).toMatch(/^[0-9a-f]{64}$/);
  });
  it("keeps regular expressions and templates as single tokens", () => {
    expect(sourceTokens("x => /a b/.test(`t ${x} u`)")).toEqual(["x", "=>", "/a b/", ".", "test", "(", "`", "t ", "${", "x", "}", " u", "`", ")"]);
  });
  it("falls back to whitespace-collapsed text for native functions", () => {
    expect(sourceTokens("function push() {   [native code] }")).toEqual(["function", "push()", "{", "[native", "code]", "}"]);
    expect(new FunctionBodyPolicy().getVersion("", { fn: Math.max })).toMatch(/^[0-9a-f]{64}$/);
  });
  it("rejects options", () => bad(() => new FunctionBodyPolicy({ x: 1 } as never), /Unknown option "x" for FunctionBodyPolicy/));
});

describe("normalizeCache", () => {
  it("returns a Cache unchanged", () => {
    const c = new Cache({ behavior: "auto" });
    expect(normalizeCache(c, "TaskEnvironment")).toBe(c);
  });
  it("turns behaviour strings (and aliases) into a Cache", () => {
    expect(normalizeCache("auto", "TaskEnvironment").behavior).toBe("auto");
    expect(normalizeCache("disable", "TaskEnvironment").isEnabled()).toBe(false);
    expect(normalizeCache("on" as never, "TaskEnvironment").behavior).toBe("auto");
  });
  it("rejects anything else, naming the owner", () =>
    bad(() => normalizeCache(true as never, 'env.task "f"'), /^env.task "f": cache must be "auto", "override", "disable" or a Cache, got true/));
});
