/**
 * `flyte dev cluster [--port N] [--data-dir D]`: a local PostgreSQL for trying the cluster backend, in one command.
 * Runs in the foreground until SIGINT/SIGTERM, then stops PostgreSQL (a fast shutdown) and exits 0. The data stays
 * between starts: `.flyte/dev-postgres` in the current directory, or, under root (PostgreSQL then runs as the
 * `postgres` user, which cannot reach root's home), `/tmp/flyte-dev-postgres-<hash of the current directory>`.
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import type { Command } from "commander";
import { startLocalPostgres } from "../../dev/postgres.ts";
import { InitializationError } from "../../errors.ts";
import { cliIo } from "../context.ts";
import { UsageError } from "../load-task.ts";

/** The local server's password: it listens on 127.0.0.1 only. */
const PASSWORD = "flyte";
const DATABASE = "flyte";

/** Where the data lives when --data-dir is not given (see the file comment). */
export function defaultDevDataDir(cwd = process.cwd()): string {
  if (process.getuid?.() === 0) return `/tmp/flyte-dev-postgres-${createHash("sha256").update(resolve(cwd)).digest("hex").slice(0, 10)}`;
  return resolve(cwd, ".flyte", "dev-postgres");
}

export function registerDevCommand(program: Command): void {
  const dev = program.command("dev").description("Local development helpers");
  dev.command("cluster").description("Start a local PostgreSQL for backend: cluster (foreground; Ctrl-C stops it, the data stays)")
    .option("--port <n>", "port on 127.0.0.1", "5432")
    .option("--data-dir <dir>", "PostgreSQL data dir (default: .flyte/dev-postgres, under root /tmp/flyte-dev-postgres-<hash>)")
    .action(async (o: { port: string; dataDir?: string }, cmd: Command) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port expects a port number 1-65535, got ${JSON.stringify(o.port)}.`);
      const dataDir = resolve(o.dataDir ?? defaultDevDataDir());
      const io = cliIo(cmd);
      io.stderr.write(`Starting PostgreSQL on 127.0.0.1:${port} (data: ${dataDir}) ...\n`);
      // Signals that arrive while it starts stop it as soon as it is up.
      let stopRequested: string | undefined;
      const early = (s: NodeJS.Signals) => void (stopRequested = s);
      process.on("SIGINT", early);
      process.on("SIGTERM", early);
      let server;
      try {
        server = await startLocalPostgres({ dataDir, port, password: PASSWORD });
      } finally {
        process.off("SIGINT", early);
        process.off("SIGTERM", early);
      }
      let url: string;
      try {
        url = await server.ensureDatabase(DATABASE);
      } catch (e) {
        await server.stop();
        throw e;
      }
      const storage = resolve(".flyte", "blobs");
      io.stdout.write([
        `PostgreSQL is running on 127.0.0.1:${port} (pid ${server.pid}); data in ${dataDir} (kept between starts).`,
        "",
        `FLYTE_DATABASE_URL=${url}`,
        "",
        "Next, in another terminal in your project:",
        "  flyte gen config --backend cluster",
        "    # then in .flyte/config.yaml set:",
        `    #   store.databaseUrl: ${url}`,
        "    #   storage.url: .flyte/blobs    (and delete the storage.s3 line)",
        "  # or, without a config file:",
        `  #   export FLYTE_BACKEND=cluster FLYTE_DATABASE_URL=${url} FLYTE_STORAGE_URL=${storage}`,
        "  flyte deploy <file.ts>",
        "  flyte worker --env <env>          # in a terminal of its own; start as many as you like",
        "  flyte run --remote <file.ts> <task> --follow",
        "",
        "Stop with Ctrl-C.",
        "",
      ].join("\n"));
      const signal = await new Promise<string>((done) => {
        if (stopRequested) return done(stopRequested);
        const on = (s: NodeJS.Signals) => done(s);
        process.once("SIGINT", on);
        process.once("SIGTERM", on);
        // A Ctrl-C in the terminal reaches PostgreSQL (same process group) as well: its exit then is no surprise.
        void server.exited.then(() => setTimeout(() => done("exited"), 500));
      });
      if (signal === "exited") {
        io.stderr.write(`PostgreSQL exited by itself. Its last log lines:\n${server.log().trim().split("\n").slice(-5).join("\n")}\n`);
        throw new InitializationError("PostgreSQL stopped unexpectedly (see its log above); start it again with: flyte dev cluster", { code: "PostgresExited" });
      }
      io.stderr.write(`${signal}: stopping PostgreSQL ...\n`);
      await server.stop();
      io.stderr.write(`PostgreSQL stopped; the data stays in ${dataDir}.\n`);
    });
}
