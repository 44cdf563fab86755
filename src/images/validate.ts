/**
 * Checks for the arguments of `Image` factories and layers. Each throws a `ValidationError` naming the method,
 * the bad value and the accepted form, at the line where the image is defined rather than during a build.
 * @module
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ValidationError } from "../errors.ts";
import { show } from "../internal/validate.ts";
import { normalizeSecrets, Secret, type SecretRequest } from "../secrets/secret.ts";

export type Platform = "linux/amd64" | "linux/arm64";
export const PLATFORMS: readonly Platform[] = ["linux/amd64", "linux/arm64"];

/** Anything that breaks a single Dockerfile line or a shell word list. */
const CONTROL = /[\u0000-\u001f\u007f]/;

function fail(owner: string, field: string, message: string): never {
  throw new ValidationError(`${owner}: ${message}`, { field });
}

/** A non-empty single-line string. */
export function validateLine(v: unknown, owner: string, field: string, example: string): string {
  if (typeof v !== "string" || v.trim() === "" || CONTROL.test(v)) {
    fail(owner, field, `${field} must be a non-empty single-line string, got ${show(v)}. Example: ${example}.`);
  }
  return v;
}

/** A path given as a string or a `file:` URL, made absolute against the current working directory. */
export function resolveLocalPath(v: unknown, owner: string, field: string): string {
  if (v instanceof URL) {
    if (v.protocol !== "file:") fail(owner, field, `${field} URL ${show(v.href)} must be a file: URL, e.g. new URL("./app", import.meta.url).`);
    return fileURLToPath(v);
  }
  validateLine(v, owner, field, `"./src" or new URL("./src", import.meta.url)`);
  return resolve(v as string);
}

/** Collects `(...items)` or `(items[], options)` call forms into a list and the options. */
export function splitVariadic<O>(args: readonly unknown[], owner: string): { items: unknown[]; options: O | undefined } {
  if (Array.isArray(args[0])) {
    if (args.length > 2) fail(owner, "packages", `pass either packages as arguments or one array followed by options, not both.`);
    return { items: [...(args[0] as unknown[])], options: args[1] as O | undefined };
  }
  return { items: [...args], options: undefined };
}

const NPM_NAME = String.raw`(?:@[a-z0-9][a-z0-9._~-]*\/)?[A-Za-z0-9][A-Za-z0-9._~-]*`;
const NPM_REGISTRY_SPEC = new RegExp(`^${NPM_NAME}(?:@.+)?$`);
const NPM_OTHER_SPEC = /^(?:(?:git\+)?(?:https?|ssh|git|file):|(?:github|gitlab|bitbucket|gist):|\.{0,2}\/|[A-Za-z0-9][\w.-]*\/[\w.-]+(?:#.+)?$)/;

const APT_SPEC = /^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?(?:=[A-Za-z0-9.+~:_-]+|\/[a-z0-9.-]+)?$/;

const PIP_NAME = /^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(\[[A-Za-z0-9._,\s-]*\])?\s*(.*)$/;
const PIP_URL = /^(?:git\+)?(?:https?|ssh|file):\/\//;

type PackageKind = "npm" | "apt" | "pip";
const EXAMPLES: Record<PackageKind, string> = {
  npm: `name[@version], e.g. "lodash@4", "@types/node@22" or "github:user/repo"`,
  apt: `name[=version] or name/release, e.g. "git" or "curl=7.88.1-10+deb12u5"`,
  pip: `a PEP 508 requirement, e.g. "numpy>=1.26", "torch==2.3.1" or "requests[socks]"`,
};

function validPackage(kind: PackageKind, p: string): boolean {
  switch (kind) {
    case "npm":
      return (NPM_REGISTRY_SPEC.test(p) && p.length <= 214 + 64) || NPM_OTHER_SPEC.test(p);
    case "apt":
      return APT_SPEC.test(p);
    case "pip": {
      if (PIP_URL.test(p)) return true;
      const m = PIP_NAME.exec(p);
      if (!m) return false;
      const rest = m[3]!;
      return rest === "" || /^(?:[<>=!~@;,(]|===)/.test(rest);
    }
  }
}

/** A non-empty list of package specs of one ecosystem, frozen. */
export function validatePackages(items: readonly unknown[], kind: PackageKind, owner: string): readonly string[] {
  if (items.length === 0) fail(owner, "packages", `no packages given. Pass at least one, ${EXAMPLES[kind]}.`);
  for (const p of items) {
    if (typeof p !== "string" || p.trim() === "" || CONTROL.test(p)) {
      fail(owner, "packages", `package ${show(p)} is not a package spec. Use ${EXAMPLES[kind]}.`);
    }
    if (p.startsWith("-")) {
      fail(owner, "packages", `package ${show(p)} looks like a command-line flag. Pass flags with the extraArgs option, and packages as ${EXAMPLES[kind]}.`);
    }
    if (!validPackage(kind, p)) fail(owner, "packages", `package ${show(p)} is not a valid ${kind} package spec. Use ${EXAMPLES[kind]}.`);
  }
  return Object.freeze([...(items as string[])]);
}

/** An optional list of single-line strings (extra CLI arguments, index URLs). */
export function validateStringList(v: unknown, owner: string, field: string, example: string): readonly string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || x === "" || CONTROL.test(x))) {
    fail(owner, field, `${field} must be an array of non-empty single-line strings, got ${show(v)}. Example: ${field}: ${example}.`);
  }
  return Object.freeze([...(v as string[])]);
}

/** An http(s) URL (npm registry, pip index). */
export function validateUrl(v: unknown, owner: string, field: string): string | undefined {
  if (v === undefined) return undefined;
  let ok = false;
  if (typeof v === "string" && !CONTROL.test(v) && !/\s/.test(v)) {
    try {
      ok = ["http:", "https:"].includes(new URL(v).protocol);
    } catch {
      ok = false;
    }
  }
  if (!ok) fail(owner, field, `${field} ${show(v)} is not an http(s) URL. Example: "https://registry.npmjs.org/".`);
  return v as string;
}

export function validateOptionalBoolean(v: unknown, owner: string, field: string): boolean | undefined {
  if (v !== undefined && typeof v !== "boolean") fail(owner, field, `${field} must be true or false, got ${show(v)}.`);
  return v as boolean | undefined;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Env vars for an `ENV` line: identifier keys, single-line string values. */
export function validateEnvVars(v: unknown, owner: string): Readonly<Record<string, string>> {
  const proto = typeof v === "object" && v !== null ? Object.getPrototypeOf(v) : undefined;
  if (typeof v !== "object" || v === null || Array.isArray(v) || (proto !== Object.prototype && proto !== null)) {
    fail(owner, "vars", `expected an object of string values, got ${show(v)}. Example: { NODE_ENV: "production" }.`);
  }
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) fail(owner, "vars", `no variables given. Example: { NODE_ENV: "production" }.`);
  for (const [k, val] of entries) {
    if (!ENV_KEY.test(k)) fail(owner, "vars", `${show(k)} is not a valid variable name. Use letters, digits and _, not starting with a digit, e.g. "LOG_LEVEL".`);
    if (typeof val !== "string" || CONTROL.test(val)) fail(owner, "vars", `value of ${k} must be a single-line string, got ${show(val)}.`);
  }
  return Object.freeze({ ...(v as Record<string, string>) });
}

/** A non-empty, duplicate-free list of supported platforms. */
export function validatePlatforms(v: unknown, owner: string): readonly Platform[] {
  if (!Array.isArray(v) || v.length === 0 || v.some((p) => !PLATFORMS.includes(p as Platform)) || new Set(v).size !== v.length) {
    fail(owner, "platform", `platform must be a non-empty array of distinct values from ${PLATFORMS.map((p) => `"${p}"`).join(", ")}, got ${show(v)}.`);
  }
  return Object.freeze([...(v as Platform[])]);
}

/** `secretMounts` normalised to `Secret`s, or undefined when none were given. */
export function validateSecretMounts(v: unknown, owner: string): readonly Secret[] | undefined {
  if (v === undefined) return undefined;
  const items: readonly unknown[] = Array.isArray(v) ? v : [v];
  if (items.some((s) => typeof s !== "string" && !(s instanceof Secret))) {
    fail(owner, "secretMounts", `secretMounts must be a secret key, a Secret, or an array of them, got ${show(v)}. Example: secretMounts: ["npm-token"].`);
  }
  const list = normalizeSecrets(v as SecretRequest, owner);
  return list.length ? list : undefined;
}

/** A path inside the image (copy destination, workdir). */
export function validateImagePath(v: unknown, owner: string, field: string, absolute: boolean): string {
  validateLine(v, owner, field, absolute ? `"/app"` : `"." or "/app/src"`);
  if (absolute && !(v as string).startsWith("/")) fail(owner, field, `${field} ${show(v)} must be an absolute path in the image, e.g. "/app".`);
  return v as string;
}
