/**
 * Ownership by lease (see store.ts `Lease`). A process owns the runs it executes under an owner id unique to
 * the process, renewing each run's lease from its heartbeat; a run whose lease expired, or whose owner process
 * on this host is gone (the fast path: a local user does not wait for the expiry after a kill -9), is lost, and
 * the next process to open the store marks it failed with `OwnerLost` and moves its lease to a new epoch.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { RuntimeSystemError, errorToRecord, type ErrorRecord } from "../errors.ts";
import { isProcessAlive } from "../internal/process-alive.ts";
import type { OwnerProbe } from "../store/store.ts";

/** How long a lease lasts without renewal. `FLYTE_LEASE_TTL_MS` shortens it (tests of lease expiry). */
export function leaseTtlMs(): number {
  const fromEnv = Number(process.env.FLYTE_LEASE_TTL_MS);
  return fromEnv > 0 ? fromEnv : 30_000;
}

/** How often an owner renews its leases: well inside the TTL, so one late timer does not lose a run. */
export const heartbeatMs = (ttlMs: number): number => Math.max(50, Math.min(2000, Math.floor(ttlMs / 5)));

/** Owner ids of the controllers of this process: their runs are alive whatever their lease says. */
const ownedHere = new Set<string>();

/** A new owner id: host, pid and a random part (two controllers of one process are two owners). */
export function newOwnerId(): string {
  const id = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  ownedHere.add(id);
  return id;
}

/** Ends an owner of this process (its controller closed). */
export function retireOwnerId(id: string): void {
  ownedHere.delete(id);
}

/** Whether the owner of a run that has not ended is gone. */
export function isOwnerLost(r: OwnerProbe, now: number = Date.now()): boolean {
  // This process's own runs are alive: a long synchronous stretch may have delayed their heartbeat past the TTL.
  if (r.ownerId !== null && ownedHere.has(r.ownerId)) return false;
  if (r.ownerHost === hostname() && r.ownerPid !== null && !isProcessAlive(r.ownerPid)) return true;
  return r.leaseExpiresAt !== null && now > r.leaseExpiresAt;
}

export const ownerLostError = (run: string): ErrorRecord =>
  errorToRecord(new RuntimeSystemError("OwnerLost", `The process running run "${run}" stopped (killed or crashed) before it finished. Start it again with: flyte recover ${run}`));
