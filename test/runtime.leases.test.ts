/**
 * Fenced ownership end to end: a run's owner that stalls past its lease (a stopped process, a paused VM) loses the
 * run to the next process that opens the store, and what the stale owner does when it wakes is refused.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO, flyte, flyteAsync, waitFor } from "./helpers/runtime.ts";

const FIXTURE = join(REPO, "test/fixtures/pipeline.ts");

describe("leases", () => {
  it("a stalled owner loses its run when its lease expires, and its late completion is refused", async () => {
    const root = mkdtempSync(join(tmpdir(), "flyte-leases-"));
    const env = { FLYTE_LEASE_TTL_MS: "600" };
    const owner = flyteAsync(root, ["run", FIXTURE, "sleeper", "--seconds", "2", "--name", "stalled", "-q"], env);
    let out = "";
    let err = "";
    owner.stdout!.on("data", (d) => (out += String(d)));
    owner.stderr!.on("data", (d) => (err += String(d)));
    const exited = new Promise<number | null>((resolve) => owner.once("exit", resolve));
    await waitFor(() => /running/.test(out), 20_000, "the run to start");
    owner.kill("SIGSTOP");
    try {
      await new Promise((r) => setTimeout(r, 1500));
      // Another process opens the store: the owner's pid is alive, but its lease has expired.
      const seen = JSON.parse(flyte(root, ["get", "run", "stalled", "--output-format", "json"], { env }).stdout) as { phase: string; error: { code: string } };
      expect(seen.phase).toBe("failed");
      expect(seen.error.code).toBe("OwnerLost");
    } finally {
      owner.kill("SIGCONT");
    }
    await exited;
    expect(err).toMatch(/Run "stalled" (was taken over by another process|is no longer owned by this process)/);
    const after = JSON.parse(flyte(root, ["get", "run", "stalled", "--output-format", "json"]).stdout) as {
      phase: string; error: { code: string }; root: { phase: string };
    };
    // The sleeper finished after waking up; its success was not recorded over the reaper's verdict.
    expect(after.phase).toBe("failed");
    expect(after.error.code).toBe("OwnerLost");
    expect(after.root.phase).toBe("failed");
  }, 60_000);
});
