/**
 * `flyte-ts/report`: write HTML reports from inside a task declared with `report: true`.
 *
 * @example
 * ```ts
 * import * as report from "flyte-ts/report";
 * export const summarize = env.task({ report: true }, async function summarize({ rows }: { rows: number[] }) {
 *   await report.log(`<h1>${rows.length} rows</h1>`);
 *   report.getTab("details").log(`<pre>${JSON.stringify(rows)}</pre>`);
 * });
 * ```
 * @module
 */
import { currentActionScope } from "../internal/action-scope.ts";
import { Report, Tab } from "./report.ts";

export { Report, Tab };

/** What an attempt exposes to the report functions. */
export interface ReportHost {
  report: Report;
  enabled: boolean;
  flush(): Promise<void>;
}

const warned = new Set<string>();
function host(): ReportHost | undefined {
  const c = currentActionScope()?.context as { _reportHost?: ReportHost } | undefined;
  const h = c?._reportHost;
  if (h && !h.enabled && !warned.has(h.report.name)) {
    warned.add(h.report.name);
    process.emitWarning(`Report calls in action ${h.report.name} are ignored: declare the task with { report: true } to keep its report.`);
  }
  return h;
}

/** Appends HTML to the "main" tab. */
export async function log(html: string, o: { flush?: boolean } = {}): Promise<void> {
  const h = host();
  if (!h) return;
  h.report.getTab("main").log(html);
  if (o.flush) await h.flush();
}

/** Replaces the "main" tab. */
export async function replace(html: string, o: { flush?: boolean } = {}): Promise<void> {
  const h = host();
  if (!h) return;
  h.report.getTab("main").replace(html);
  if (o.flush) await h.flush();
}

/** A tab of the current report (a throwaway tab outside a task). */
export function getTab(name: string, o: { createIfMissing?: boolean } = {}): Tab {
  return currentReport().getTab(name, o);
}

/** Uploads the current report now. */
export async function flush(): Promise<void> {
  await host()?.flush();
}

/** The current action's report (a throwaway one outside a task). */
export function currentReport(): Report {
  return host()?.report ?? new Report("local");
}
