/**
 * Resolves the secrets a task requested at attempt start: values from the secret store, exposed as env
 * vars and/or files in a private temp dir (`FLYTE_SECRETS_DIR`), never in the state dir or the store.
 * The dir's name carries the owning pid, so one left behind by a killed process is removed the next time
 * any flyte process starts (`sweepSecretDirs`).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TaskTemplate } from "../authoring/task-template.ts";
import { secretNotFound } from "../secrets/secret-store.ts";
import type { RunState } from "./run-state.ts";
import { isProcessAlive } from "../internal/process-alive.ts";

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
    const id = s.group ? `${s.group}/${s.key}` : s.key;
    run.secretValues.add(value, id);
    byId.set(id, value);
    if (s.asEnvVar) env[s.asEnvVar] = value;
    if (s.mount) {
      dir ??= mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
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

const DIR_PREFIX = "flyte-secrets-";

/** Removes the mounted-secret dirs of processes that are gone (killed before their attempts cleaned up). */
export function sweepSecretDirs(dir = tmpdir()): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = /^flyte-secrets-(\d+)-/.exec(name);
    if (!m || isProcessAlive(Number(m[1]))) continue;
    try {
      rmSync(join(dir, name), { recursive: true, force: true });
      removed.push(name);
    } catch {
      // Another user's dir, or already gone: not ours to report.
    }
  }
  return removed;
}
