/**
 * Secrets a task needs, resolved from the secret store at attempt start and injected as env vars or files.
 *
 * @example
 * ```ts
 * new TaskEnvironment({ name: "etl", secrets: ["db-password", new Secret({ key: "token", group: "github", asEnvVar: "GH_TOKEN" })] });
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import { ValidationError } from "../errors.ts";
import { callable } from "../internal/callable.ts";
import { checkKeys, show } from "../internal/validate.ts";

/** The only mount point secrets may be written to. */
export const SECRETS_MOUNT = "/etc/flyte/secrets";

const ENV_VAR_RE = /^[A-Z_][A-Z0-9_]*$/;

export interface SecretOptions {
  /** Name of the secret in the store. */
  key: string;
  /** Namespace in the store. @default undefined */
  group?: string;
  /** Also (or only) write it as a file under this directory. @default undefined */
  mount?: typeof SECRETS_MOUNT;
  /** Env var to expose it as. @default `GROUP_KEY` upper-cased, when `mount` is not given */
  asEnvVar?: string;
}

/** What `secrets` options accept; a string is `new Secret({ key: s })`. */
export type SecretRequest = string | Secret | ReadonlyArray<string | Secret>;

function nonEmpty(v: unknown, option: string, example: string): string {
  if (typeof v !== "string" || v === "") {
    throw new ValidationError(`Secret: ${option} must be a non-empty string, got ${show(v)}. Use e.g. ${option}: ${example}.`, { field: option });
  }
  return v;
}

class SecretImpl {
  readonly key: string;
  readonly group?: string;
  readonly mount?: string;
  readonly asEnvVar?: string;

  constructor(o: SecretOptions) {
    checkKeys(o, ["key", "group", "mount", "asEnvVar"], "Secret");
    this.key = nonEmpty(o?.key, "key", '"db-password"');
    if (o.group !== undefined) this.group = nonEmpty(o.group, "group", '"github"');
    if (o.mount !== undefined) {
      if (o.mount !== SECRETS_MOUNT) {
        throw new ValidationError(`Secret: mount must be "${SECRETS_MOUNT}", got ${show(o.mount)}. Use mount: "${SECRETS_MOUNT}" or leave it out.`, {
          field: "mount",
        });
      }
      this.mount = o.mount;
    }
    const envVar = o.asEnvVar ?? (o.mount === undefined ? (this.group ? `${this.group}_${this.key}` : this.key).replaceAll("-", "_").toUpperCase() : undefined);
    if (envVar !== undefined) {
      if (typeof envVar !== "string" || !ENV_VAR_RE.test(envVar)) {
        const why = o.asEnvVar === undefined ? ` (derived from key ${show(this.key)}${this.group ? ` and group ${show(this.group)}` : ""})` : "";
        throw new ValidationError(
          `Secret: asEnvVar ${show(envVar)}${why} is not a valid environment variable name. Use upper-case letters, digits and _, e.g. asEnvVar: "API_TOKEN".`,
          { field: "asEnvVar" },
        );
      }
      this.asEnvVar = envVar;
    }
    Object.freeze(this);
  }

  /** Identity of this request, stable across processes (used in task specs and the image/version hash). */
  stableHash(): string {
    return createHash("sha256").update(`${this.key}|${this.group ?? ""}|${this.mount ?? ""}|${this.asEnvVar ?? ""}`, "utf8").digest("hex");
  }
}

/** A secret the task reads at run time, by `key` (and `group`). */
export const Secret = callable(SecretImpl);
export type Secret = SecretImpl;

/** Turns a `secrets` option into a list of `Secret`s; `undefined` → `[]`. */
export function normalizeSecrets(req: SecretRequest | undefined, owner: string): readonly Secret[] {
  if (req === undefined) return Object.freeze([]);
  const items: readonly unknown[] = Array.isArray(req) ? req : [req];
  const out = items.map((s) => {
    if (s instanceof Secret) return s;
    if (typeof s === "string") return new Secret({ key: s });
    throw new ValidationError(
      `${owner}: secrets must be a string, a Secret, or an array of them, got ${show(req)}. Use e.g. secrets: ["db-password", new Secret({ key: "token", group: "github" })].`,
      { field: "secrets" },
    );
  });
  return Object.freeze(out);
}
