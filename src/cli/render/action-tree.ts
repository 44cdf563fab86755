/**
 * The live view of a run: a tree of actions with phase, duration, attempt and cache hit. On a TTY it is
 * redrawn in place (log lines are printed above it); otherwise each phase change is one plain line, until a run
 * has more than PLAIN_DETAIL_LIMIT actions: from then on only failures, retries and the root get a line, plus a
 * progress summary every few seconds, so a 10,000-action fan-out does not print 30,000 lines into a CI log.
 */
import type { ActionUpdate, ErrorDetails } from "../../index.ts";
import type { CliIo } from "../context.ts";
import { color, formatDuration } from "./format.ts";

type ActionEvent = ActionUpdate;

const ICON: Record<string, string> = {
  queued: "·", waiting_for_resources: "·", initializing: "·", running: "▶", succeeded: "✔", failed: "✖", aborted: "■", timed_out: "⏱",
};
const MAX_LINES = 30;
const PLAIN_DETAIL_LIMIT = 200;
const SUMMARY_EVERY_MS = 2000;

const FAILED = ["failed", "timed_out", "aborted"];

/** `Name (code): message` of an error. */
export const errorLine = (err: ErrorDetails): string => `${err.name}${err.code !== err.name ? ` (${err.code})` : ""}: ${err.message}`;
const MAX_ERROR_CHARS = 200;

export class ActionTree {
  readonly #actions = new Map<string, ActionEvent>();
  readonly #order: string[] = [];
  readonly #tty: boolean;
  readonly #io: Pick<CliIo, "stdout" | "stderr">;
  #drawn = 0;
  #timer: NodeJS.Timeout | undefined;
  #lastPhase = new Map<string, string>();

  constructor(tty: boolean, io: Pick<CliIo, "stdout" | "stderr">) {
    this.#tty = tty;
    this.#io = io;
    this.#timer = tty ? setInterval(() => this.redraw(), 120) : setInterval(() => this.#summary(), SUMMARY_EVERY_MS);
    this.#timer.unref();
  }

  update(e: ActionEvent): void {
    if (!this.#actions.has(e.action)) this.#order.push(e.action);
    this.#actions.set(e.action, e);
    if (!this.#tty) {
      const key = `${e.phase}:${e.attempt}`;
      if (this.#lastPhase.get(e.action) === key) return;
      this.#lastPhase.set(e.action, key);
      const detailed = this.#order.length <= PLAIN_DETAIL_LIMIT || e.parent === null || e.attempt > 0 || ["failed", "timed_out", "aborted"].includes(e.phase);
      if (detailed) this.#io.stdout.write(`${this.#line(e, "")}\n`);
    }
  }

  /** One line of counts per phase (plain mode, large runs only). */
  #summary(): void {
    if (this.#order.length <= PLAIN_DETAIL_LIMIT) return;
    const counts = new Map<string, number>();
    for (const e of this.#actions.values()) counts.set(e.phase, (counts.get(e.phase) ?? 0) + 1);
    this.#io.stdout.write(`… ${this.#order.length} actions: ${[...counts].map(([p, n]) => `${n} ${p}`).join(", ")}\n`);
  }

  /** Prints a captured log line without breaking the tree. */
  log(label: string, line: string, stream: "stdout" | "stderr"): void {
    this.#clear();
    this.#io[stream].write(`${color(this.#tty, "gray", `[${label}]`)} ${line}\n`);
    if (this.#tty) this.redraw();
  }

  /** Why the action failed, or (while a retry runs) why its previous attempt failed. */
  #why(e: ActionEvent): string | undefined {
    const failed = FAILED.includes(e.phase);
    if (!failed && (e.attempt === 0 || e.phase === "succeeded")) return undefined;
    const err = failed ? e.error : e.previousAttemptError;
    let why = err ? errorLine(err).split("\n")[0] : undefined;
    if (why && why.length > MAX_ERROR_CHARS) why = `${why.slice(0, MAX_ERROR_CHARS - 1)}…`;
    return why && !failed ? `attempt #${e.attempt - 1} failed: ${why}` : why;
  }

  #line(e: ActionEvent, indent: string): string {
    const dur = e.startedAt ? formatDuration((e.endedAt ?? Date.now()) - e.startedAt) : "";
    // Attempts are numbered from 0 here as in `flyte get action`, `flyte get logs` and --attempt.
    const tags = [
      e.attempt > 0 ? `attempt #${e.attempt}` : "",
      e.cacheHit ? "cache hit" : "",
      e.recovered ? "recovered" : "",
      e.group ? `group ${e.group}` : "",
    ].filter(Boolean).join(", ");
    const c = e.phase === "succeeded" ? "green" : e.phase === "running" ? "cyan" : e.phase === "queued" ? "gray" : "red";
    const name = e.parent === null ? `${e.shortName} (${e.run})` : `${e.shortName} ${color(this.#tty, "gray", e.action.slice(0, 8))}`;
    const why = this.#why(e);
    return `${indent}${color(this.#tty, c, `${ICON[e.phase] ?? "?"} ${e.phase.padEnd(9)}`)} ${name} ${dur}${tags ? ` [${tags}]` : ""}${why ? ` ${color(this.#tty, "red", why)}` : ""}`;
  }

  #lines(): string[] {
    const children = new Map<string | null, string[]>();
    for (const id of this.#order) {
      const e = this.#actions.get(id)!;
      (children.get(e.parent) ?? children.set(e.parent, []).get(e.parent)!).push(id);
    }
    const out: string[] = [];
    const walk = (parent: string | null, depth: number) => {
      const ids = children.get(parent) ?? [];
      const shown = ids.length > MAX_LINES ? ids.filter((id) => this.#actions.get(id)!.phase !== "succeeded").slice(0, MAX_LINES) : ids;
      for (const id of shown) {
        out.push(this.#line(this.#actions.get(id)!, "  ".repeat(depth)));
        walk(id, depth + 1);
      }
      if (shown.length < ids.length) {
        const done = ids.filter((id) => this.#actions.get(id)!.phase === "succeeded").length;
        out.push(`${"  ".repeat(depth)}… ${ids.length} actions (${done} succeeded)`);
      }
    };
    walk(null, 0);
    return out;
  }

  #clear(): void {
    if (!this.#tty || this.#drawn === 0) return;
    this.#io.stdout.write(`\x1b[${this.#drawn}A\x1b[0J`);
    this.#drawn = 0;
  }

  redraw(): void {
    if (!this.#tty) return;
    this.#clear();
    const lines = this.#lines();
    if (lines.length) this.#io.stdout.write(`${lines.join("\n")}\n`);
    this.#drawn = lines.length;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#tty) this.redraw();
    else this.#summary();
  }
}
