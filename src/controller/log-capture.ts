/**
 * Captures what each attempt writes to `console.*`/stdout/stderr. `process.stdout.write` and
 * `process.stderr.write` are wrapped once; a write made inside an attempt (found through the async
 * frame, so it follows awaits and timers) goes to that attempt's sink, line by line.
 * Whether the text also reaches the terminal is decided by the echo hook (internal/terminal-output.ts).
 */
import { currentFrame } from "../internal/async-frame.ts";
import { format } from "node:util";
import { echoLine, setRawWriter } from "../internal/terminal-output.ts";

declare module "../internal/async-frame.js" {
  interface AsyncFrame {
    readonly sink?: LogSink | undefined;
  }
}

export interface LogSink {
  /** One complete line (without the newline). */
  line(stream: "stdout" | "stderr", message: string): void;
  /** Label shown when echoing, e.g. the action's short name. */
  readonly label: string;
  /** Applied to a line before it is echoed (hides secret values). */
  redact?(line: string): string;
}

const KEY = Symbol.for("flyte-ts.log-capture");
interface CaptureState {
  installed: boolean;
  partial: WeakMap<LogSink, { stdout: string; stderr: string }>;
}
const holder = globalThis as unknown as { [KEY]?: CaptureState };
const state: CaptureState = (holder[KEY] ??= { installed: false, partial: new WeakMap() });

/** Wraps console and process.stdout/stderr once, so writes inside an attempt reach its sink. */
export function installLogCapture(): void {
  if (state.installed) return;
  state.installed = true;
  // Test runners (vitest) replace console with versions that bypass process.stdout, so console is routed too.
  const methods = { log: "stdout", info: "stdout", debug: "stdout", warn: "stderr", error: "stderr", trace: "stderr" } as const;
  for (const [method, stream] of Object.entries(methods) as [keyof typeof methods, "stdout" | "stderr"][]) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      const sink = currentFrame()?.sink;
      if (!sink) return original(...args);
      writeToSink(sink, stream, `${format(...args)}\n`);
    };
  }
  for (const stream of ["stdout", "stderr"] as const) {
    const target = process[stream];
    const original = target.write.bind(target) as (chunk: unknown, ...rest: unknown[]) => boolean;
    setRawWriter(stream, (s) => void original(s));
    target.write = function (chunk: unknown, ...rest: unknown[]): boolean {
      const sink = currentFrame()?.sink;
      if (!sink) return original(chunk, ...rest);
      writeToSink(sink, stream, typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"));
      const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      cb?.();
      return true;
    } as typeof target.write;
  }
}

export function writeToSink(sink: LogSink, stream: "stdout" | "stderr", text: string): void {
  const buf = state.partial.get(sink) ?? { stdout: "", stderr: "" };
  state.partial.set(sink, buf);
  const lines = (buf[stream] + text).split("\n");
  buf[stream] = lines.pop()!;
  for (const line of lines) {
    sink.line(stream, line);
    echoLine(stream, sink.label, sink.redact ? sink.redact(line) : line);
  }
}

/** Emits any unterminated last line of the sink. */
export function flushLogSink(sink: LogSink): void {
  const buf = state.partial.get(sink);
  if (!buf) return;
  for (const stream of ["stdout", "stderr"] as const) {
    if (buf[stream]) {
      sink.line(stream, buf[stream]);
      echoLine(stream, sink.label, sink.redact ? sink.redact(buf[stream]) : buf[stream]);
      buf[stream] = "";
    }
  }
}
