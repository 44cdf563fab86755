/**
 * Where secret values live. `local` keeps one file per secret under `<stateDir>/secrets` (directory 0700,
 * files 0600); `env` reads `FLYTE_SECRET_<GROUP>_<KEY>`. Values never go into the metadata store.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SecretNotFoundError, ValidationError } from "../errors.ts";

export interface SecretRef {
  key: string;
  group?: string;
}

export interface SecretStore {
  get(ref: SecretRef): string | undefined;
  set(ref: SecretRef, value: string): void;
  delete(ref: SecretRef): boolean;
  list(): Array<SecretRef & { updatedAt: Date }>;
}

const SAFE = /^[A-Za-z0-9_.-]+$/;
function check(ref: SecretRef): void {
  for (const [what, v] of [["key", ref.key], ["group", ref.group]] as const) {
    if (v !== undefined && (!SAFE.test(v) || v === "." || v === "..")) {
      throw new ValidationError(`Secret ${what} ${JSON.stringify(v)} is invalid. Use letters, digits, ".", "_" and "-".`);
    }
  }
}

export const describeSecret = (ref: SecretRef): string => (ref.group ? `${ref.group}/${ref.key}` : ref.key);

/** Shorter values match too much ordinary text to be redacted reliably from logs and errors. */
export const MIN_SECRET_LENGTH = 4;

function checkValue(ref: SecretRef, value: string): void {
  if (value.length < MIN_SECRET_LENGTH) {
    throw new ValidationError(
      `Secret "${describeSecret(ref)}" is ${value.length} character${value.length === 1 ? "" : "s"} long; a secret needs at least ${MIN_SECRET_LENGTH} so it can be hidden from logs and errors. Use a longer value.`,
      { field: "value" },
    );
  }
}

export class LocalSecretStore implements SecretStore {
  readonly dir: string;
  constructor(stateDir: string) {
    this.dir = join(stateDir, "secrets");
  }
  private path(ref: SecretRef): string {
    check(ref);
    return join(this.dir, ref.group ?? "_", ref.key);
  }
  get(ref: SecretRef): string | undefined {
    const p = this.path(ref);
    return existsSync(p) ? readFileSync(p, "utf8") : undefined;
  }
  set(ref: SecretRef, value: string): void {
    const p = this.path(ref);
    checkValue(ref, value);
    mkdirSync(join(this.dir, ref.group ?? "_"), { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o700);
    writeFileSync(p, value, { mode: 0o600 });
    chmodSync(p, 0o600);
  }
  delete(ref: SecretRef): boolean {
    const p = this.path(ref);
    if (!existsSync(p)) return false;
    rmSync(p);
    return true;
  }
  list(): Array<SecretRef & { updatedAt: Date }> {
    if (!existsSync(this.dir)) return [];
    const out: Array<SecretRef & { updatedAt: Date }> = [];
    for (const group of readdirSync(this.dir)) {
      for (const key of readdirSync(join(this.dir, group))) {
        const ref = group === "_" ? { key } : { key, group };
        out.push({ ...ref, updatedAt: statSync(join(this.dir, group, key)).mtime });
      }
    }
    return out;
  }
}

export class EnvSecretStore implements SecretStore {
  static varName(ref: SecretRef): string {
    return `FLYTE_SECRET_${(ref.group ? `${ref.group}_${ref.key}` : ref.key).replaceAll("-", "_").toUpperCase()}`;
  }
  get(ref: SecretRef): string | undefined {
    return process.env[EnvSecretStore.varName(ref)];
  }
  set(ref: SecretRef): void {
    throw new ValidationError(`The env secret backend is read-only: export ${EnvSecretStore.varName(ref)} instead.`);
  }
  delete(ref: SecretRef): boolean {
    throw new ValidationError(`The env secret backend is read-only: unset ${EnvSecretStore.varName(ref)} instead.`);
  }
  list(): Array<SecretRef & { updatedAt: Date }> {
    return [];
  }
}

export function secretNotFound(ref: SecretRef, store: SecretStore): SecretNotFoundError {
  const how = store instanceof EnvSecretStore
    ? `export ${EnvSecretStore.varName(ref)}=...`
    : `flyte secret create ${ref.key}${ref.group ? ` --group ${ref.group}` : ""}`;
  return new SecretNotFoundError(`Secret "${describeSecret(ref)}" was not found in the secret store. Create it with: ${how}`);
}
