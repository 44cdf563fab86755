/**
 * Values as the store keeps them (inputs and outputs as encoded literals, large parts offloaded to the blob
 * store) turned back into JavaScript values. The one decoder behind `Run.outputs()`, `Run.details()`,
 * `Action.inputs()`/`outputs()` and recovery's reuse of an earlier run's inputs.
 */
import { decodeLiteral } from "../types/codec.ts";
import { fromLiteral } from "../types/literal.ts";
import { unpackIo } from "../types/offload.ts";

/** The value stored as `bytes`; `undefined` when nothing was stored (yet). */
export async function decodeStoredValue(bytes: Uint8Array | null | undefined): Promise<unknown> {
  return bytes ? fromLiteral(await unpackIo(decodeLiteral(bytes))) : undefined;
}
