/**
 * What a recovering run may reuse, and when it may start at all.
 *
 * A run recovers from the whole `recoverFrom` chain (r2 → r1 → original), not only from its direct source: a
 * source that died or failed early has no record of the actions it never reached, while an earlier run of the
 * chain has them succeeded. For each action the newest succeeded record with identical inputs wins.
 *
 * Recovering executes the source's unfinished actions again, so it must not start while any run of the chain
 * still executes, nor while another run recovers the same chain: both would execute the same actions twice.
 * The second is guarded by a claim in the store (see `RunStore.createRun`).
 */
import { ValidationError } from "../errors.ts";
import { isTerminal, type RunRow, type RunStore } from "../store/store.ts";
import type { RecoveredAction, RunState } from "./run-state.ts";

/** `source`, the run it recovered from, and so on: newest first. */
export async function recoveryChain(store: RunStore, source: RunRow): Promise<RunRow[]> {
  const chain = [source];
  const seen = new Set([source.name]);
  for (let r = source; r.recoverFrom && !seen.has(r.recoverFrom); ) {
    const next = await store.getRun({ project: r.project, domain: r.domain, name: r.recoverFrom });
    if (!next) break;
    seen.add(next.name);
    chain.push(next);
    r = next;
  }
  return chain;
}

const owner = (r: RunRow): string => `process ${r.ownerPid ?? "?"} on host ${r.ownerHost ?? "?"}`;

/**
 * Refuses to recover `chain[0]` while a run of its chain has not ended (its owner is alive: lost owners were
 * marked failed before this is called).
 */
export function checkChainEnded(chain: RunRow[]): void {
  const source = chain[0]!;
  for (const r of chain) {
    if (isTerminal(r.phase)) continue;
    const which = r === source ? `run "${r.name}"` : `run "${r.name}" (which "${source.name}" recovered from)`;
    throw new ValidationError(
      `recoverFrom: ${which} is still ${r.phase} in ${owner(r)}; recovering it now would execute its actions twice. ` +
        `Wait for it to end, or stop it first with: flyte abort ${r.name}`,
      { field: "recoverFrom" },
    );
  }
}

/** The refusal when `holder` recovers the chain of `source` right now. */
export function claimHeldError(source: string, holder: RunRow | undefined, holderName: string): ValidationError {
  return new ValidationError(
    `recoverFrom: run "${source}" is being recovered right now by run "${holderName}"${holder ? ` (${owner(holder)})` : ""}; ` +
      `a second recovery would execute the same actions twice. Wait for "${holderName}" to end and recover that one ` +
      `(flyte recover ${holderName}), or stop it first with: flyte abort ${holderName}`,
    { field: "recoverFrom" },
  );
}

/** Succeeded actions of the chain by name; per name, the newest record of each inputs hash first. */
export async function loadRecovered(store: RunStore, chain: RunRow[]): Promise<Map<string, RecoveredAction>> {
  const recovered = new Map<string, RecoveredAction>();
  for (const run of chain) {
    for (const a of await store.listSucceeded(run.name)) {
      const rec: RecoveredAction = { inputsHash: a.inputsHash, outputs: a.outputs, next: undefined };
      let last = recovered.get(a.name);
      if (!last) {
        recovered.set(a.name, rec);
        continue;
      }
      // Only the root's name repeats with other inputs (a `--recover-from` run with new inputs); a newer
      // record with the same inputs has already won.
      for (;; last = last.next) {
        if (last.inputsHash === a.inputsHash) break;
        if (!last.next) {
          last.next = rec;
          break;
        }
      }
    }
  }
  return recovered;
}

/** The recorded output of `name` with `inputsHash` in the chain, if it succeeded there. */
export function findRecovered(recovered: Map<string, RecoveredAction>, name: string, inputsHash: string): RecoveredAction | undefined {
  for (let r = recovered.get(name); r; r = r.next) if (r.inputsHash === inputsHash) return r;
  return undefined;
}

/**
 * Loads what a recovering run reuses into `run`, from the `recoverFrom` its row names: how a worker's copy of a
 * remote run (which the worker did not start) learns it, before it decides the calls the run's actions make there.
 */
export async function loadRecoveredInto(store: RunStore, run: RunState, row: RunRow): Promise<void> {
  if (!row.recoverFrom) return;
  const source = await store.getRun({ project: row.project, domain: row.domain, name: row.recoverFrom });
  if (!source) return;
  const chain = await recoveryChain(store, source);
  run.recovered = await loadRecovered(store, chain);
  run.recoverChain = chain.map((r) => r.name);
}
