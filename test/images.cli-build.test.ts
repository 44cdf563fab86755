/**
 * `flyte build` end to end: the real CLI binary loads a user file, builds its environments' images with
 * buildah (a private vfs store via CONTAINERS_STORAGE_CONF), pushes them to a registry started here, and
 * reports `built` then `exists`.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireTools, startRegistry, type TestRegistry } from "../src/images/testing/registry.ts";

const BIN = fileURLToPath(new URL("../bin/flyte.js", import.meta.url));
const INDEX = new URL("../src/index.ts", import.meta.url).href;

let registry: TestRegistry;
let dir: string;
let env: NodeJS.ProcessEnv;

async function flyte(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args], { cwd: dir, env });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

beforeAll(async () => {
  requireTools({ buildah: "buildah", "docker-registry": "docker-registry" });
  registry = await startRegistry();
  dir = mkdtempSync(join(tmpdir(), "flyte-cli-build-"));
  mkdirSync(join(dir, "store"));
  writeFileSync(join(dir, "storage.conf"), `[storage]\ndriver = "vfs"\nrunroot = "${join(dir, "store", "run")}"\ngraphroot = "${join(dir, "store", "root")}"\n`);
  env = { ...process.env, CONTAINERS_STORAGE_CONF: join(dir, "storage.conf"), FLYTE_CONFIG: join(dir, "config.yaml") };
  writeFileSync(join(dir, "config.yaml"), `image:\n  builder: buildah\n  registry: ${registry.host}/cli\n`);
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  writeFileSync(join(dir, "message.txt"), "built by flyte build\n");
  writeFileSync(
    join(dir, "envs.ts"),
    `import { Image, TaskEnvironment } from ${JSON.stringify(INDEX)};
const base = Image.fromBaseImage("scratch").clone({ name: "app" });
export const shared = new TaskEnvironment({ name: "shared", image: base.withSourceFile(new URL("./message.txt", import.meta.url), "/") });
export const main = new TaskEnvironment({ name: "main", image: base.withEnvVars({ ROLE: "main" }), dependsOn: [shared] });
export const prebuilt = new TaskEnvironment({ name: "prebuilt", image: "ghcr.io/acme/prebuilt:1" });
`,
  );
});
afterAll(async () => {
  await registry?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("flyte build", () => {
  it("builds and pushes an environment's image and its dependsOn, then reports them as existing", async () => {
    const first = await flyte("build", "envs.ts", "main");
    expect(first.stderr).toMatch(/→ building localhost:\d+\/cli\/app:[0-9a-f]{32} with buildah/);
    expect(first.code, first.stderr).toBe(0);
    const lines = first.stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^localhost:\d+\/cli\/app:[0-9a-f]{32}\s+built\s+shared$/);
    expect(lines[1]).toMatch(/^localhost:\d+\/cli\/app:[0-9a-f]{32}\s+built\s+main$/);

    const again = await flyte("build", "envs.ts");
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/cli\/app:[0-9a-f]{32}\s+exists\s+shared/);
    expect(again.stdout).toMatch(/cli\/app:[0-9a-f]{32}\s+exists\s+main/);
    expect(again.stdout).toMatch(/ghcr.io\/acme\/prebuilt:1\s+exists\s+prebuilt/);
  });

  it("--force --no-push rebuilds locally; --output-format json prints the results", async () => {
    const r = await flyte("--output-format", "json", "build", "envs.ts", "shared", "--force", "--no-push");
    expect(r.code, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout) as { uri: string; built: boolean; environments: string[] }[];
    expect(results).toEqual([{ uri: expect.stringMatching(/cli\/app:/), built: true, environments: ["shared"] }]);
    expect(r.stderr).not.toContain("pushed");
  });

  it("exits 2 naming the environments when the one asked for does not exist, or the builder is unknown", async () => {
    const missing = await flyte("build", "envs.ts", "nope");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('envs.ts has no environment named "nope". Environments: shared, main, prebuilt.');
    const badBuilder = await flyte("build", "envs.ts", "--builder", "podman");
    expect(badBuilder.code).toBe(2);
    expect(badBuilder.stderr).toContain('--builder must be "docker" or "buildah"');
  });
});
