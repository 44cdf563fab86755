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
  readonly #counters = new Map<string, number>();

  /** Returns the name of the next call of `taskName` with `inputsHash` in `group` under `parent`. */
  next(parent: string, taskName: string, inputsHash: string, group: string | null): string {
    const key = `${parent}\u0000${taskName}:${inputsHash}:${group ?? ""}`;
    const seq = (this.#counters.get(key) ?? 0) + 1;
    this.#counters.set(key, seq);
    return actionName(parent, taskName, inputsHash, seq, group);
  }

  /** Forgets a parent's counters, so a re-executed attempt of it replays the same names. */
  resetParent(parent: string): void {
    const prefix = `${parent}\u0000`;
    for (const k of this.#counters.keys()) if (k.startsWith(prefix)) this.#counters.delete(k);
  }
}

export function actionName(parent: string, taskName: string, inputsHash: string, seq: number, group: string | null): string {
  const components = `${parent}-${inputsHash}-${taskName}-${seq}${group ? `-${group}` : ""}`;
  return base36(createHash("md5").update(components).digest());
}
