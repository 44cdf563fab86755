/**
 * The `TaskContext` of one attempt. A fan-out keeps every in-flight attempt's context alive, so the parts
 * most attempts never read (report, trace host, paths) are built on first access instead of up front.
 */
import type { TaskTemplate } from "../authoring/task-template.ts";
import { Report } from "../report/report.ts";
import type { ReportHost } from "../report/index.ts";
import type { TaskContext, TraceHost } from "./task-context.ts";
import { ROOT_ACTION } from "./action-id.ts";
import { cacheVersion } from "./cache-key.ts";
import type { AttemptControl } from "./attempt-control.ts";
import type { RunState } from "./run-state.ts";
import { makeTraceHost } from "./trace-host.ts";

export class AttemptContext implements TaskContext {
  readonly mode: "local" | "remote" | "hybrid";
  readonly codeBundle = null;
  readonly imageCache: Readonly<Record<string, string>> = Object.freeze({});
  data: Readonly<Record<string, unknown>> = {};
  #report: Report | undefined;
  #reportHost: ReportHost | undefined;
  #trace: TraceHost | undefined;

  constructor(
    private readonly run: RunState,
    private readonly task: TaskTemplate,
    readonly actionName: string,
    readonly attempt: number,
    readonly group: string | null,
    readonly customContext: Readonly<Record<string, string>>,
    private readonly control: AttemptControl,
    readonly _secrets: ReadonlyMap<string, string>,
    /** Called when the report is flushed with the URI it was written to. */
    private readonly onReport: (uri: string) => void,
  ) {
    this.mode = run.options.mode;
  }

  get signal(): AbortSignal {
    return this.control.signal;
  }
  get action() {
    return { name: this.actionName, runName: this.run.name, project: this.run.options.project, domain: this.run.options.domain };
  }
  get runName(): string {
    return this.run.name;
  }
  get version(): string {
    return this.task.cache.isEnabled() ? cacheVersion(this.task) : this.actionName === ROOT_ACTION ? "na" : "";
  }
  get rawDataPath(): string {
    return this.run.rawDataPrefix;
  }
  get runBaseDir(): string {
    return this.run.baseDir;
  }
  get inputPath(): string {
    return `${this.run.baseDir}/${this.actionName}/inputs`;
  }
  get outputPath(): string {
    return `${this.run.baseDir}/${this.actionName}/outputs`;
  }
  get checkpoints() {
    const base = `${this.run.baseDir}/${this.actionName}/_flytecheckpoints`;
    return { previous: this.attempt > 0 ? `${base}/${this.attempt - 1}` : null, current: `${base}/${this.attempt}` };
  }
  get runStartTime(): Date {
    return new Date(this.run.startedAt);
  }
  get report(): Report {
    return (this.#report ??= new Report(this.actionName));
  }
  get _reportHost(): ReportHost {
    return (this.#reportHost ??= {
      report: this.report,
      enabled: this.task.report,
      flush: () => this.flushReport(),
    });
  }
  get _trace(): TraceHost {
    return (this.#trace ??= makeTraceHost(this.run, this.actionName, this.attempt));
  }

  /** Writes report.html when the task keeps reports and something was written to it. */
  async flushReport(): Promise<void> {
    if (!this.task.report || !this.#report) return;
    const key = `${this.run.actionKey(this.actionName)}/report.html`;
    const put = await this.run.blobStore.put(key, Buffer.from(this.run.redact(this.#report.getFinalReport())));
    this.onReport(put.uri);
  }
}
