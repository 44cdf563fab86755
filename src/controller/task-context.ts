/**
 * What a running task sees of itself: the public `TaskContext` (returned by `ctx()`, run/context.ts), and
 * the hooks the runtime hangs on it. Defined here because the controller builds it (attempt-context.ts) and
 * run/ only reads it.
 */
import type { Report } from "../report/report.ts";
import type { ReportHost } from "../report/index.ts";

export interface TaskContext {
  readonly action: { name: string; runName: string; project?: string; domain?: string };
  readonly actionName: string;
  readonly runName: string;
  /** 0-based attempt number. */
  readonly attempt: number;
  readonly version: string;
  readonly rawDataPath: string;
  readonly runBaseDir: string;
  readonly mode: "local" | "remote" | "hybrid";
  readonly customContext: Readonly<Record<string, string>>;
  readonly report: Report;
  readonly checkpoints: { previous: string | null; current: string };
  readonly group: string | null;
  readonly runStartTime: Date;
  /** Aborted when the run is aborted or the attempt times out. */
  readonly signal: AbortSignal;
  readonly inputPath: string;
  readonly outputPath: string;
  readonly codeBundle: { uri: string; version: string } | null;
  readonly imageCache: Readonly<Record<string, string>>;
  /** What the task's `pre()` hook returned. */
  readonly data: Readonly<Record<string, unknown>>;
  /** Distributed (clustered) ranks; undefined outside clustered tasks. */
  readonly rank?: number;
  readonly localRank?: number;
  readonly worldSize?: number;
  readonly localWorldSize?: number;
  readonly nodeRank?: number;
}

/** @internal Hooks the runtime hangs on the context object; not part of the public type. */
export interface InternalContext extends TaskContext {
  readonly _reportHost: ReportHost;
  readonly _secrets: ReadonlyMap<string, string>;
  readonly _trace: TraceHost;
}

/** @internal How `trace()` records and replays its entries. */
export interface TraceHost {
  nextKey(name: string, inputsHash: string): string;
  lookup(key: string): Promise<{ found: false } | { found: true; output?: unknown; error?: Error }>;
  record(key: string, name: string, result: { output?: unknown; error?: unknown }, durationMs: number): Promise<void>;
}
