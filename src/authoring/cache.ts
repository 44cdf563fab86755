/**
 * Task output caching: when a cached result may be reused, and which version of the code it belongs to.
 *
 * @example
 * ```ts
 * env.task({ cache: new Cache({ behavior: "auto", ignoredInputs: ["requestedAt"], salt: "v1" }) },
 *   async function expensive({ data }: { data: string; requestedAt: string }) { return data.length; });
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import { parse, type Options as AcornOptions, type Token } from "acorn";
import { ValidationError } from "../errors.ts";
import { callable } from "../internal/callable.ts";
import { checkKeys, show } from "../internal/validate.ts";

export type CacheBehavior = "auto" | "override" | "disable";

/** What `cache` options accept: a behaviour name (or alias) or a `Cache`. */
export type CacheRequest = CacheBehavior | Cache;

/** What a cache policy may look at to version a task. */
export interface VersionParameters {
  /** The task function. */
  fn?: Function;
  /** The task's `Image` (typed loosely so caching does not depend on the image builder). */
  image?: unknown;
}

/** Contributes a string to the cache version; any change to it invalidates cached outputs. */
export interface CachePolicy {
  getVersion(salt: string, params: VersionParameters): string;
}

const sha256 = (s: string): string => createHash("sha256").update(s, "utf8").digest("hex");

const ALIASES: Readonly<Record<string, CacheBehavior>> = {
  auto: "auto", enable: "auto", enabled: "auto", on: "auto", true: "auto", yes: "auto",
  override: "override",
  disable: "disable", off: "disable", false: "disable", no: "disable", none: "disable",
};

/** Resolves a behaviour name or alias (case-insensitive), or undefined when it is neither. */
function behaviorOf(v: unknown): CacheBehavior | undefined {
  return typeof v === "string" ? ALIASES[v.toLowerCase()] : undefined;
}

const ACORN: AcornOptions = { ecmaVersion: "latest", sourceType: "script", allowHashBang: true, checkPrivateFields: false, allowSuperOutsideMethod: true };

/**
 * `Function.prototype.toString()` returns the source exactly as written, which is not always a parseable
 * program: anonymous function expressions, object/class method shorthands and getters need a wrapper.
 */
const WRAPPERS: readonly (readonly [string, string])[] = [["", ""], ["(", ")"], ["({", "})"], ["(class{", "})"]];

/**
 * The token texts of `src`, so that whitespace, comments and line breaks never matter. String literals are
 * compared by value so that a formatter switching quote style does not invalidate the cache.
 */
export function sourceTokens(src: string): string[] {
  for (const [open, close] of WRAPPERS) {
    const tokens: Token[] = [];
    try {
      parse(open + src + close, { ...ACORN, onToken: tokens });
    } catch {
      continue;
    }
    const from = open.length;
    const to = from + src.length;
    return tokens
      .filter((t) => t.start >= from && t.end <= to && t.type.label !== "eof")
      .map((t) => (t.type.label === "string" ? JSON.stringify((t as Token & { value: string }).value) : src.slice(t.start - from, t.end - from)));
  }
  // Native or otherwise unparseable source: whitespace-insensitive text is the best available identity.
  return src.trim().split(/\s+/);
}

class FunctionBodyPolicyImpl implements CachePolicy {
  constructor(o?: Record<string, never>) {
    checkKeys(o, [], "FunctionBodyPolicy");
    Object.freeze(this);
  }

  /** Hex SHA-256 of the function's token stream plus the salt; `""` when there is no function. */
  getVersion(salt: string, params: VersionParameters): string {
    if (typeof params.fn !== "function") return "";
    return sha256(sourceTokens(Function.prototype.toString.call(params.fn)).join(" ") + salt);
  }
}

/** Versions a task by the source of its function: editing the body invalidates the cache, reformatting does not. */
export const FunctionBodyPolicy = callable(FunctionBodyPolicyImpl);
export type FunctionBodyPolicy = FunctionBodyPolicyImpl;

export interface CacheOptions {
  /** `"auto"`, `"override"` or `"disable"`, or an alias such as `"on"`/`"off"` (case-insensitive). */
  behavior: CacheBehavior | (string & {});
  /** An explicit cache version; skips the policies. @default undefined */
  versionOverride?: string;
  /** Identical concurrent executions run once; the others reuse the result. @default false */
  serialize?: boolean;
  /** Inputs left out of the cache key. @default [] */
  ignoredInputs?: string | readonly string[];
  /** Mixed into every policy's version. @default "" */
  salt?: string;
  /** @default [new FunctionBodyPolicy()] when enabled, [] when disabled */
  policies?: CachePolicy | readonly CachePolicy[];
}

const isPolicy = (p: unknown): p is CachePolicy =>
  typeof p === "object" && p !== null && typeof (p as { getVersion?: unknown }).getVersion === "function";

class CacheImpl {
  readonly behavior: CacheBehavior;
  readonly versionOverride?: string;
  readonly serialize: boolean;
  readonly ignoredInputs: readonly string[];
  readonly salt: string;
  readonly policies: readonly CachePolicy[];

  constructor(o: CacheOptions) {
    checkKeys(o, ["behavior", "versionOverride", "serialize", "ignoredInputs", "salt", "policies"], "Cache");
    if (o === undefined) throw new ValidationError('Cache: options are required. Use new Cache({ behavior: "auto" }).');
    const behavior = behaviorOf(o.behavior);
    if (behavior === undefined) {
      throw new ValidationError(
        `Cache: behavior ${show(o.behavior)} is not valid. Use "auto", "override" or "disable" (aliases: "on", "off", "enabled", ...).`,
        { field: "behavior" },
      );
    }
    this.behavior = behavior;
    if (o.versionOverride !== undefined) {
      if (typeof o.versionOverride !== "string" || o.versionOverride === "") {
        throw new ValidationError(`Cache: versionOverride must be a non-empty string, got ${show(o.versionOverride)}. Use e.g. versionOverride: "v2".`, {
          field: "versionOverride",
        });
      }
      this.versionOverride = o.versionOverride;
    }
    if (o.serialize !== undefined && typeof o.serialize !== "boolean") {
      throw new ValidationError(`Cache: serialize must be true or false, got ${show(o.serialize)}.`, { field: "serialize" });
    }
    this.serialize = o.serialize ?? false;
    const ignored = typeof o.ignoredInputs === "string" ? [o.ignoredInputs] : (o.ignoredInputs ?? []);
    if (!Array.isArray(ignored) || ignored.some((n) => typeof n !== "string" || n === "")) {
      throw new ValidationError(
        `Cache: ignoredInputs must be an input name or an array of input names, got ${show(o.ignoredInputs)}. Use e.g. ignoredInputs: ["requestedAt"].`,
        { field: "ignoredInputs" },
      );
    }
    this.ignoredInputs = Object.freeze([...new Set(ignored as readonly string[])]);
    if (o.salt !== undefined && typeof o.salt !== "string") {
      throw new ValidationError(`Cache: salt must be a string, got ${show(o.salt)}. Use e.g. salt: "v1".`, { field: "salt" });
    }
    this.salt = o.salt ?? "";
    const policies = o.policies === undefined ? (behavior === "disable" ? [] : [new FunctionBodyPolicy()]) : [o.policies].flat();
    const bad = policies.find((p) => !isPolicy(p));
    if (bad !== undefined) {
      throw new ValidationError(
        `Cache: policies must be CachePolicy objects (with a getVersion(salt, params) method), got ${show(bad)}. Use e.g. policies: [new FunctionBodyPolicy()].`,
        { field: "policies" },
      );
    }
    if (behavior !== "disable" && this.versionOverride === undefined && policies.length === 0) {
      throw new ValidationError(
        "Cache: at least one cache policy is required when caching is enabled without a versionOverride. Add policies: [new FunctionBodyPolicy()] or set versionOverride.",
        { field: "policies" },
      );
    }
    this.policies = Object.freeze(policies);
    Object.freeze(this);
  }

  /** True for `"auto"` and `"override"` (both write results; only `"auto"` reads them). */
  isEnabled(): boolean {
    return this.behavior !== "disable";
  }

  /** The cache version: `""` when disabled, else `versionOverride` or the hash of every policy's version. */
  getVersion(params: VersionParameters = {}): string {
    if (!this.isEnabled()) return "";
    if (this.versionOverride !== undefined) return this.versionOverride;
    const parts = this.policies.map((p) => {
      try {
        return p.getVersion(this.salt, params);
      } catch (cause) {
        const name = (p as { constructor?: { name?: string } }).constructor?.name ?? "policy";
        throw new ValidationError(`Cache: failed to generate a version with cache policy ${name}: ${String(cause)}. Fix the policy or set versionOverride.`, {
          cause,
          field: "policies",
        });
      }
    });
    return sha256(parts.join(""));
  }

  getIgnoredInputs(): string[] {
    return [...this.ignoredInputs];
  }
}

/** When task outputs may be reused (see `behavior`) and how the code version is computed. */
export const Cache = callable(CacheImpl);
export type Cache = CacheImpl;

/** Turns a `cache` option into a `Cache`; strings go through the same behaviour aliases as `Cache`. */
export function normalizeCache(req: CacheRequest, owner: string): Cache {
  if (req instanceof Cache) return req;
  if (behaviorOf(req) === undefined) {
    throw new ValidationError(`${owner}: cache must be "auto", "override", "disable" or a Cache, got ${show(req)}. Use e.g. cache: "auto".`, {
      field: "cache",
    });
  }
  return new Cache({ behavior: req });
}
