/**
 * Riding out a database restart. A statement that fails because the connection to PostgreSQL broke (the server
 * restarted, fails over, or refuses connections while it starts) is tried again on a new connection, with a
 * growing pause, until the server answers or `outageMs` has passed; any other failure is returned at once.
 *
 * What is retried must be safe to run twice: the store's batches are upserts and patches of whole rows (a batch
 * whose COMMIT reached the server just before the connection broke is applied again, unchanged), reads read,
 * queue statements are keyed by the action (an enqueue is deduplicated by its job key).
 */

/** How long an operation waits for the database to come back (config-free: `FLYTE_DB_OUTAGE_MS`, default 60 s). */
export function outageBudgetMs(): number {
  const v = Number(process.env.FLYTE_DB_OUTAGE_MS);
  return v > 0 ? v : 60_000;
}

/** SQLSTATEs and socket errors that mean "the connection broke or the server is not accepting connections yet". */
const CONNECTION_CODES = new Set([
  "57P01", // admin_shutdown: the server is stopping (fast or immediate shutdown)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now: the server is starting or shutting down
  "08000", "08001", "08003", "08004", "08006", // connection exceptions
  "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN",
]);

/** Whether `e` says the connection to the database broke (rather than the statement being wrong). */
export function isConnectionLoss(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === "string" && CONNECTION_CODES.has(code)) return true;
  const msg = e instanceof Error ? e.message : "";
  return /Connection terminated|connection error|Client was closed|timeout exceeded when trying to connect|terminating connection/i.test(msg);
}

export class DatabaseOutageError extends Error {
  constructor(
    readonly lastError: unknown,
    readonly waitedMs: number,
  ) {
    super(lastError instanceof Error ? lastError.message : String(lastError), { cause: lastError });
  }
}

/**
 * Runs `fn`; while it fails with a connection loss, runs it again (100 ms, growing to 2 s between tries) until
 * `outageMs` after the first failure, then throws a `DatabaseOutageError` holding the last failure.
 * `stop()` returning true (the store was closed) ends the waiting at once with the failure.
 */
export async function whileReachable<T>(fn: () => Promise<T>, o: { outageMs?: number; stop?: () => boolean } = {}): Promise<T> {
  let since: number | undefined;
  let pause = 100;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!isConnectionLoss(e)) throw e;
      since ??= Date.now();
      const budget = o.outageMs ?? outageBudgetMs();
      if (o.stop?.() || Date.now() - since + pause > budget) throw new DatabaseOutageError(e, Date.now() - since);
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(2_000, Math.round(pause * 1.6));
    }
  }
}
