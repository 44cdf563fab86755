/**
 * The process's real stdout/stderr. Log capture (controller/log-capture.ts) wraps `process.stdout.write`
 * and `process.stderr.write` so that writes inside an attempt reach the attempt's log; what must reach the
 * terminal whatever the frame (the CLI's progress tree, `Run.showLogs`, error messages) goes through
 * `rawWrite`. Captured lines reach the terminal through the echo hook (the CLI prefixes them with the action).
 */
export type Stream = "stdout" | "stderr";
export type EchoHook = (stream: Stream, label: string, line: string) => void;

interface TerminalOutput {
  echo: EchoHook | null;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

// Keyed by Symbol.for so that two copies of the package in one process share the terminal (as they share capture).
const KEY = Symbol.for("flyte-ts.terminal-output");
const holder = globalThis as unknown as { [KEY]?: TerminalOutput };
const state: TerminalOutput = (holder[KEY] ??= {
  echo: (stream, _label, line) => rawWrite(stream, `${line}\n`),
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
});

/** Writes to the real stdout/stderr, bypassing capture. */
export function rawWrite(stream: Stream, s: string): void {
  state[stream](s);
}

/** Called by log capture when it wraps a stream: `write` is the stream's own, unwrapped writer. */
export function setRawWriter(stream: Stream, write: (s: string) => void): void {
  state[stream] = write;
}

/** Replaces how captured lines are echoed to the terminal (`null` = not at all). */
export function setLogEcho(hook: EchoHook | null): void {
  state.echo = hook;
}

/** Echoes one captured line through the current hook. */
export function echoLine(stream: Stream, label: string, line: string): void {
  state.echo?.(stream, label, line);
}
