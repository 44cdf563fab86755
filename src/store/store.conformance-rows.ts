/** Rows the store conformance suite writes (a module of its own: the suite's child process imports it without vitest). */
import type { ActionRow, AttemptRow, RunRow } from "./store.ts";

const P = { project: "p", domain: "d" };
export const ROW_TIME = 1_700_000_000_000;
const NOW = ROW_TIME;


export function runRow(name: string, o: Partial<RunRow> = {}): RunRow {
  return {
    ...P, name, taskName: "env.main", phase: "running", mode: "local", inputs: new Uint8Array([1, 2, 3]), outputs: null, error: null,
    createdAt: NOW, startedAt: NOW, endedAt: null, ownerPid: 1, ownerHost: "host", heartbeatAt: NOW, ownerId: null, leaseEpoch: 0,
    leaseExpiresAt: null, recoverFrom: null, abortRequested: null, labels: { team: "ml" }, source: { file: "/x.ts", task: "main" },
    options: { envVars: { A: "1" } }, ...o,
  };
}

export function actionRow(runName: string, name: string, o: Partial<ActionRow> = {}): ActionRow {
  return {
    runName, name, parent: name === "a0" ? null : "a0", taskName: "env.t", shortName: "t", group: null, phase: "queued", cacheHit: false,
    recovered: false, inputsHash: `h-${name}`, inputs: new Uint8Array([9]), outputs: null, error: null, createdAt: NOW, startedAt: null,
    endedAt: null, reportUri: null, attemptCount: 0, interface: { inputs: { type: "object" } }, ...o,
  };
}

export const attemptRow = (runName: string, action: string, attempt: number, o: Partial<AttemptRow> = {}): AttemptRow => ({
  runName, action, attempt, phase: "running", startedAt: NOW, endedAt: null, error: null, owner: "host:1:aa", leaseEpoch: 1, ...o,
});

