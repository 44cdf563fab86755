/** How a value's literal is stored: inline when small, offloaded to the blob store above `maxInlineIoBytes`. */
import type { TaskTemplate } from "../authoring/task-template.ts";
import { withIoScope } from "../io/io-scope.ts";
import { encodeLiteral } from "../types/codec.ts";
import type { Literal } from "../types/literal.ts";
import { packIoBytes } from "../types/offload.ts";
import type { RunState } from "./run-state.ts";

/** A literal as stored: the literal itself (or its offloaded reference) and its encoding. */
export interface Packed {
  literal: Literal;
  bytes: Uint8Array;
}

export const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => v instanceof Promise;

/** Encodes a value's literal once; only one above maxInlineIoBytes goes through offloading (or is refused). */
export function packNow(run: RunState, task: TaskTemplate, lit: Literal, blobKey: string, direction: "input" | "output"): Packed | Promise<Packed> {
  const bytes = encodeLiteral(lit);
  if (bytes.byteLength <= task.maxInlineIoBytes) return { literal: lit, bytes };
  return withIoScope({ blobStore: run.blobStore, rawDataPrefix: run.rawDataPrefix }, () =>
    packIoBytes(lit, { maxInlineIoBytes: task.maxInlineIoBytes, offload: run.offload, blobKey, taskName: task.name, direction }),
  );
}
