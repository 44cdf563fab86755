/**
 * Resolves the secrets a task requested at attempt start: values from the secret store, exposed as env
 * vars and/or files in a private temp dir (`FLYTE_SECRETS_DIR`), never in the state dir or the store.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TaskTemplate } from "../authoring/task-template.ts";
import { secretNotFound } from "../secrets/secret-store.ts";
import type { RunState } from "./run-state.ts";

export interface ResolvedSecrets {
  env: Record<string, string>;
  /** `key` or `group/key` → value, for getSecret(). */
  byId: Map<string, string>;
  cleanup: () => void;
}

export function resolveSecrets(run: RunState, task: TaskTemplate): ResolvedSecrets {
  const env: Record<string, string> = {};
  const byId = new Map<string, string>();
  let dir: string | undefined;
  for (const s of task.secrets) {
    const ref = s.group === undefined ? { key: s.key } : { key: s.key, group: s.group };
    const value = run.secrets.get(ref);
    if (value === undefined) throw secretNotFound(ref, run.secrets);
    run.secretValues.add(value);
    byId.set(s.group ? `${s.group}/${s.key}` : s.key, value);
    if (s.asEnvVar) env[s.asEnvVar] = value;
    if (s.mount) {
      dir ??= mkdtempSync(join(tmpdir(), "flyte-secrets-"));
      const groupDir = join(dir, s.group ?? "");
      mkdirSync(groupDir, { recursive: true, mode: 0o700 });
      writeFileSync(join(groupDir, s.key), value, { mode: 0o600 });
    }
  }
  if (dir) env.FLYTE_SECRETS_DIR = dir;
  return {
    env,
    byId,
    cleanup: () => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
