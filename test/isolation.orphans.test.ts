/**
 * An isolated attempt's process must not outlive the process that owns it, even when its task blocks the event
 * loop (so it never sees the IPC channel close): killed -9, the owner leaves nothing running.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { REPO, waitFor } from "./helpers/runtime.ts";
import { spawnFlyteProcess } from "./helpers/worker-processes.ts";

/** Whether `pid` is a live process (a zombie waiting for a reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

it("a spinning isolated attempt dies with its owner when the owner is killed -9", async () => {
  const dir = mkdtempSync(join(tmpdir(), "flyte-iso-orphan-"));
  const pidFile = join(dir, "pid");
  const cli = spawnFlyteProcess(dir, ["run", "--isolate", join(REPO, "test/fixtures/isolation/tasks.ts"), "spinForever"], { FLYTE_TEST_PID_FILE: pidFile });
  await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").length > 0, 60_000, `the attempt to start:\n${cli.out.join("")}`);
  const pid = Number(readFileSync(pidFile, "utf8"));
  expect(alive(pid)).toBe(true);
  cli.child.kill("SIGKILL");
  await waitFor(() => !alive(pid), 10_000, `the orphaned attempt process ${pid} to exit`);
}, 90_000);
