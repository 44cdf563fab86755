/**
 * The controller contract: what `run()` and the `Run` handle need from whatever executes actions.
 */
import type { TaskTemplate } from "../authoring/task-template.ts";
import type { ActionPhase, RunKey } from "../store/store.ts";

export interface RunOptionsResolved {
  name: string;
  project: string;
  domain: string;
  mode: "local" | "remote" | "hybrid";
  overwriteCache: boolean;
  disableRunCache: boolean;
  envVars: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  interruptible?: boolean;
  queue?: string;
  rawDataPath?: string;
  maxActionConcurrency: number;
  customContext: Record<string, string>;
  recoverFrom?: string;
  forceRerunActions: string[];
  version: string;
  /** What the run's records survive (see store/write-batch.ts `Durability`). */
  durability: "full" | "process";
  /** `process`: each attempt of a non-reusable function task runs in a fresh child process (src/isolation). */
  isolation?: "none" | "process";
  /** The user file the task came from, for `flyte recover`. */
  sourceFile?: string;
  /** The trigger whose fire started the run (`flyte serve`), recorded in the run's options. */
  trigger?: RunTrigger;
}

/** What a run started by a trigger records of it: the trigger, its task and the scheduled fire time (ISO). */
export interface RunTrigger {
  name: string;
  task: string;
  fireTime: string;
}

/** An event for live displays (the CLI tree). */
export interface ActionEvent {
  run: string;
  action: string;
  parent: string | null;
  shortName: string;
  taskName: string;
  group: string | null;
  phase: ActionPhase;
  attempt: number;
  cacheHit: boolean;
  recovered: boolean;
  startedAt: number | null;
  endedAt: number | null;
  /** Why the action failed; while a retry runs, why its previous attempt failed. */
  error: { name: string; code: string; kind: "user" | "system" | "unknown"; message: string } | null;
}

/**
 * What executes runs. A backend (see run/backends.ts) pairs one with its store: the embedded backend's
 * `LocalController` executes every action in this process; a cluster controller dispatches them to workers.
 */
export interface Controller {
  /** Records the run and starts executing its root action; resolves once recorded. */
  startRun(task: TaskTemplate, inputs: unknown, options: RunOptionsResolved): Promise<void>;
  /**
   * Resolves with the run's phase once it is terminal (at once if it already is), or with its phase then when
   * `timeoutMs` passes first.
   */
  waitRun(key: RunKey, timeoutMs?: number): Promise<ActionPhase>;
  /** Aborts a run owned by this process, or asks its owner to. */
  abortRun(key: RunKey, reason: string): Promise<void>;
  /** Subscribes to action updates; returns an unsubscribe function. */
  onActionEvent(listener: (e: ActionEvent) => void): () => void;
  /** Stops background timers (heartbeats) once no run is active. */
  close(): Promise<void>;
}
