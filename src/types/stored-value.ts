/** A value as the store keeps it (an encoded literal, possibly offloaded) back to what user code sees. */
import { decodeLiteral } from "./codec.ts";
import { fromLiteral } from "./literal.ts";
import { unpackIo } from "./offload.ts";

export async function decodeStoredValue(bytes: Uint8Array): Promise<unknown> {
  return fromLiteral(await unpackIo(decodeLiteral(bytes)));
}
