/**
 * Deterministic action identity, ported from flyte-sdk's sequencer (`_internal/controllers/__init__.py`).
 *
 * A child's name is `base36(md5("<parent>-<inputsHash>-<task>-<seq>[-<group>]"))`, where `seq` counts
 * identical calls (same task, inputs and group) under one parent: 1 for the first, 2 for the next, ...
 * Because the counter is keyed by the call's content and not by a global call index, two different calls
 * never share a counter and a child's name does not depend on the order in which concurrent calls were
 * scheduled. Re-executing a parent (a retry, or a recovered run) therefore produces the same names for
 * the same calls, which is how finished children are found again instead of being re-run.
 */
import { createHash } from "node:crypto";

/** The root action of every run. */
export const ROOT_ACTION = "a0";

export function base36(digest: Buffer): string {
  return BigInt(`0x${digest.toString("hex")}`).toString(36);
}

/** Per-parent counters of identical calls. */
export class ActionSequencer {
  /** parent → (call key → count). Nested by parent so that resetting one parent does not scan every counter of the run. */
  readonly #counters = new Map<string, Map<string, number>>();

  /** Returns the name of the next call of `taskName` with `inputsHash` in `group` under `parent`. */
  next(parent: string, taskName: string, inputsHash: string, group: string | null): string {
    let counters = this.#counters.get(parent);
    if (!counters) this.#counters.set(parent, (counters = new Map()));
    const key = `${taskName}:${inputsHash}:${group ?? ""}`;
    const seq = (counters.get(key) ?? 0) + 1;
    counters.set(key, seq);
    return actionName(parent, taskName, inputsHash, seq, group);
  }

  /** Forgets a parent's counters, so a re-executed attempt of it replays the same names. */
  resetParent(parent: string): void {
    this.#counters.delete(parent);
  }
}

export function actionName(parent: string, taskName: string, inputsHash: string, seq: number, group: string | null): string {
  const components = `${parent}-${inputsHash}-${taskName}-${seq}${group ? `-${group}` : ""}`;
  return base36(createHash("md5").update(components).digest());
}
