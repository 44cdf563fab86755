/**
 * Test support: a throwaway OCI registry (Debian's `docker-registry`, i.e. distribution v2) on a free loopback
 * port with its storage in a temp folder. Missing binaries fail loudly with what to install: image tests must
 * not silently skip in CI, which installs them (.ci/run).
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** Absolute path of an executable on PATH (or the given absolute path if it exists). */
export function findExecutable(name: string, extra: readonly string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin", "/usr/bin"];
  for (const p of [...extra, ...dirs.map((d) => join(d, name))]) if (p && existsSync(p)) return p;
  return undefined;
}

/** Throws, naming the package to install, unless every tool is present. */
export function requireTools(tools: Record<string, string>): void {
  const missing = Object.entries(tools).filter(([bin]) => !findExecutable(bin));
  if (missing.length) {
    throw new Error(
      `Image tests need ${missing.map(([b]) => b).join(" and ")} installed. Install with: apt-get install -y ${missing.map(([, pkg]) => pkg).join(" ")} (CI's .ci/run does this).`,
    );
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestRegistry {
  /** `127.0.0.1:<port>` style host to use in image URIs (loopback, so plain HTTP). */
  readonly host: string;
  stop(): Promise<void>;
}

/** Starts `docker-registry serve` and waits until `/v2/` answers. */
export async function startRegistry(): Promise<TestRegistry> {
  requireTools({ "docker-registry": "docker-registry" });
  const dir = mkdtempSync(join(tmpdir(), "flyte-registry-"));
  const port = await freePort();
  const config = join(dir, "config.yml");
  writeFileSync(
    config,
    ["version: 0.1", "log:", "  level: warn", "storage:", "  filesystem:", `    rootdirectory: ${join(dir, "data")}`, "  delete:", "    enabled: true", "http:", `  addr: 127.0.0.1:${port}`, ""].join("\n"),
  );
  const child: ChildProcess = spawn(findExecutable("docker-registry")!, ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const host = `localhost:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}) before answering:\n${stderr}`);
    try {
      const res = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`docker-registry did not answer on ${host} within 15 s:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
