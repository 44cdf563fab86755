/**
 * Behaviour every `RunStore` must show; each implementation's test file runs it (`storeConformance({...})`),
 * so the SQLite store and any later backend are held to the same semantics: every method, the write batch's
 * visibility, fencing by lease, the per-run sticky failure, two processes writing at once, and upgrades from
 * every earlier schema version.
 * @module
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RunAlreadyExistsError, type ErrorRecord } from "../errors.ts";
import type { ActionCacheRecord, DeploymentRow, Lease, RunStore, TaskSpecRow, TriggerRow } from "./store.ts";
import { ROW_TIME, actionRow, attemptRow, runRow } from "./store.conformance-rows.ts";

export interface StoreConformanceOptions {
  name: string;
  /**
   * A fresh, empty store, and a way to open the same store again (a second connection). A backend whose reads
   * yield to the event loop (so the per-turn commit can run between two reads) also gives `holdRun`: it blocks
   * any commit that writes run `name` until the returned function is called, so what another connection sees
   * before the commit can be checked without racing it.
   */
  newStore: () => Promise<{ store: RunStore; reopen: () => Promise<RunStore>; holdRun?: (name: string) => Promise<() => Promise<void>> }>;
  /** A module, by absolute path, whose export `fn(location)` opens the store at `location` (run in a child process). */
  opener: { module: string; fn: string };
  /**
   * Every earlier schema version, and how to make a store at it holding a succeeded run "old" and a running run
   * "old-active" (owner heartbeat long ago) in project "p" / domain "d"; `open` then opens (and upgrades) it.
   */
  earlierVersions: number[];
  atVersion: (version: number) => Promise<{ open: () => Promise<RunStore> }>;
  /** A fresh store with about `freeBytes` of space left, to see what a full disk does. */
  nearlyFull: (freeBytes: number) => Promise<RunStore>;
}

const P = { project: "p", domain: "d" };
const NOW = ROW_TIME;
const lease = (owner = "host:1:aa", epoch = 1): Lease => ({ owner, epoch, expiresAt: Date.now() + 60_000 });

/** Byte fields as plain arrays: stores may hand back Buffers, which are Uint8Arrays but not equal to them. */
function plain(v: unknown): unknown {
  if (ArrayBuffer.isView(v)) return Array.from(v as Uint8Array);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const deployment = (version: string, o: Partial<DeploymentRow> = {}): DeploymentRow => ({
  ...P, version, contentHash: `hash-${version}`, bundleUri: `file:///bundles/${version}.tar.gz`, bundleDigest: `digest-${version}`,
  copyStyle: "loaded_modules", environments: [{ name: "env", image: "img:1", tasks: ["env.a", "env.b"] }], createdAt: NOW, ...o,
});
const taskSpec = (name: string, version: string, at = NOW): TaskSpecRow => ({
  ...P, name, version, environment: "env", spec: { name, image: "img:1", retries: { count: 1 } }, createdAt: at, deployedAt: at,
});
const trigger = (taskName: string, name: string, version: string): TriggerRow => ({
  ...P, taskName, name, version, spec: { name, automation: { cron: "0 * * * *" } }, active: true, activatedAt: NOW, createdAt: NOW,
});

const failure: ErrorRecord = { name: "RuntimeSystemError", code: "OwnerLost", kind: "system", message: "gone" };

export function storeConformance(o: StoreConformanceOptions): void {
  describe(`RunStore conformance: ${o.name}`, () => {
    it("records a run and reads every field back, scoped by project and domain", async () => {
      const { store } = await o.newStore();
      const row = runRow("r1", { ownerId: "host:1:aa", leaseEpoch: 1, leaseExpiresAt: NOW + 1 });
      expect(await store.createRun(row)).toBeUndefined();
      expect(plain(await store.getRun({ ...P, name: "r1" }))).toEqual(plain(row));
      expect(await store.getRun({ project: "other", domain: "d", name: "r1" })).toBeUndefined();
      expect(await store.getRun({ project: "p", domain: "other", name: "r1" })).toBeUndefined();
      expect(await store.listRuns({ project: "other", domain: "d" })).toEqual([]);
      const dup = await store.createRun(runRow("r1", { project: "other" })).catch((e: unknown) => e);
      expect(dup).toBeInstanceOf(RunAlreadyExistsError);
      expect((dup as Error).message).toBe('A run named "r1" already exists in p/d. Choose another name, or omit it to get a generated one.');
      await store.close();
    });

    it("lists runs newest first, filtered by phase, task and label, up to a limit", async () => {
      const { store } = await o.newStore();
      await store.createRun(runRow("a", { createdAt: NOW + 1, phase: "succeeded", taskName: "env.alpha" }));
      await store.createRun(runRow("b", { createdAt: NOW + 2, labels: { team: "web" } }));
      await store.createRun(runRow("c", { createdAt: NOW + 3 }));
      const names = async (q?: Parameters<RunStore["listRuns"]>[1]) => (await store.listRuns(P, q)).map((r) => r.name);
      expect(await names()).toEqual(["c", "b", "a"]);
      expect(await names({ limit: 2 })).toEqual(["c", "b"]);
      expect(await names({ phase: "succeeded" })).toEqual(["a"]);
      expect(await names({ task: "alph" })).toEqual(["a"]);
      expect(await names({ label: ["team", "web"] })).toEqual(["b"]);
      await store.close();
    });

    it("grants a recovery claim to one run that has not ended at a time", async () => {
      const { store } = await o.newStore();
      expect(await store.createRun(runRow("rec1"), "chain")).toBeUndefined();
      expect(await store.createRun(runRow("rec2"), "chain")).toBe("rec1");
      expect(await store.getRun({ ...P, name: "rec2" })).toBeUndefined();
      store.writes.updateRun({ ...P, name: "rec1" }, { phase: "failed" });
      await store.writes.flush();
      expect(await store.createRun(runRow("rec3"), "chain")).toBeUndefined();
      await store.close();
    });

    it("coalesces queued writes per row and reads its own writes before they are committed", async () => {
      const { store } = await o.newStore();
      await store.createRun(runRow("r"));
      const row = actionRow("r", "a0");
      store.writes.upsertAction(row);
      row.phase = "succeeded"; // the batch keeps what was written, not the caller's later changes
      store.writes.updateAction("r", "a0", { phase: "running", attemptCount: 1 });
      store.writes.updateAction("r", "a0", { reportUri: "file:///r.html" });
      expect(store.writes.pending).toBe(true);
      expect(plain(await store.getAction("r", "a0"))).toEqual(plain({ ...actionRow("r", "a0"), phase: "running", attemptCount: 1, reportUri: "file:///r.html" }));
      store.writes.updateAction("r", "a1", { phase: "running" }); // a patch of a row that does not exist changes nothing
      expect(await store.getAction("r", "a1")).toBeUndefined();
      await store.close();
    });

    it("keeps queued writes from other connections until they are committed", async () => {
      const { store, reopen, holdRun } = await o.newStore();
      const other = await reopen();
      await store.createRun(runRow("r"));
      const release = await holdRun?.("r");
      store.writes.upsertAction(actionRow("r", "a0"));
      store.writes.updateRun({ ...P, name: "r" }, { phase: "succeeded" });
      expect(await other.getAction("r", "a0")).toBeUndefined();
      expect((await other.getRun({ ...P, name: "r" }))?.phase).toBe("running");
      await release?.();
      await store.writes.flush();
      expect(await other.getAction("r", "a0")).toMatchObject({ name: "a0" });
      expect((await other.getRun({ ...P, name: "r" }))?.phase).toBe("succeeded");
      await other.close();
      await store.close();
    });

    it("records actions, attempts, logs, traces and cache entries", async () => {
      const { store } = await o.newStore();
      await store.createRun(runRow("r"));
      store.writes.upsertAction(actionRow("r", "a0", { phase: "succeeded", outputs: new Uint8Array([7]) }));
      store.writes.upsertAction(actionRow("r", "b1", { createdAt: NOW + 1, phase: "failed", error: failure }));
      store.writes.upsertAttempt(attemptRow("r", "b1", 0, { phase: "failed", error: failure }));
      store.writes.upsertAttempt(attemptRow("r", "b1", 1));
      store.writes.upsertAttempt(attemptRow("r", "b1", 1, { phase: "succeeded", endedAt: NOW + 5 }));
      store.writes.appendLogs([
        { runName: "r", action: "b1", attempt: 0, time: NOW, stream: "stdout", message: "one" },
        { runName: "r", action: "b1", attempt: 1, time: NOW, stream: "stderr", message: "two" },
        { runName: "r", action: "a0", attempt: 0, time: NOW, stream: "stdout", message: "three" },
      ]);
      store.writes.putTrace({ runName: "r", action: "a0", key: "k", name: "step", output: new Uint8Array([5]), error: null, durationMs: 2 });
      store.writes.putCache({ key: "c1", taskName: "env.t", outputs: new Uint8Array([4]), createdAt: NOW, runName: "r", action: "a0" });
      store.writes.putCache({ key: "c2", taskName: "env.u", outputs: new Uint8Array([6]), createdAt: NOW, runName: null, action: null });

      expect((await store.listActions("r")).map((a) => a.name)).toEqual(["a0", "b1"]);
      // Summaries: every field but the values, in the same order.
      const full = await store.listActions("r");
      expect(await store.listActionSummaries("r")).toEqual(full.map(({ inputs: _i, outputs: _o, inputsHash: _h, interface: _f, ...rest }) => rest));
      expect(await store.listActionSummaries("nope")).toEqual([]);
      expect(plain(await store.listSucceeded("r"))).toEqual([{ name: "a0", inputsHash: "h-a0", outputs: [7] }]);
      expect((await store.getAction("r", "b1"))?.error).toEqual(failure);
      expect(await store.listAttempts("r", "b1")).toEqual([
        attemptRow("r", "b1", 0, { phase: "failed", error: failure }), attemptRow("r", "b1", 1, { phase: "succeeded", endedAt: NOW + 5 }),
      ]);
      expect((await store.listAttempts("r")).length).toBe(2);
      const logs = await store.readLogs("r");
      expect(logs.map((l) => l.message)).toEqual(["one", "two", "three"]);
      expect((await store.readLogs("r", { action: "b1", attempt: 1 })).map((l) => l.message)).toEqual(["two"]);
      expect((await store.readLogs("r", { afterId: logs[1]!.id })).map((l) => l.message)).toEqual(["three"]);
      expect(plain(await store.getTrace("r", "a0", "k"))).toEqual({ runName: "r", action: "a0", key: "k", name: "step", output: [5], error: null, durationMs: 2 });
      expect(await store.getTrace("r", "a0", "missing")).toBeUndefined();
      expect(plain((await store.getCache("c1"))?.outputs)).toEqual([4]);
      expect(await store.clearCache("env.t")).toBe(1);
      expect(await store.getCache("c1")).toBeUndefined();
      expect(await store.clearCache()).toBe(1);
      expect(await store.getCache("c2")).toBeUndefined();
      await store.close();
    });

    it("records what the cache did for an action, read back by getAction and left out of summaries", async () => {
      const { store, reopen } = await o.newStore();
      await store.createRun(runRow("r"));
      const cache: ActionCacheRecord = {
        outcome: "hit", behavior: "auto", key: "k".repeat(64), taskName: "env.t", cacheVersion: "v1", versionOverride: "v1", interfaceHash: "",
        inputsHash: "ih", inputs: [{ name: "x", hash: "hx" }], ignoredInputs: ["when"], serialize: false, source: { runName: "earlier", action: "a0" },
      };
      store.writes.upsertAction(actionRow("r", "a0", { cache }));
      store.writes.upsertAction(actionRow("r", "b1", { createdAt: NOW + 1, cache: { outcome: "disabled", behavior: "disable" } }));
      store.writes.upsertAction(actionRow("r", "c2", { createdAt: NOW + 2 }));
      await store.writes.flush();
      const other = await reopen();
      expect((await other.getAction("r", "a0"))?.cache).toEqual(cache);
      expect((await other.getAction("r", "b1"))?.cache).toEqual({ outcome: "disabled", behavior: "disable" });
      expect((await other.getAction("r", "c2"))?.cache ?? null).toBeNull();
      expect((await other.listActions("r"))[0]?.cache).toEqual(cache);
      expect((await other.listActionSummaries("r")).every((a) => !("cache" in a))).toBe(true);
      // A later write of the row (its end) keeps what it carries.
      store.writes.updateAction("r", "a0", { phase: "succeeded" });
      await store.writes.flush();
      expect(await other.getAction("r", "a0")).toMatchObject({ phase: "succeeded", cache });
      await other.close();
      await store.close();
    });

    it("renews a lease, carries abort requests, and fences a lost owner's writes", async () => {
      const { store } = await o.newStore();
      const mine = lease();
      await store.createRun(runRow("r", { ownerId: mine.owner, leaseEpoch: mine.epoch, leaseExpiresAt: mine.expiresAt }));
      store.writes.own("r", mine);
      store.writes.upsertAction(actionRow("r", "a0", { phase: "running" }));
      await store.writes.flush("r");
      const renewed = await store.renewLease({ ...P, name: "r" }, mine, 60_000);
      expect(renewed).toMatchObject({ lease: { owner: mine.owner, epoch: 1 }, abortRequested: null });
      expect(await store.requestAbort({ ...P, name: "r" }, "stop it")).toBe(true);
      expect((await store.renewLease({ ...P, name: "r" }, mine, 60_000))?.abortRequested).toBe("stop it");
      expect(await store.renewLease({ ...P, name: "r" }, { ...mine, owner: "someone-else" }, 60_000)).toBeUndefined();

      // Another process decides the owner is gone: the run fails and changes epoch.
      expect(await store.reapLostRuns((r) => r.name === "r" && r.ownerId === mine.owner, () => failure)).toEqual(["r"]);
      const reaped = await store.getRun({ ...P, name: "r" });
      expect(reaped).toMatchObject({ phase: "failed", error: failure, ownerId: null, leaseEpoch: 2 });
      expect((await store.getAction("r", "a0"))?.phase).toBe("failed");
      expect(await store.renewLease({ ...P, name: "r" }, mine, 60_000)).toBeUndefined();
      expect(await store.requestAbort({ ...P, name: "r" }, "again")).toBe(false);

      // The stale owner wakes up and reports success: refused, and told so; the record stays as the reaper left it.
      const warned = new Promise<Error>((resolve) => process.once("warning", resolve));
      store.writes.updateAction("r", "a0", { phase: "succeeded" });
      store.writes.updateRun({ ...P, name: "r" }, { phase: "succeeded" });
      const refused = await store.writes.flush("r").catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: "LeaseLost" });
      expect((refused as Error).message).toMatch(/Run "r" is no longer owned by this process .*late writes were refused/);
      expect((await warned).message).toMatch(/Run "r" is no longer owned/);
      expect((await store.getAction("r", "a0"))?.phase).toBe("failed");
      expect((await store.getRun({ ...P, name: "r" }))?.phase).toBe("failed");
      expect(() => store.writes.updateAction("r", "a0", { phase: "succeeded" })).toThrow(/no longer owned/);
      store.writes.release("r");
      await store.close();
    });

    it("fences a claimed action: a takeover wins over the lost claimant's late writes, and nobody takes over an ended action", async () => {
      const { store: a, reopen } = await o.newStore();
      const b = await reopen();
      await a.createRun(runRow("r"));
      a.writes.upsertAction(actionRow("r", "a0", { phase: "queued" }));
      await a.writes.flush();
      // Worker A claims the action and starts attempt 0.
      a.writes.claim("r", "a0", "A");
      a.writes.upsertAttempt(attemptRow("r", "a0", 0, { owner: "A" }));
      a.writes.updateAction("r", "a0", { phase: "running", attemptCount: 1 });
      await a.writes.flush();
      expect(a.writes.claimLost("r", "a0")).toBeUndefined();
      // Worker B takes it over (A stopped renewing its registration): the lost attempt becomes B's record.
      b.writes.claim("r", "a0", "B", { takeover: true });
      b.writes.upsertAttempt(attemptRow("r", "a0", 0, { owner: "B", phase: "failed", error: failure }));
      await b.writes.flush();
      expect(b.writes.claimLost("r", "a0")).toBeUndefined();
      b.writes.claim("r", "a0", "B");
      // A wakes up and reports success: dropped, with its logs of that action; its other writes of the run commit.
      a.writes.upsertAttempt(attemptRow("r", "a0", 0, { owner: "A", phase: "succeeded" }));
      a.writes.updateAction("r", "a0", { phase: "succeeded", outputs: new Uint8Array([1]) });
      a.writes.appendLogs([{ runName: "r", action: "a0", attempt: 0, time: NOW, stream: "stdout", message: "late" }]);
      a.writes.upsertAction(actionRow("r", "other"));
      await a.writes.flush("r");
      expect(a.writes.claimLost("r", "a0")?.message).toBe(
        'Action "a0" of run "r" is no longer claimed by A: it ended, or another worker took it over after this one stopped renewing its registration, so this worker\'s late writes of it were dropped.',
      );
      expect(a.writes.claimLost("r", "a0")).toMatchObject({ code: "ClaimLost" });
      expect((await b.getAction("r", "a0"))?.phase).toBe("running");
      expect(await b.listAttempts("r", "a0")).toMatchObject([{ attempt: 0, owner: "B", phase: "failed" }]);
      expect(await b.readLogs("r", { action: "a0" })).toEqual([]);
      expect(await b.getAction("r", "other")).toMatchObject({ name: "other" });
      a.writes.updateAction("r", "a0", { phase: "failed" }); // dropped at once: the claim is known to be lost
      expect(a.writes.pending).toBe(false);
      // B finishes; then a takeover of the ended action (a third worker's stale job) is refused.
      b.writes.upsertAttempt(attemptRow("r", "a0", 1, { owner: "B", phase: "succeeded" }));
      b.writes.updateAction("r", "a0", { phase: "succeeded", attemptCount: 2 });
      await b.writes.flush();
      expect(b.writes.claimLost("r", "a0")).toBeUndefined();
      a.writes.unclaim("r", "a0");
      a.writes.claim("r", "a0", "C", { takeover: true });
      a.writes.upsertAttempt(attemptRow("r", "a0", 1, { owner: "C", phase: "failed", error: failure }));
      await a.writes.flush();
      expect(a.writes.claimLost("r", "a0")).toMatchObject({ code: "ClaimLost" });
      expect(await b.listAttempts("r", "a0")).toMatchObject([{ owner: "B" }, { attempt: 1, owner: "B", phase: "succeeded" }]);
      // Cache entries are the caller's writes, not the claimant's: one naming an action whose claim was lost commits.
      a.writes.putCache({ key: "ck", taskName: "env.t", outputs: new Uint8Array([3]), createdAt: NOW, runName: "r", action: "a0" });
      await a.writes.flush();
      expect(await b.getCache("ck")).toMatchObject({ key: "ck" });
      // The run's owner ends an action (an abort) while a worker holds it: the worker still records its attempt's end.
      b.writes.upsertAction(actionRow("r", "a1", { phase: "queued" }));
      await b.writes.flush();
      a.writes.claim("r", "a1", "A");
      a.writes.upsertAttempt(attemptRow("r", "a1", 0, { owner: "A" }));
      await a.writes.flush();
      b.writes.updateAction("r", "a1", { phase: "aborted" });
      await b.writes.flush();
      a.writes.upsertAttempt(attemptRow("r", "a1", 0, { owner: "A", phase: "aborted" }));
      a.writes.updateAction("r", "a1", { phase: "aborted", attemptCount: 1 });
      await a.writes.flush();
      expect(a.writes.claimLost("r", "a1")).toBeUndefined();
      expect(await b.listAttempts("r", "a1")).toMatchObject([{ attempt: 0, owner: "A", phase: "aborted" }]);
      // A retry after a backoff is anyone's: B starts attempt 1 after A's ended attempt 0, and A can no longer write it.
      b.writes.upsertAction(actionRow("r", "a2", { phase: "queued" }));
      await b.writes.flush();
      a.writes.claim("r", "a2", "A");
      a.writes.upsertAttempt(attemptRow("r", "a2", 0, { owner: "A", phase: "failed", error: failure }));
      a.writes.updateAction("r", "a2", { phase: "queued", attemptCount: 1 });
      await a.writes.flush();
      b.writes.claim("r", "a2", "B");
      b.writes.upsertAttempt(attemptRow("r", "a2", 1, { owner: "B" }));
      b.writes.updateAction("r", "a2", { phase: "running", attemptCount: 2 });
      await b.writes.flush();
      expect(b.writes.claimLost("r", "a2")).toBeUndefined();
      a.writes.upsertAttempt(attemptRow("r", "a2", 0, { owner: "A", phase: "failed", error: failure, endedAt: NOW + 5 }));
      await a.writes.flush();
      expect(a.writes.claimLost("r", "a2")).toMatchObject({ code: "ClaimLost" });
      // ... nor start an attempt B has already recorded (a lost worker repeating the retry).
      b.writes.upsertAction(actionRow("r", "a3", { phase: "queued" }));
      b.writes.claim("r", "a3", "B");
      b.writes.upsertAttempt(attemptRow("r", "a3", 0, { owner: "B", phase: "failed", error: failure }));
      await b.writes.flush();
      a.writes.claim("r", "a3", "A");
      a.writes.upsertAttempt(attemptRow("r", "a3", 0, { owner: "A" }));
      await a.writes.flush();
      expect(a.writes.claimLost("r", "a3")).toMatchObject({ code: "ClaimLost" });
      expect(await b.listAttempts("r", "a3")).toMatchObject([{ attempt: 0, owner: "B", phase: "failed" }]);
      await b.close();
      await a.close();
    });

    it("expires an action still waiting in the queue, and only such an action; a worker that claimed it meanwhile is refused", async () => {
      const { store: a, reopen } = await o.newStore();
      const b = await reopen();
      await a.createRun(runRow("r"));
      for (const n of ["waiting", "started", "claimed"]) a.writes.upsertAction(actionRow("r", n, { phase: "queued" }));
      await a.writes.flush();
      // "started": a worker committed its attempt's start first; nothing expires.
      b.writes.claim("r", "started", "W");
      b.writes.upsertAttempt(attemptRow("r", "started", 0, { owner: "W" }));
      b.writes.updateAction("r", "started", { phase: "running", attemptCount: 1 });
      await b.writes.flush();
      const expiry = { attemptCount: 0, phase: "timed_out" as const, error: failure, at: NOW, owner: "maxQueuedTime" };
      expect(await a.expireQueued("r", "started", expiry)).toBe(false);
      expect((await b.getAction("r", "started"))?.phase).toBe("running");
      // "waiting": expired, with the attempt it was waiting to make recorded ended; a second expiry does nothing.
      expect(await a.expireQueued("r", "waiting", expiry)).toBe(true);
      expect(await b.getAction("r", "waiting")).toMatchObject({ phase: "timed_out", error: failure, attemptCount: 1, endedAt: NOW });
      expect(await b.listAttempts("r", "waiting")).toMatchObject([{ attempt: 0, phase: "timed_out", owner: "maxQueuedTime", startedAt: null }]);
      expect(await a.expireQueued("r", "waiting", expiry)).toBe(false);
      // "claimed": a worker read it queued and claimed it, then the expiry got in before its commit: its writes are refused.
      b.writes.claim("r", "claimed", "W");
      expect(await a.expireQueued("r", "claimed", expiry)).toBe(true);
      b.writes.upsertAttempt(attemptRow("r", "claimed", 0, { owner: "W", phase: "succeeded" }));
      b.writes.updateAction("r", "claimed", { phase: "succeeded", attemptCount: 1 });
      await b.writes.flush();
      expect(b.writes.claimLost("r", "claimed")).toMatchObject({ code: "ClaimLost" });
      expect((await a.getAction("r", "claimed"))?.phase).toBe("timed_out");
      // An action queued again for a retry (one attempt made) is not expired by the first queueing's timer.
      a.writes.upsertAction(actionRow("r", "retry", { phase: "queued", attemptCount: 1 }));
      await a.writes.flush();
      expect(await a.expireQueued("r", "retry", expiry)).toBe(false);
      await b.close();
      await a.close();
    });

    it("reaps only the runs whose owner is lost, with their unfinished actions and attempts", async () => {
      const { store } = await o.newStore();
      await store.createRun(runRow("lost", { ownerId: "x", leaseEpoch: 1, leaseExpiresAt: NOW }));
      await store.createRun(runRow("alive", { ownerId: "y", leaseEpoch: 1, leaseExpiresAt: NOW }));
      await store.createRun(runRow("done", { phase: "succeeded" }));
      store.writes.upsertAction(actionRow("lost", "a0", { phase: "running" }));
      store.writes.upsertAction(actionRow("lost", "b1", { phase: "succeeded" }));
      store.writes.upsertAttempt(attemptRow("lost", "a0", 0));
      const seen: string[] = [];
      const reaped = await store.reapLostRuns((r) => (seen.push(r.name), r.ownerId === "x"), (run) => ({ ...failure, message: `lost ${run}` }));
      expect(reaped).toEqual(["lost"]);
      expect(seen.sort()).toEqual(["alive", "lost"]);
      expect((await store.getAction("lost", "a0"))?.error?.message).toBe("lost lost");
      expect((await store.getAction("lost", "b1"))?.phase).toBe("succeeded");
      expect((await store.listAttempts("lost", "a0"))[0]?.phase).toBe("failed");
      expect((await store.getRun({ ...P, name: "alive" }))?.phase).toBe("running");
      await store.close();
    });

    it("registers deployments: task versions, the latest of each task, unchanged redeploys and taken versions", async () => {
      const { store, reopen } = await o.newStore();
      const v1 = deployment("v1");
      expect(await store.putDeployment(v1, [taskSpec("env.a", "v1"), taskSpec("env.b", "v1")], [trigger("env.a", "hourly", "v1")])).toEqual({ status: "created" });
      expect(await store.getDeployment(P, "v1")).toEqual(v1);
      expect(await store.getDeployment({ project: "other", domain: "d" }, "v1")).toBeUndefined();
      expect(await store.getTask(P, "env.a")).toEqual(taskSpec("env.a", "v1"));
      expect(await store.getTask(P, "env.a", "v2")).toBeUndefined();
      expect(await store.listTasks({ project: "p", domain: "other" })).toEqual([]);

      // The same version and content again: nothing changes.
      expect(await store.putDeployment({ ...v1, createdAt: NOW + 1 }, [taskSpec("env.a", "v1", NOW + 1), taskSpec("env.b", "v1", NOW + 1)], []))
        .toEqual({ status: "unchanged", promoted: false });
      expect((await store.listTriggers(P)).map((t) => t.name)).toEqual(["hourly"]);
      // The same version with other content: refused, nothing written.
      const taken = await store.putDeployment({ ...v1, contentHash: "other" }, [taskSpec("env.c", "v1")], []);
      expect(taken).toEqual({ status: "conflict", existing: v1 });
      expect(await store.getTask(P, "env.c")).toBeUndefined();

      // A new version of env.a (env.b is not in it): env.a's latest is v2, its trigger moves to v2.
      const v2 = deployment("v2", { createdAt: NOW + 10, environments: [{ name: "env", image: "img:2", tasks: ["env.a"] }], bundleUri: null, bundleDigest: null, copyStyle: "none" });
      expect(await store.putDeployment(v2, [taskSpec("env.a", "v2", NOW + 10)], [trigger("env.a", "daily", "v2")])).toEqual({ status: "created" });
      expect(await store.getDeployment(P, "v2")).toEqual(v2);
      const latest = await store.listTasks(P);
      expect(latest.map((t) => [t.name, t.version])).toEqual([["env.a", "v2"], ["env.b", "v1"]]);
      expect((await store.listTasks(P, { name: "env.a" })).map((t) => t.version)).toEqual(["v2", "v1"]);
      expect((await store.listTasks(P, { name: "env.a", limit: 1 })).map((t) => t.version)).toEqual(["v2"]);
      expect((await store.getTask(P, "env.a"))?.version).toBe("v2");
      expect((await store.getTask(P, "env.a", "v1"))?.spec).toEqual(taskSpec("env.a", "v1").spec);
      expect((await store.listTriggers(P)).map((t) => [t.taskName, t.name, t.version])).toEqual([["env.a", "daily", "v2"]]);

      // Deploying v1 again (same content) makes it the latest again, from another connection too.
      const other = await reopen();
      expect(await other.putDeployment({ ...v1, createdAt: NOW + 20 }, [taskSpec("env.a", "v1", NOW + 20), taskSpec("env.b", "v1", NOW + 20)], [trigger("env.a", "hourly", "v1")]))
        .toEqual({ status: "unchanged", promoted: true });
      expect((await store.getTask(P, "env.a"))?.version).toBe("v1");
      expect((await store.getTask(P, "env.a"))?.createdAt).toBe(NOW);
      expect((await store.listTasks(P, { name: "env.a" })).map((t) => t.version)).toEqual(["v1", "v2"]);
      expect((await store.listTriggers(P, { task: "env.a" })).map((t) => [t.name, t.version, t.active])).toEqual([["hourly", "v1", true]]);
      expect(await store.listTriggers(P, { task: "env.b" })).toEqual([]);
      await other.close();
      await store.close();
    });

    it("keeps a trigger's activation across redeploys, and drops the triggers of removed tasks and triggers", async () => {
      const { store } = await o.newStore();
      const off = (t: TriggerRow): TriggerRow => ({ ...t, active: false, activatedAt: null });
      await store.putDeployment(deployment("v1"), [taskSpec("env.a", "v1"), taskSpec("env.b", "v1")],
        [trigger("env.a", "hourly", "v1"), off(trigger("env.a", "daily", "v1")), trigger("env.b", "hourly", "v1")]);
      const state = async () => (await store.listTriggers(P)).map((t) => [t.taskName, t.name, t.version, t.active, t.activatedAt]);
      expect(await state()).toEqual([["env.a", "daily", "v1", false, null], ["env.a", "hourly", "v1", true, NOW], ["env.b", "hourly", "v1", true, NOW]]);

      // Toggled by hand: activating sets the time, activating again keeps it, deactivating clears it.
      expect(await store.setTriggerActive(P, "env.a", "daily", true, NOW + 5)).toMatchObject({ active: true, activatedAt: NOW + 5 });
      expect(await store.setTriggerActive(P, "env.a", "daily", true, NOW + 6)).toMatchObject({ active: true, activatedAt: NOW + 5 });
      expect(await store.setTriggerActive(P, "env.a", "hourly", false, NOW + 6)).toMatchObject({ active: false, activatedAt: null });
      expect(await store.setTriggerActive(P, "env.a", "nope", true, NOW)).toBeUndefined();

      // v2: env.a keeps "daily" (now active) and "hourly" (now inactive) whatever autoActivate says, drops nothing
      // else of its own; env.b is no longer in the environment, so its trigger goes.
      const v2 = deployment("v2", { environments: [{ name: "env", image: "img:1", tasks: ["env.a"] }] });
      await store.putDeployment(v2, [taskSpec("env.a", "v2", NOW + 10)], [off(trigger("env.a", "daily", "v2")), trigger("env.a", "hourly", "v2")]);
      expect(await state()).toEqual([["env.a", "daily", "v2", true, NOW + 5], ["env.a", "hourly", "v2", false, null]]);
      // v3 removes "hourly" from the code.
      await store.putDeployment(deployment("v3", { environments: [{ name: "env", image: "img:1", tasks: ["env.a"] }] }), [taskSpec("env.a", "v3", NOW + 20)], [trigger("env.a", "daily", "v3")]);
      expect(await state()).toEqual([["env.a", "daily", "v3", true, NOW + 5]]);

      expect(await store.deleteTrigger(P, "env.a", "daily")).toBe(true);
      expect(await store.deleteTrigger(P, "env.a", "daily")).toBe(false);
      expect(await store.listTriggers(P)).toEqual([]);
      await store.close();
    });

    it("records each fire time once across connections, under a free run name, and hands over a stale claim", async () => {
      const { store, reopen } = await o.newStore();
      const other = await reopen();
      const fire = (owner: string, at = NOW, task = "env.a") => ({
        ...P, taskName: task, triggerName: "hourly", fireTime: at, version: "v1", claimedBy: owner, claimExpiresAt: NOW + 1000, recordedAt: NOW,
      });
      // Two schedulers on two connections record one fire time: exactly one gets it.
      const names = ["hourly-202601010000", "hourly-202601010000-2", "hourly-202601010000-3"];
      const both = await Promise.all([store.recordFire(fire("s1"), names), other.recordFire(fire("s2"), names)]);
      expect(both.filter((n) => n !== undefined)).toEqual(["hourly-202601010000"]);
      expect(await store.recordFire(fire("s1"), names)).toBeUndefined();
      // The same trigger name on another task at the same time: the next free name; a run already using one counts.
      await store.createRun(runRow("hourly-202601010000-2"));
      expect(await other.recordFire(fire("s2", NOW, "env.b"), names)).toBe("hourly-202601010000-3");
      expect(await other.recordFire(fire("s2", NOW, "env.c"), names)).toBeUndefined();

      const winner = both[0] !== undefined ? "s1" : "s2";
      const key = { ...P, taskName: "env.a", triggerName: "hourly", fireTime: NOW };
      // A live claim is not taken over; only its holder finishes it.
      expect(await store.claimStaleFires(P, "s3", NOW + 500, NOW + 2000)).toEqual([]);
      expect(await store.finishFire(key, "s3", "created", null)).toBe(false);
      // Expired: another scheduler claims it (once), and the first can no longer finish it.
      const stale = await other.claimStaleFires(P, "s3", NOW + 1001, NOW + 3000);
      expect(stale.map((f) => [f.taskName, f.runName, f.claimedBy, f.state])).toEqual([["env.a", "hourly-202601010000", "s3", "pending"], ["env.b", "hourly-202601010000-3", "s3", "pending"]]);
      expect(await store.claimStaleFires(P, "s4", NOW + 1001, NOW + 3000)).toEqual([]);
      expect(await store.finishFire(key, winner, "created", null)).toBe(false);
      expect(await store.finishFire(key, "s3", "created", null)).toBe(true);
      expect(await store.finishFire({ ...key, taskName: "env.b" }, "s3", "failed", "no such task")).toBe(true);

      await store.recordFire(fire("s1", NOW + 3_600_000), ["hourly-202601010100"]);
      const all = await store.listFires(P);
      expect(all.map((f) => [f.taskName, f.fireTime, f.runName, f.state, f.error])).toEqual([
        ["env.a", NOW + 3_600_000, "hourly-202601010100", "pending", null],
        ["env.a", NOW, "hourly-202601010000", "created", null],
        ["env.b", NOW, "hourly-202601010000-3", "failed", "no such task"],
      ]);
      expect((await other.listFires(P, { latest: true })).map((f) => f.runName)).toEqual(["hourly-202601010100", "hourly-202601010000-3"]);
      expect((await store.listFires(P, { task: "env.a", trigger: "hourly", limit: 1 })).map((f) => f.runName)).toEqual(["hourly-202601010100"]);
      expect(await store.listFires({ project: "other", domain: "d" })).toEqual([]);
      await other.close();
      await store.close();
    });

    it("records a failed run directly, bypassing the batch", async () => {
      const { store } = await o.newStore();
      await store.createRun(runRow("r"));
      store.writes.upsertAction(actionRow("r", "a0", { phase: "running" }));
      await store.writes.flush();
      expect(await store.recordFailedRun({ ...P, name: "r" }, failure, NOW + 9)).toBe(true);
      expect(await store.getRun({ ...P, name: "r" })).toMatchObject({ phase: "failed", error: failure, endedAt: NOW + 9 });
      expect((await store.getAction("r", "a0"))?.phase).toBe("failed");
      await store.close();
    });

    it("reports a failed commit to the runs that wrote, and only to them", async () => {
      const store = await o.nearlyFull(64 * 1024);
      await store.createRun(runRow("big"));
      await store.createRun(runRow("small"));
      store.writes.appendLogs([{ runName: "big", action: "a0", attempt: 0, time: NOW, stream: "stdout", message: "x".repeat(4 * 1024 * 1024) }]);
      const err = await store.writes.flush("big").catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "StoreFull" });
      expect(store.writes.failureOf("big")).toBe(err);
      expect(() => store.writes.updateAction("big", "a0", { phase: "running" })).toThrow((err as Error).message);
      // The other run, and readers, carry on.
      expect(store.writes.failureOf("small")).toBeUndefined();
      store.writes.upsertAction(actionRow("small", "a0", { phase: "succeeded" }));
      await store.writes.flush("small");
      expect((await store.getAction("small", "a0"))?.phase).toBe("succeeded");
      expect(await store.writes.flush()).toBeUndefined();
      await store.close();
    });

    it("holds a serialized cache key for one holder at a time, across store instances", async () => {
      const { store, reopen } = await o.newStore();
      const other = await reopen();
      const release = await store.lockCacheKey("k");
      let second: (() => Promise<void>) | undefined;
      const waiting = other.lockCacheKey("k").then((r) => (second = r));
      // Another key is free meanwhile; a wait can be given up.
      await (await other.lockCacheKey("k2"))();
      const ac = new AbortController();
      const given = store.lockCacheKey("k", ac.signal).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 150));
      expect(second).toBeUndefined();
      ac.abort(new Error("stopped waiting"));
      expect(((await given) as Error).message).toBe("stopped waiting");
      await release();
      await waiting;
      expect(second).toBeDefined();
      await second!();
      await (await store.lockCacheKey("k"))();
      await other.close();
      await store.close();
    });

    it("commits what is queued when closed", async () => {
      const { store, reopen } = await o.newStore();
      await store.createRun(runRow("r"));
      store.writes.upsertAction(actionRow("r", "a0"));
      await store.close();
      const again = await reopen();
      expect(await again.getAction("r", "a0")).toMatchObject({ name: "a0" });
      await again.close();
    });

    it("takes writes from two processes at once without losing any", async () => {
      const { store, reopen } = await o.newStore();
      const probe = await reopen();
      const location = probe.location;
      await probe.close();
      const dir = mkdtempSync(join(tmpdir(), "flyte-store-conformance-"));
      const script = join(dir, "writer.mts");
      writeFileSync(script, `
        const m = await import(${JSON.stringify(o.opener.module)});
        const store = await m[${JSON.stringify(o.opener.fn)}](process.argv[2]);
        const { runRow, actionRow } = await import(${JSON.stringify(new URL("./store.conformance-rows.ts", import.meta.url).pathname)});
        for (let i = 0; i < 100; i++) {
          await store.createRun(runRow("child-" + i));
          for (let j = 0; j < 20; j++) store.writes.upsertAction(actionRow("child-" + i, "a" + j));
          if (i % 10 === 0) await new Promise((r) => setImmediate(r));
        }
        await store.close();
      `);
      const child = spawn(process.execPath, ["--import", "tsx", "--conditions=flyte-ts-source", script, location], { stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
      for (let i = 0; i < 100; i++) {
        await store.createRun(runRow(`parent-${i}`));
        for (let j = 0; j < 20; j++) store.writes.upsertAction(actionRow(`parent-${i}`, `a${j}`));
        if (i % 10 === 0) await new Promise((r) => setImmediate(r));
      }
      await store.writes.flush();
      expect(await exited, stderr).toBe(0);
      expect((await store.listRuns(P, { limit: 1000 })).length).toBe(200);
      for (const name of ["child-0", "child-99", "parent-0", "parent-99"]) expect((await store.listActions(name)).length).toBe(20);
      await store.close();
    }, 60_000);

    for (const version of o.earlierVersions) {
      it(`upgrades a store written at schema version ${version}, keeping its runs`, async () => {
        const old = await o.atVersion(version);
        const store = await old.open();
        expect((await store.getRun({ ...P, name: "old" }))?.phase).toBe("succeeded");
        const active = await store.getRun({ ...P, name: "old-active" });
        expect(active?.phase).toBe("running");
        // Its owner stopped heartbeating long ago: the lease derived from the heartbeat has expired.
        expect(active?.leaseExpiresAt).toBeLessThan(Date.now());
        expect(await store.reapLostRuns((r) => r.leaseExpiresAt !== null && r.leaseExpiresAt < Date.now(), () => failure)).toEqual(["old-active"]);
        await store.createRun(runRow("new"));
        store.writes.upsertAttempt(attemptRow("new", "a0", 0));
        expect((await store.listAttempts("new"))[0]).toMatchObject({ owner: "host:1:aa", leaseEpoch: 1 });
        store.writes.upsertAction(actionRow("new", "a0", { cache: { outcome: "miss", behavior: "auto", key: "k1" }, resources: { cpu: 1 } }));
        expect(await store.getAction("new", "a0")).toMatchObject({ cache: { outcome: "miss", behavior: "auto", key: "k1" }, resources: { cpu: 1 } });
        await store.close();
      });
    }
  });
}
