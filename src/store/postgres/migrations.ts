/**
 * Schema migrations of the PostgreSQL store: numbered, append-only `.sql` files in `./migrations/`
 * (`001_init.sql`, `002_...`), shipped beside the compiled code (the build copies them into dist/). They are
 * applied in order, all pending ones in one transaction, under a transaction-scoped advisory lock: when two
 * processes start against a new database at once, one migrates and the other waits, then finds nothing to do.
 * `flyte_schema_migrations` records each version applied. Never edit a released migration: add a new one.
 */
import { readdirSync, readFileSync } from "node:fs";
import type pg from "pg";
import { StoreError } from "../../errors.ts";

export interface PgMigration {
  version: number;
  name: string;
  sql: string;
}

const DIR = new URL("./migrations/", import.meta.url);

/** An arbitrary, fixed key for `pg_advisory_xact_lock` ("flyt" in ASCII). */
const LOCK_KEY = 0x666c7974;

let loaded: readonly PgMigration[] | undefined;

/** The migrations in `./migrations/`, checked to be numbered 1, 2, 3 ... without gaps. */
export function pgMigrations(): readonly PgMigration[] {
  if (loaded) return loaded;
  const files = readdirSync(DIR).filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f)).sort();
  const list = files.map((f, i) => {
    const version = Number(f.slice(0, 3));
    if (version !== i + 1) throw new StoreError(`PostgreSQL migration ${f} is out of sequence: expected number ${String(i + 1).padStart(3, "0")}.`);
    return { version, name: f.slice(4, -4), sql: readFileSync(new URL(f, DIR), "utf8") };
  });
  if (list.length === 0) throw new StoreError(`No PostgreSQL migrations found in ${DIR.pathname}: the package is incomplete. Reinstall flyte-ts.`);
  return (loaded = list);
}

export const latestPgVersion = (): number => pgMigrations().at(-1)!.version;

/**
 * Brings the database to `target` (default: the latest version); returns the version it was at before.
 * A database written by a newer flyte-ts is refused, untouched.
 */
export async function migrate(client: pg.ClientBase, where: string, target = latestPgVersion()): Promise<number> {
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
    await client.query(
      "CREATE TABLE IF NOT EXISTS flyte_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    const r = await client.query<{ v: number | null }>("SELECT max(version) AS v FROM flyte_schema_migrations");
    const current = r.rows[0]?.v ?? 0;
    const latest = latestPgVersion();
    if (current > latest) {
      throw new StoreError(
        `The database ${where} was written by a newer flyte-ts (schema ${current}, this version knows ${latest}). Upgrade flyte-ts on this machine, or point store.databaseUrl at another database.`,
        { code: "SchemaTooNew" },
      );
    }
    for (const m of pgMigrations()) {
      if (m.version <= current || m.version > target) continue;
      await client.query(m.sql);
      await client.query("INSERT INTO flyte_schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
    }
    await client.query("COMMIT");
    return current;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw e;
  }
}

/** The schema version of the database (0 when it has none). */
export async function schemaVersion(client: pg.ClientBase | pg.Pool): Promise<number> {
  const exists = await client.query<{ t: string | null }>("SELECT to_regclass('flyte_schema_migrations')::text AS t");
  if (!exists.rows[0]?.t) return 0;
  const r = await client.query<{ v: number | null }>("SELECT max(version) AS v FROM flyte_schema_migrations");
  return r.rows[0]?.v ?? 0;
}
