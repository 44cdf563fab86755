/**
 * `flyte-ts/io`: values that reference data in the blob store instead of carrying it inline.
 *
 * @example
 * ```ts
 * import { File, Dir, DataFrame } from "flyte-ts/io";
 * const model = await File.fromLocal("model.bin");                 // uploaded when it crosses an action boundary
 * const data = DataFrame.fromRecords([{ id: 1, score: 0.5 }]);     // stored as Arrow IPC
 * const rows = await data.toRecords();
 * ```
 * @module
 */
export { File } from "./file.ts";
export { Dir } from "./dir.ts";
export { DataFrame } from "./dataframe.ts";
export type { DataFrameFormat } from "./dataframe.ts";
