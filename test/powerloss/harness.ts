/**
 * The power-loss harness (`npm run powerloss`, and a short variant in `npm test`). The state dir of a real
 * `flyte run` is a mount of lazyfs.py, a FUSE filesystem that keeps every unsynced write in its own memory, so
 * "cutting the power" (SIGKILL the flyte process, then SIGUSR1 the filesystem) loses exactly what a page cache
 * would lose: everything that was written but not fsync'd. The fan-out fixture (test/fixtures/powerloss.ts) has its
 * parent append every child result it sees to a side file outside the mount, fsync'd before it goes on. After the
 * cut the surviving backing dir is opened with the real CLI: an action the parent had seen succeed but the store
 * no longer records as succeeded is LOST. `flyte recover` must then complete on what survived (or report a damaged
 * store in one line, never crash).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { random } from "../helpers/chaos.ts";
import { FLYTE_BIN, REPO } from "../helpers/runtime.ts";

export const LAZYFS = join(REPO, "test/powerloss/lazyfs.py");
export const POWERLOSS_FIXTURE = join(REPO, "test/fixtures/powerloss.ts");
/** Debian's python3-fusepy installs for the system interpreter, not for a pyenv `python3` on PATH. */
export const PYTHON = "/usr/bin/python3";

export type Durability = "full" | "process";

/** Why lazyfs cannot run here (the test is skipped with this reason), or undefined when it can. */
export function lazyFsUnavailable(): string | undefined {
  if (process.platform !== "linux") return `FUSE power-loss test needs Linux (this is ${process.platform})`;
  if (!existsSync("/dev/fuse")) return "/dev/fuse is missing (no FUSE in this kernel or container)";
  // libfuse 2 (which fusepy binds) opens /dev/fuse itself before it falls back to the setuid fusermount.
  if (process.getuid?.() !== 0) {
    try {
      accessSync("/dev/fuse", constants.R_OK | constants.W_OK);
    } catch {
      return "/dev/fuse is not readable and writable by this user (libfuse 2 opens it before calling fusermount; it is usually mode 0666)";
    }
  }
  if (!existsSync(PYTHON)) return `${PYTHON} is missing (apt-get install python3-fusepy fuse3)`;
  const py = spawnSync(PYTHON, ["-c", "import fusepy"], { encoding: "utf8", timeout: 10_000 });
  if (py.status !== 0) return `python3-fusepy is not installed for ${PYTHON} (apt-get install python3-fusepy fuse3): ${py.stderr.trim().split("\n").pop()}`;
  const fm = spawnSync("sh", ["-c", "command -v fusermount3 || command -v fusermount"], { encoding: "utf8" });
  if (fm.status !== 0) return "fusermount3 is missing (apt-get install fuse3)";
  return undefined;
}

/** Whether `path` is a mount point now (per /proc/self/mounts; our temp paths have no spaces to escape). */
export function isMounted(path: string): boolean {
  return readFileSync("/proc/self/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === path);
}

/** Lazily unmounts `path` if it is mounted; never throws. */
export function forceUnmount(path: string): void {
  for (const cmd of [["fusermount3", "-u", "-z", path], ["fusermount", "-u", "-z", path], ["umount", "-l", path]]) {
    if (!isMounted(path)) return;
    spawnSync(cmd[0]!, cmd.slice(1), { stdio: "ignore", timeout: 10_000 });
  }
}

export interface CutReport {
  droppedBytes: number;
  droppedFiles: number;
  largest: Record<string, number>;
}

interface FsEvent {
  event: string;
  [k: string]: unknown;
}

/** A mounted lazyfs. `cut()` or `stop()` ends it; `dispose()` (call it in `finally`) makes sure it is gone. */
export class LazyMount {
  readonly #proc: ChildProcess;
  readonly #events: FsEvent[] = [];
  readonly #waiters: (() => void)[] = [];
  #exited = false;
  stderr = "";

  private constructor(readonly backing: string, readonly mountpoint: string) {
    this.#proc = spawn(PYTHON, [LAZYFS, backing, mountpoint], { stdio: ["ignore", "pipe", "pipe"] });
    createInterface({ input: this.#proc.stdout! }).on("line", (l) => {
      try {
        this.#events.push(JSON.parse(l) as FsEvent);
      } catch {
        this.stderr += `${l}\n`;
      }
      this.#wake();
    });
    this.#proc.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.#proc.on("exit", () => {
      this.#exited = true;
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  async #until<T>(what: string, timeoutMs: number, found: () => T | undefined): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = found();
      if (v !== undefined) return v;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`lazyfs: timed out after ${timeoutMs} ms waiting for ${what}. stderr: ${this.stderr.trim().slice(-500)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  static async mount(backing: string, mountpoint: string, timeoutMs = 15_000): Promise<LazyMount> {
    mkdirSync(backing, { recursive: true });
    mkdirSync(mountpoint, { recursive: true });
    // /proc/self/mounts lists the resolved path.
    const m = new LazyMount(realpathSync(backing), realpathSync(mountpoint));
    try {
      await m.#until("the mount", timeoutMs, () => {
        if (m.#events.some((e) => e.event === "ready") && isMounted(m.mountpoint)) return true;
        if (m.#exited) throw new Error(`lazyfs could not mount ${mountpoint}: ${m.stderr.trim().split("\n").slice(-3).join(" | ") || "it exited"}`);
        return undefined;
      });
    } catch (e) {
      await m.dispose();
      throw e;
    }
    return m;
  }

  /** Power cut: every unsynced write is dropped, the filesystem unmounts itself and exits. */
  async cut(timeoutMs = 15_000): Promise<CutReport> {
    this.#proc.kill("SIGUSR1");
    const ev = await this.#until("the cut", timeoutMs, () => this.#events.find((e) => e.event === "cut"));
    await this.#until("lazyfs to exit after the cut", timeoutMs, () => (this.#exited ? true : undefined));
    forceUnmount(this.mountpoint);
    return { droppedBytes: Number(ev.droppedBytes), droppedFiles: Number(ev.droppedFiles), largest: ev.largest as Record<string, number> };
  }

  /** Clean shutdown: unsynced writes are written back (as at an orderly OS shutdown), then it unmounts. */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.#proc.kill("SIGTERM");
    await this.#until("lazyfs to stop", timeoutMs, () => (this.#exited ? true : undefined));
    forceUnmount(this.mountpoint);
  }

  /** Kills the filesystem if it still runs and lazily unmounts; safe to call more than once. */
  async dispose(): Promise<void> {
    if (!this.#exited) {
      this.#proc.kill("SIGKILL");
      await this.#until("lazyfs to die", 10_000, () => (this.#exited ? true : undefined)).catch(() => undefined);
    }
    forceUnmount(this.mountpoint);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Self-checks: the filesystem really loses unsynced data, so the harness can catch a durability bug.

/** Writes two files through a mount (one fsync'd, one not), cuts, and returns what the backing dir kept. */
export async function fileCutCheck(): Promise<{ synced: string; unsynced: string; cut: CutReport }> {
  const root = mkdtempSync(join(tmpdir(), "flyte-lazyfs-"));
  const m = await LazyMount.mount(join(root, "backing"), join(root, "mnt"));
  try {
    // A child process writes, so the test process never holds a file open on the mount.
    const script = `
      const fs = require("node:fs");
      const a = fs.openSync(process.argv[1] + "/synced", "w"); fs.writeSync(a, "kept"); fs.fsyncSync(a); fs.writeSync(a, " and lost"); fs.closeSync(a);
      const b = fs.openSync(process.argv[1] + "/unsynced", "w"); fs.writeSync(b, "lost"); fs.closeSync(b);
      if (fs.readFileSync(process.argv[1] + "/synced", "utf8") !== "kept and lost") process.exit(3);`;
    const w = spawnSync(process.execPath, ["-e", script, m.mountpoint], { encoding: "utf8", timeout: 20_000 });
    if (w.status !== 0) throw new Error(`writer failed (${w.status}): ${w.stderr}`);
    const cut = await m.cut();
    const read = (f: string) => readFileSync(join(m.backing, f), "utf8");
    return { synced: read("synced"), unsynced: read("unsynced"), cut };
  } finally {
    await m.dispose();
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Commits `commits` single-row transactions in WAL mode with `PRAGMA synchronous = <sync>` through a mount,
 * keeps the connection open (no checkpoint at close), SIGKILLs the writer, cuts, and counts the rows the backing
 * file kept (and SQLite's integrity check of it: a cut may lose commits, never corrupt the database).
 */
export async function sqliteCutCheck(sync: "OFF" | "NORMAL" | "FULL", commits = 50): Promise<{ committed: number; survived: number; integrity: string }> {
  const root = mkdtempSync(join(tmpdir(), "flyte-lazyfs-sqlite-"));
  const m = await LazyMount.mount(join(root, "backing"), join(root, "mnt"));
  let writer: ChildProcess | undefined;
  try {
    // The table exists and is checkpointed before the mount is cut, as in a store that has been used before.
    const script = `
      const Database = require(${JSON.stringify(join(REPO, "node_modules/better-sqlite3"))});
      const db = new Database(process.argv[1] + "/t.db");
      db.pragma("journal_mode = WAL"); db.pragma("synchronous = FULL");
      db.exec("CREATE TABLE t (i INTEGER)"); db.pragma("wal_checkpoint(TRUNCATE)");
      db.pragma("synchronous = ${sync}");
      const ins = db.prepare("INSERT INTO t VALUES (?)");
      for (let i = 0; i < ${commits}; i++) ins.run(i);
      process.stdout.write("committed\\n");
      setInterval(() => {}, 1000);`;
    writer = spawn(process.execPath, ["-e", script, m.mountpoint], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    writer.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    writer.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const end = Date.now() + 20_000;
    while (!out.includes("committed")) {
      if (writer.exitCode !== null || Date.now() > end) throw new Error(`sqlite writer failed: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await killAndWait(writer);
    await m.cut();
    const count = `
      const Database = require(${JSON.stringify(join(REPO, "node_modules/better-sqlite3"))});
      const db = new Database(process.argv[1] + "/t.db");
      process.stdout.write(JSON.stringify({ n: db.prepare("SELECT count(*) AS n FROM t").get().n, integrity: db.pragma("integrity_check", { simple: true }) }));`;
    const r = spawnSync(process.execPath, ["-e", count, m.backing], { encoding: "utf8", timeout: 20_000 });
    if (r.status !== 0) throw new Error(`reading the surviving database failed: ${r.stderr}`);
    const got = JSON.parse(r.stdout) as { n: number; integrity: string };
    return { committed: commits, survived: got.n, integrity: got.integrity };
  } finally {
    if (writer && writer.exitCode === null && writer.signalCode === null) writer.kill("SIGKILL");
    await m.dispose();
    rmSync(root, { recursive: true, force: true });
  }
}

function killAndWait(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once("exit", () => resolve());
    p.kill("SIGKILL");
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Rounds: a real fan-out run, cut mid-way.

export interface RoundOptions {
  durability: Durability;
  /** Children of the fan-out. */
  n: number;
  /** The power is cut once the parent has observed this many children (or when the run ends, if sooner). */
  cutAtObserved: number;
  maxActionConcurrency: number;
  /**
   * "power" (the default) drops every unsynced write; "process" only kills the flyte process and then writes
   * everything back, as an OS that stays up does: a process crash, the control experiment.
   */
  crash?: "power" | "process";
  log?: (line: string) => void;
}

export interface RoundResult {
  durability: Durability;
  crash: "power" | "process";
  run: string;
  cutAtObserved: number;
  /** The run had finished (and closed its store cleanly) before the cut. */
  finishedBeforeCut: boolean;
  /** Children the parent had seen succeed (from the side file). */
  observed: number;
  /** Observed children the surviving store does not record as succeeded (with the phase it does record). */
  lost: string[];
  /** Whether the CLI could open the surviving store (`flyte get action`), and if not, what it said. */
  reopenOk: boolean;
  reopenError?: string;
  /** The run itself was still in the store. */
  runFound: boolean;
  /** The last observed offloaded output still recorded: could its blob be read back (`flyte get io`)? */
  blobChecked: boolean;
  blobOk: boolean;
  /** Why it could not be read back. */
  blobError?: string;
  /**
   * `flyte recover`: "succeeded" (right output), "reported" (it could not recover, and said why: exit 1 or 3, no
   * stack trace; e.g. the run did not survive, or a value it reuses was damaged), or "failed" (a crash, a wrong
   * output, a hang: recorded in `problems`).
   */
  recover: "succeeded" | "reported" | "failed";
  recoverMessage?: string;
  /** Harness-level failures: a crash (stack trace) of the CLI on the surviving store, a mount left behind, ... */
  problems: string[];
  cut: CutReport;
}

interface Cli {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(cwd: string, config: string, args: string[], durability: Durability, timeoutMs = 60_000): Cli {
  const r = spawnSync(process.execPath, [FLYTE_BIN, ...args], {
    cwd, encoding: "utf8", timeout: timeoutMs, maxBuffer: 512 * 1024 * 1024, env: { ...process.env, FLYTE_CONFIG: config, FLYTE_DURABILITY: durability },
  });
  if (r.error) throw new Error(`flyte ${args.join(" ")}: ${r.error.message}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const hasStack = (s: string) => /^\s+at .+:\d+:\d+\)?$/m.test(s);

interface ActionNode {
  name: string;
  phase: string;
  children: ActionNode[];
}

function phases(root: ActionNode): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (a: ActionNode) => {
    out.set(a.name, a.phase);
    a.children.forEach(walk);
  };
  walk(root);
  return out;
}

/** A store created (schema and all) and closed cleanly, to start each round from, as a project that has been used. */
export function templateStore(dir: string): string {
  const stateDir = join(dir, "template");
  const config = join(dir, "template.yaml");
  writeFileSync(config, `store:\n  stateDir: ${stateDir}\n`);
  mkdirSync(join(dir, "template-project"), { recursive: true });
  const r = cli(join(dir, "template-project"), config, ["get", "runs"], "full");
  if (r.code !== 0) throw new Error(`creating the template store failed: ${r.stderr}`);
  return stateDir;
}

export async function powerLossRound(round: number, template: string, o: RoundOptions): Promise<RoundResult> {
  const root = mkdtempSync(join(tmpdir(), "flyte-powerloss-"));
  const backing = join(root, "backing");
  const project = join(root, "project");
  const observedFile = join(root, "observed");
  const runConfig = join(root, "run.yaml");
  const checkConfig = join(root, "check.yaml");
  const mnt = join(root, "state");
  mkdirSync(project);
  mkdirSync(backing);
  for (const f of ["flyte.db", "flyte.db-wal"]) if (existsSync(join(template, f))) writeFileSync(join(backing, f), readFileSync(join(template, f)));
  writeFileSync(runConfig, `store:\n  stateDir: ${mnt}\n`);
  writeFileSync(checkConfig, `store:\n  stateDir: ${backing}\n`);
  const run = `p${round}${o.durability[0]}`;
  const problems: string[] = [];
  let keep = false;
  const m = await LazyMount.mount(backing, mnt);
  let flyte: ChildProcess | undefined;
  try {
    flyte = spawn(process.execPath, [FLYTE_BIN, "run", POWERLOSS_FIXTURE, "fanout", "--n", String(o.n), "--observed", observedFile,
      "--name", run, "--max-action-concurrency", String(o.maxActionConcurrency), "-q"], {
      cwd: project, env: { ...process.env, FLYTE_CONFIG: runConfig, FLYTE_DURABILITY: o.durability }, stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    flyte.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    flyte.stdout!.resume();
    const seen = () => (existsSync(observedFile) ? readFileSync(observedFile, "utf8").split("\n").filter(Boolean).length : 0);
    const end = Date.now() + 60_000;
    while (seen() < o.cutAtObserved && flyte.exitCode === null && flyte.signalCode === null) {
      if (Date.now() > end) throw new Error(`round ${round}: the run did not reach ${o.cutAtObserved} observed children in 60 s: ${stderr.slice(-500)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const finishedBeforeCut = flyte.exitCode !== null || flyte.signalCode !== null;
    if (finishedBeforeCut && flyte.exitCode !== 0) problems.push(`the run exited ${flyte.exitCode} before the cut: ${stderr.trim().slice(-300)}`);
    // Power cut: the process dies first (nothing it does later can be observed), then the unsynced writes go.
    await killAndWait(flyte);
    const crash = o.crash ?? "power";
    const cut = crash === "power" ? await m.cut() : (await m.stop(), { droppedBytes: 0, droppedFiles: 0, largest: {} });
    if (isMounted(m.mountpoint)) problems.push(`${mnt} is still mounted after the cut`);

    const observed = readFileSync(observedFile, "utf8").split("\n").filter(Boolean).map((l) => {
      const [action, i, kind] = l.split(" ");
      return { action: action!, i: Number(i), kind: kind! };
    });
    const got = cli(project, checkConfig, ["--output-format", "json", "get", "action", run], o.durability);
    let reopenOk = false;
    let reopenError: string | undefined;
    let runFound = false;
    let recorded = new Map<string, string>();
    if (got.code === 0) {
      reopenOk = runFound = true;
      recorded = phases(JSON.parse(got.stdout) as ActionNode);
    } else if (got.stderr.includes("RunNotFoundError")) {
      reopenOk = true; // the store opened; the run itself did not survive
    } else {
      reopenError = got.stderr.trim().split("\n")[0]!.slice(0, 400);
      if (hasStack(got.stderr)) problems.push(`flyte get action crashed on the surviving store: ${got.stderr.slice(0, 500)}`);
    }
    const lost = observed.filter((x) => recorded.get(x.action) !== "succeeded").map((x) => `${x.action} (${x.kind} ${x.i}: ${recorded.get(x.action) ?? "missing"})`);

    let blobChecked = false;
    let blobOk = false;
    let blobError: string | undefined;
    const lastBlob = [...observed].reverse().find((x) => x.kind === "offloaded" && recorded.get(x.action) === "succeeded");
    if (lastBlob) {
      blobChecked = true;
      const io = cli(project, checkConfig, ["get", "io", run, lastBlob.action], o.durability);
      try {
        const out = (JSON.parse(io.stdout) as { outputs?: { i?: number; pad?: string } }).outputs;
        blobOk = io.code === 0 && out?.i === lastBlob.i && out.pad?.length === 1024;
      } catch {
        blobOk = false;
      }
      if (!blobOk) blobError = `${lastBlob.action}: ${(io.stderr || io.stdout).trim().split("\n")[0]!.slice(0, 300)}`;
      if (hasStack(io.stderr)) problems.push(`flyte get io crashed on the surviving store: ${io.stderr.slice(0, 500)}`);
    }

    // Recovery works on what survived: the run is recovered to the right output, or the CLI reports why it
    // cannot be (the run did not survive, a value it needs was damaged) and exits 1 or 3, without crashing.
    const r = cli(project, checkConfig, ["recover", run, "--name", `${run}r`, "-q"], o.durability, 90_000);
    const expected = (o.n * (o.n - 1)) / 2;
    const said = (r.stderr + r.stdout).trim().split("\n");
    let recover: RoundResult["recover"];
    let recoverMessage: string | undefined;
    if (r.code === 0 && r.stdout.includes(`Outputs: ${expected}`)) recover = "succeeded";
    else if ((r.code === 1 || r.code === 3) && !hasStack(r.stderr + r.stdout)) {
      recover = "reported";
      recoverMessage = (said.find((l) => /^✖ Run |Error\b/.test(l)) ?? said[said.length - 1]!).slice(0, 400);
    } else {
      recover = "failed";
      problems.push(`flyte recover ${run} exited ${r.code}: ${said.slice(-4).join(" | ")}`);
    }
    const result: RoundResult = {
      durability: o.durability, crash, run, cutAtObserved: o.cutAtObserved, finishedBeforeCut, observed: observed.length, lost, reopenOk, ...(reopenError ? { reopenError } : {}), runFound,
      blobChecked, blobOk, ...(blobError ? { blobError } : {}), recover, ...(recoverMessage ? { recoverMessage } : {}), problems, cut,
    };
    const what = crash === "power"
      ? `cut at ${observed.length}/${o.n} observed${finishedBeforeCut ? " (run had finished)" : ""}, ${cut.droppedBytes} unsynced bytes in ${cut.droppedFiles} files dropped`
      : `process killed at ${observed.length}/${o.n} observed${finishedBeforeCut ? " (run had finished)" : ""}, all writes kept`;
    o.log?.(`round ${round} (${o.durability}): ${what}; lost ${lost.length}; store reopens: ${reopenOk}` +
      `${reopenError ? ` (${reopenError.slice(0, 200)})` : ""}` +
      `${runFound ? "" : " (run missing)"}; blob read back: ${blobChecked ? blobOk : "n/a"}${blobError ? ` (${blobError.slice(0, 160)})` : ""}; ` +
      `recover: ${recover}${recoverMessage ? ` (${recoverMessage.slice(0, 200)})` : ""}`);
    keep = problems.length > 0;
    return result;
  } catch (e) {
    keep = true;
    throw e;
  } finally {
    if (flyte) await killAndWait(flyte);
    await m.dispose();
    if (keep) o.log?.(`round ${round}: state kept in ${root}`);
    else rmSync(root, { recursive: true, force: true });
  }
}

export interface LevelFigures {
  durability: Durability;
  crash: "power" | "process";
  rounds: number;
  observed: number;
  lost: number;
  reopenOk: number;
  /** Rounds whose run was recovered to the right output. */
  recovered: number;
  /** Rounds where `flyte recover` could not recover and said why (see RoundResult.recover). */
  recoverReported: number;
  blobsChecked: number;
  blobsOk: number;
  finishedBeforeCut: number;
  problems: string[];
}

export interface PowerLossOptions {
  levels: Durability[];
  rounds: number;
  seed: number;
  n: number;
  maxActionConcurrency: number;
  /** See RoundOptions.crash. */
  crash?: "power" | "process";
  log?: (line: string) => void;
}

/** `rounds` cuts per level at seeded random points of the fan-out; figures per level. */
export async function runPowerLoss(o: PowerLossOptions): Promise<{ figures: LevelFigures[]; results: RoundResult[] }> {
  const dir = mkdtempSync(join(tmpdir(), "flyte-powerloss-template-"));
  try {
    const template = templateStore(dir);
    const results: RoundResult[] = [];
    const figures: LevelFigures[] = [];
    for (const durability of o.levels) {
      const rnd = random(o.seed);
      const mine: RoundResult[] = [];
      for (let round = 1; round <= o.rounds; round++) {
        // Anywhere from the first observed child to the last but one.
        const cutAtObserved = 1 + Math.floor(rnd() * (o.n - 1));
        mine.push(await powerLossRound(round, template, {
          durability, n: o.n, cutAtObserved, maxActionConcurrency: o.maxActionConcurrency, ...(o.crash ? { crash: o.crash } : {}), ...(o.log ? { log: o.log } : {}),
        }));
      }
      results.push(...mine);
      figures.push({
        durability,
        crash: o.crash ?? "power",
        rounds: mine.length,
        observed: mine.reduce((a, r) => a + r.observed, 0),
        lost: mine.reduce((a, r) => a + r.lost.length, 0),
        reopenOk: mine.filter((r) => r.reopenOk).length,
        recovered: mine.filter((r) => r.recover === "succeeded").length,
        recoverReported: mine.filter((r) => r.recover === "reported").length,
        blobsChecked: mine.filter((r) => r.blobChecked).length,
        blobsOk: mine.filter((r) => r.blobOk).length,
        finishedBeforeCut: mine.filter((r) => r.finishedBeforeCut).length,
        problems: mine.flatMap((r) => r.problems.map((p) => `${r.run}: ${p}`)),
      });
    }
    return { figures, results };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The figures as a table, one row per durability level. */
export function formatTable(figures: LevelFigures[]): string {
  const rows = [["level", "crash", "rounds", "observed", "lost", "store reopen ok", "recovered", "recover refused (reported)", "blob read back", "finished before cut"]];
  for (const f of figures) {
    rows.push([f.durability, f.crash, String(f.rounds), String(f.observed), String(f.lost), `${f.reopenOk}/${f.rounds}`, String(f.recovered), String(f.recoverReported),
      `${f.blobsOk}/${f.blobsChecked}`, String(f.finishedBeforeCut)]);
  }
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((x, c) => x.padEnd(w[c]!)).join("  ").trimEnd()).join("\n");
}
