/**
 * Following a run started by `flyte run` or `flyte recover`: the live action tree while it runs, then its
 * outputs, or a one-paragraph account of what failed, and the exit code that goes with it.
 */
import type { ActionDetails, Run } from "../index.ts";
import type { CliIo } from "./context.ts";
import { EXIT } from "./errors.ts";
import { ActionTree, errorLine } from "./render/action-tree.ts";
import { color, formatDuration, formatValue, toJson } from "./render/format.ts";
import { onStdoutClosed } from "./stdio.ts";
import { getRuntime } from "../run/runtime.ts";

/** Waits for a run while rendering it, then prints outputs or the error; returns the exit code. */
export async function followRun(r: Run, io: CliIo, o: { quiet?: boolean; json?: boolean } = {}): Promise<number> {
  const tty = io.stdout.isTTY && !o.quiet;
  const tree = new ActionTree(tty, io);
  const watch = r.watch({ onAction: (u) => tree.update(u), onLog: (l) => tree.log(l.label, l.message, l.stream) });
  const t0 = Date.now();
  const onSigint = () => {
    void r.abort("interrupted (Ctrl-C)");
  };
  process.once("SIGINT", onSigint);
  // The reader of a piped stdout went away (`| head`): stop the run as Ctrl-C would, rather than leave it running unseen.
  const offClosed = onStdoutClosed(() => void r.abort("the reader of the CLI's output exited (closed pipe)"));
  // A remote run executes on the workers: its lines come from the store (the watch sees only this process).
  const streamed = r.mode === "remote" ? streamLogs(r, tree) : undefined;
  // Its actions' phases too: the tree is read from the store (see watchStoredTree).
  const stored = r.mode === "remote" ? watchStoredTree(r, tree) : undefined;
  try {
    const phase = await r.wait();
    // The stream ends with the run, once it has printed the last lines recorded.
    await streamed;
    await stored?.close();
    await watch.close();
    tree.stop();
    const took = formatDuration(Date.now() - t0);
    const d = await r.details();
    const count = countLine(d.root);
    if (phase === "succeeded") {
      const out = await r.outputs();
      if (o.json) io.stdout.write(`${toJson({ run: r.name, phase, outputs: out })}\n`);
      else io.stdout.write(`${color(tty, "green", "✔")} Run ${r.name} succeeded in ${took}; ${count}\nOutputs: ${formatValue(out)}\n`);
      return EXIT.ok;
    }
    const failed = findFailed(d.root) ?? d.root;
    const err = d.error ?? failed.error;
    io.stderr.write(
      `${color(tty, "red", "✖")} Run ${r.name} ${phase} after ${took}; ${count}. ` +
        `Action ${failed.name} (${failed.taskName}) ${failed.phase}` +
        `${failed.attempts.length ? ` after ${failed.attempts.length} attempt${failed.attempts.length > 1 ? "s" : ""}` : ""}: ` +
        `${sentence(err ? errorLine(err) : "no error recorded")} ` +
        `Logs: flyte get logs ${r.name} ${failed.name}; details: flyte get run ${r.name}; retry from here: flyte recover ${r.name}\n`,
    );
    return err?.kind === "system" ? EXIT.system : EXIT.user;
  } finally {
    offClosed();
    process.off("SIGINT", onSigint);
    await stored?.close();
    await watch.close();
  }
}

/**
 * The live tree of a run that executes elsewhere (a remote run: on the workers): its actions are read from the
 * store when one of them ends (the queue's notification) and every second otherwise (a start is not notified),
 * and every change of phase or attempt is passed to the tree, as a local run's events are. A wide run is read
 * less often: the pause is at least five times what the last read took.
 */
function watchStoredTree(r: Run, tree: ActionTree): { close(): Promise<void> } {
  const seen = new Map<string, string>();
  let closed = false;
  let wake: (() => void) | undefined;
  const read = async (): Promise<void> => {
    const d = await r.details();
    const walk = (a: ActionDetails, parent: string | null): void => {
      const attempt = Math.max(0, a.attempts.length - 1);
      const key = `${a.phase}:${attempt}:${a.startedAt?.getTime() ?? ""}`;
      if (seen.get(a.name) !== key) {
        seen.set(a.name, key);
        const previous = attempt > 0 && !["succeeded", "failed", "timed_out", "aborted"].includes(a.phase) ? a.attempts[attempt - 1]?.error : undefined;
        tree.update({
          run: r.name, action: a.name, parent, shortName: a.shortName, taskName: a.taskName, group: a.group ?? null, phase: a.phase, attempt,
          cacheHit: a.cacheHit, recovered: a.recovered, startedAt: a.startedAt?.getTime() ?? null, endedAt: a.endedAt?.getTime() ?? null,
          ...(a.error ? { error: a.error } : {}), ...(previous ? { previousAttemptError: previous } : {}),
        });
      }
      for (const c of a.children) walk(c, a.name);
    };
    walk(d.root, null);
  };
  const { queue, config } = getRuntime();
  // Keys are <project>/<domain>/<run>[/<action>]; a run whose name merely starts with this one's costs a read.
  const unsubscribe = queue?.onDone(`${config.project}/${config.domain}/${r.name}`, () => wake?.()).catch(() => undefined);
  const loop = (async () => {
    while (!closed) {
      const t0 = Date.now();
      // A failed read (the database restarting): the next one may do; the run's outcome is what follows.
      await read().catch(() => undefined);
      const pause = Math.max(1_000, (Date.now() - t0) * 5);
      await new Promise<void>((res) => {
        const t = setTimeout(res, pause);
        // An action ended: read again soon (not at once: a fan-out's children end in bursts).
        wake = () => {
          clearTimeout(t);
          setTimeout(res, Math.max(0, Math.min(pause, 200 - (Date.now() - t0))));
          wake = undefined;
        };
      });
      wake = undefined;
    }
  })();
  return {
    async close() {
      if (closed) return;
      closed = true;
      wake?.();
      await loop;
      (await unsubscribe)?.();
      // The run has ended: its final phases, for the tree's last drawing.
      await read().catch(() => undefined);
    },
  };
}

/** Prints a remote run's console lines as workers record them, until the run ends. */
async function streamLogs(r: Run, tree: ActionTree): Promise<void> {
  try {
    for await (const l of r.logs({ follow: true })) tree.log(l.action, l.message, l.stream);
  } catch {
    // The lines are also kept in the store (flyte get logs); the run's outcome is what follows.
  }
}

/** "41 actions (40 succeeded, 1 failed)": every action of the run, the root included. */
function countLine(root: ActionDetails): string {
  const phases = new Map<string, number>();
  let total = 0;
  const walk = (a: ActionDetails): void => {
    total++;
    phases.set(a.phase, (phases.get(a.phase) ?? 0) + 1);
    a.children.forEach(walk);
  };
  walk(root);
  return `${total} action${total === 1 ? "" : "s"} (${[...phases].map(([p, n]) => `${n} ${p}`).join(", ")})`;
}

/** Ends a message with exactly one period (error messages usually bring their own). */
const sentence = (text: string): string => (/[.!?]$/.test(text.trimEnd()) ? text.trimEnd() : `${text.trimEnd()}.`);

function findFailed(a: ActionDetails): ActionDetails | undefined {
  for (const c of a.children) {
    const f = findFailed(c);
    if (f) return f;
  }
  return a.phase === "failed" || a.phase === "timed_out" ? a : undefined;
}
