/**
 * WAL checkpoints off the hot path. SQLite's automatic checkpoint runs inside the commit that pushes the WAL
 * past `wal_autocheckpoint` pages: it copies the WAL into the database file and fsyncs both, on the thread
 * that committed. For the embedded store that thread is the event loop, and the commit that pays is whichever
 * commit crossed the line: with a commit before every parent resumes, one sequential child call in ~280 waited
 * 5-18 ms for it (issue #20, measured with bench/tail-probe.ts).
 *
 * Instead, the store's own connection checkpoints only as a backstop (`BACKSTOP_PAGES`, far above the default
 * 1,000), and a worker thread with a second connection to the same file runs PASSIVE checkpoints: after
 * commits happened, at most once every `intervalMs`. PASSIVE never waits for (or blocks) the writer or
 * readers, so the main thread goes on committing while the worker copies and fsyncs. The WAL starts over from
 * its beginning at the first commit after a checkpoint that copied everything, i.e. whenever the writer pauses
 * for as long as a checkpoint takes. A writer that never pauses (thousands of commits a second) keeps the WAL
 * growing until the backstop: that commit then checkpoints only what the worker has not copied yet (25 ms of
 * commits at most, ~3-4 ms measured instead of 5-18 ms per 1,000 pages) and the WAL starts over, so it never
 * exceeds about `BACKSTOP_PAGES` pages. Crash safety is SQLite's: a checkpoint from another connection is the
 * same operation as an automatic one, and an interrupted checkpoint is redone from the WAL on the next open.
 *
 * The worker starts lazily, after `startAfterCommits` commits (a short CLI run never pays for a thread), and
 * is told about commits through a shared counter (no message per commit). Should it fail, the store's
 * connection goes back to SQLite's default automatic checkpoint.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** Where the store's own connection still checkpoints (about 40 MB of WAL): only if the worker cannot keep up. */
export const BACKSTOP_PAGES = 10_000;
/** SQLite's default `wal_autocheckpoint`, restored when the worker fails. */
const DEFAULT_AUTOCHECKPOINT = 1_000;

/** Slots of the shared counter array. */
const COMMITS = 0;
const CHECKPOINTS = 1;
const CLOSED = 2;
/** 1 while the worker is inside a checkpoint. */
const BUSY = 3;

/**
 * The worker, as CommonJS source evaluated in the thread (so it runs the same from src/ under tsx, from dist/
 * and inside test runners that transform only the main thread's modules).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const state = new Int32Array(workerData.state);
const db = new Database(workerData.file, { fileMustExist: true, timeout: 0 });
let closed = false;
let seen = 0;
function checkpoint() {
  seen = Atomics.load(state, ${COMMITS});
  Atomics.store(state, ${BUSY}, 1);
  try {
    const r = db.pragma("wal_checkpoint(PASSIVE)")[0];
    Atomics.add(state, ${CHECKPOINTS}, 1);
    parentPort.postMessage({ busy: r.busy, log: r.log, checkpointed: r.checkpointed });
  } catch (e) {
    // A full disk, say: the frames stay in the WAL (which is what makes them durable) until a later try.
    parentPort.postMessage({ busy: 1, log: -1, checkpointed: -1, error: String(e && e.message) });
  } finally {
    Atomics.store(state, ${BUSY}, 0);
  }
}
async function loop() {
  while (!closed) {
    if (Atomics.load(state, ${COMMITS}) === seen) {
      const w = Atomics.waitAsync(state, ${COMMITS}, seen);
      if (w.async) await w.value;
      continue;
    }
    if (closed) break;
    checkpoint();
    await new Promise((r) => setTimeout(r, workerData.intervalMs));
  }
}
parentPort.on("message", (m) => {
  if (m !== "close" || closed) return;
  closed = true;
  try { db.close(); } finally {
    Atomics.store(state, ${CLOSED}, 1);
    Atomics.notify(state, ${CLOSED});
    // Wakes the loop so that the thread can end.
    Atomics.add(state, ${COMMITS}, 1);
    Atomics.notify(state, ${COMMITS});
    parentPort.close();
  }
});
loop().catch((e) => { throw e; });
`;

export interface WalCheckpointerOptions {
  /** Least time between two checkpoints, in ms (default 25). */
  intervalMs?: number;
  /** Commits before the worker is started (default 16). */
  startAfterCommits?: number;
  /** Sets the store connection's `wal_autocheckpoint` (the backstop, or SQLite's default if the worker fails). */
  setAutocheckpoint: (pages: number) => void;
}

/** The last checkpoint the worker reported, as SQLite counts WAL frames. */
export interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

export class WalCheckpointer {
  readonly #file: string;
  readonly #intervalMs: number;
  readonly #startAfter: number;
  readonly #setAutocheckpoint: (pages: number) => void;
  readonly #state = new Int32Array(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT));
  #worker: Worker | undefined;
  #commits = 0;
  #failed = false;
  #closed = false;
  /** What the last checkpoint found and did (for tests and diagnostics). */
  last: CheckpointResult | undefined;

  /** @param file the database file, which the store has opened (WAL mode) before this */
  constructor(file: string, o: WalCheckpointerOptions) {
    this.#file = file;
    this.#intervalMs = o.intervalMs ?? 25;
    this.#startAfter = o.startAfterCommits ?? 16;
    this.#setAutocheckpoint = o.setAutocheckpoint;
    this.#setAutocheckpoint(BACKSTOP_PAGES);
  }

  /** Checkpoints the worker has run so far. */
  get checkpoints(): number {
    return Atomics.load(this.#state, CHECKPOINTS);
  }

  /** Whether the worker is inside a checkpoint right now. */
  get checkpointing(): boolean {
    return Atomics.load(this.#state, BUSY) === 1;
  }

  /** Whether the worker thread is running. */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** Called after each commit of the store's connection: wakes the worker (starting it after the first commits). */
  committed(): void {
    if (this.#closed || this.#failed) return;
    if (this.#worker === undefined) {
      if (++this.#commits < this.#startAfter) return;
      this.#start();
      if (this.#worker === undefined) return;
    }
    Atomics.add(this.#state, COMMITS, 1);
    Atomics.notify(this.#state, COMMITS, 1);
  }

  #start(): void {
    try {
      const driver = createRequire(import.meta.url).resolve("better-sqlite3");
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { file: this.#file, driver, state: this.#state.buffer, intervalMs: this.#intervalMs },
        // The checkpointer needs none of the parent's loaders or flags (tsx, --conditions, a test runner's).
        execArgv: [],
        env: {},
        stdout: false,
        stderr: false,
      });
      // A store left open does not keep the process alive.
      worker.unref();
      worker.on("message", (m: CheckpointResult) => (this.last = m));
      worker.on("error", () => this.#fail());
      worker.on("exit", () => {
        if (!this.#closed) this.#fail();
      });
      this.#worker = worker;
    } catch {
      this.#fail();
    }
  }

  /** The worker could not run: SQLite's automatic checkpoint on the store's connection takes over again. */
  #fail(): void {
    if (this.#failed) return;
    this.#failed = true;
    const w = this.#worker;
    this.#worker = undefined;
    void w?.terminate();
    if (!this.#closed) {
      try {
        this.#setAutocheckpoint(DEFAULT_AUTOCHECKPOINT);
      } catch {
        // The store was closed meanwhile.
      }
    }
  }

  /**
   * Closes the worker's connection before the store closes its own (the last connection to close checkpoints
   * the WAL and removes it). Waits for it synchronously, as long as a checkpoint in progress takes, up to
   * `timeoutMs`; the thread is then ended.
   */
  close(timeoutMs = 5_000): void {
    if (this.#closed) return;
    this.#closed = true;
    const w = this.#worker;
    this.#worker = undefined;
    if (!w) return;
    w.postMessage("close");
    Atomics.wait(this.#state, CLOSED, 0, timeoutMs);
    void w.terminate();
  }
}
