/**
 * `startScheduler()`: what `flyte serve` runs, for a process that wants to fire triggers itself. It fires the
 * active triggers deployed in the configured project/domain until `stop()`: on the embedded backend each fire's
 * run executes in this process; on the cluster backend it is queued for workers (see launch.ts, scheduler.ts).
 * @module
 */
import { checkKeys } from "../internal/validate.ts";
import { getRuntime } from "../run/runtime.ts";
import { triggerLauncher } from "./launch.ts";
import { Scheduler } from "./scheduler.ts";
import { listDeployedTriggers, type DeployedTrigger } from "./triggers.ts";

export interface StartSchedulerOptions {
  /**
   * Where task code comes from: `"deployed"` = the bundle of the trigger's version (`flyte deploy`); `"loaded"` =
   * the environments this process has loaded (development). @default "deployed"
   */
  code?: "deployed" | "loaded";
  /** What the scheduler does, one line each (fires, skipped fire times, runs it could not create). @default nothing */
  log?: (line: string) => void;
}

export interface SchedulerHandle {
  /** Names this scheduler in the fires it records. */
  readonly id: string;
  /** The active triggers when it started (triggers deployed or activated later are picked up too). */
  readonly triggers: DeployedTrigger[];
  /** Stops firing; resolves once the pass under way has finished (runs it started go on). */
  stop(): Promise<void>;
}

/** Starts firing the deployed triggers (see the module comment). */
export async function startScheduler(o: StartSchedulerOptions = {}): Promise<SchedulerHandle> {
  checkKeys(o, ["code", "log"], "startScheduler");
  const rt = getRuntime();
  const triggers = (await listDeployedTriggers()).filter((t) => t.active);
  const scheduler = new Scheduler({
    store: rt.store, scope: { project: rt.config.project, domain: rt.config.domain }, ...(o.log ? { log: o.log } : {}),
    launch: triggerLauncher({ mode: rt.config.backend === "cluster" ? "remote" : "local", code: o.code ?? "deployed" }),
  });
  // From the next turn: the caller says what is served before the first fire is logged.
  let stopped = false;
  setImmediate(() => stopped || scheduler.start());
  return {
    id: scheduler.owner, triggers, stop: () => {
      stopped = true;
      return scheduler.stop();
    },
  };
}
