/**
 * The CLI's end of its output pipes. A pipe that is full (`| jq` reading slowly) holds writes in Node's
 * buffer, so exiting must wait for stdout/stderr to drain or piped output is cut at 64–128 KiB. A pipe whose
 * reader has gone (`| head`) fails writes with EPIPE: that is the reader saying it has enough, so the CLI
 * stops quietly instead of printing a stack trace.
 */

const closedListeners = new Set<() => void>();
let closed = false;
let exitCode = 0;

/** True once stdout's reader has gone; output written after that is dropped. */
export function stdoutClosed(): boolean {
  return closed;
}

/**
 * Registers what to do when stdout's reader goes away (e.g. abort the run being followed); returns the
 * unregister function. Without a listener the process exits at once.
 */
export function onStdoutClosed(listener: () => void): () => void {
  closedListeners.add(listener);
  return () => closedListeners.delete(listener);
}

/** Installs the EPIPE handling on stdout and stderr (once, at CLI start). */
export function guardPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code !== "EPIPE" && e.code !== "ERR_STREAM_DESTROYED") throw e;
      if (stream !== process.stdout || closed) return;
      closed = true;
      if (closedListeners.size === 0) process.exit(exitCode);
      for (const l of closedListeners) l();
    });
  }
}

/** Resolves once everything written so far to `stream` has been handed to the OS (or the pipe broke). */
function drain(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || !stream.writable || (stream === process.stdout && closed)) return Promise.resolve();
  return new Promise((resolve) => {
    // The callback of an empty write runs after every earlier write of the stream has been flushed.
    stream.write("", () => resolve());
  });
}

/** Exits with `code` after stdout and stderr have drained. */
export async function exitAfterFlush(code: number): Promise<never> {
  exitCode = code;
  await Promise.all([drain(process.stdout), drain(process.stderr)]);
  process.exit(code);
}
