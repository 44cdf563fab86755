/**
 * Deterministic action identity, ported from flyte-sdk's sequencer (`_internal/controllers/__init__.py`);
 * `RunState.childName` assigns the sequence numbers.
 *
 * A child's name is `base36(md5("<parent>-<inputsHash>-<task>-<seq>[-<group>]"))`, where `seq` counts
 * identical calls (same task, inputs and group) under one parent: 1 for the first, 2 for the next, ...
 * Because the counter is keyed by the call's content and not by a global call index, two different calls
 * never share a counter and a child's name does not depend on the order in which concurrent calls were
 * scheduled. Re-executing a parent (a retry, or a recovered run) therefore produces the same names for
 * the same calls, which is how finished children are found again instead of being re-run.
 */
import { hashHex } from "../types/codec.ts";

/** The root action of every run. */
export const ROOT_ACTION = "a0";

export function base36(hex: string): string {
  return BigInt(`0x${hex}`).toString(36);
}

export function actionName(parent: string, taskName: string, inputsHash: string, seq: number, group: string | null): string {
  const components = `${parent}-${inputsHash}-${taskName}-${seq}${group ? `-${group}` : ""}`;
  return base36(hashHex("md5", components));
}
