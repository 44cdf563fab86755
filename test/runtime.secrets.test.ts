import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { Secret, TaskEnvironment, getSecret, run, withRunContext } from "flyte-ts";
import { SecretNotFoundError } from "flyte-ts/errors";
import { LocalSecretStore } from "../src/secrets/secret-store.ts";
import { freshRuntime } from "./helpers/runtime.ts";

let root: string;
beforeAll(async () => {
  root = await freshRuntime("flyte-secrets-");
  const store = new LocalSecretStore(join(root, ".flyte"));
  store.set({ key: "db-password" }, "hunter2-hunter2");
  store.set({ key: "token", group: "github" }, "ghp_abcdef123456");
});

describe("secrets in attempts", () => {
  it("injects env vars and mounted files, and getSecret() reads requested secrets", async () => {
    const env = new TaskEnvironment({
      name: "sec-env",
      secrets: ["db-password", new Secret({ key: "token", group: "github", mount: "/etc/flyte/secrets" })],
    });
    let mountedPath = "";
    const t = env.task(async function readSecrets() {
      mountedPath = join(process.env.FLYTE_SECRETS_DIR!, "github", "token");
      // Secret values cannot be returned (outputs are stored), so the task reports what it saw.
      return {
        env: process.env.DB_PASSWORD === "hunter2-hunter2",
        get: getSecret("db-password") === "hunter2-hunter2",
        grouped: getSecret("token", { group: "github" }) === "ghp_abcdef123456",
        file: readFileSync(mountedPath, "utf8") === "ghp_abcdef123456",
      };
    });
    const r = await run(t);
    expect(await r.outputs()).toEqual({ env: true, get: true, grouped: true, file: true });
    expect(existsSync(mountedPath)).toBe(false);
    expect(process.env.DB_PASSWORD).toBeUndefined();
  });

  it("a missing secret fails the attempt with SecretNotFoundError and is not retried", async () => {
    const env = new TaskEnvironment({ name: "sec-missing", secrets: ["nope"] });
    let calls = 0;
    const t = env.task({ retries: 3 }, async function needsMissing() {
      calls++;
      return 1;
    });
    const r = await run(t);
    const e = await r.outputs().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SecretNotFoundError);
    expect((e as Error).message).toMatch(/Secret "nope" was not found in the secret store. Create it with: flyte secret create nope/);
    expect(calls).toBe(0);
    expect((await r.details()).root.attempts).toHaveLength(1);
  });

  it("getSecret() for a secret the task did not request names it", async () => {
    const env = new TaskEnvironment({ name: "sec-unrequested" });
    const t = env.task(async function sneaky() {
      return getSecret("db-password");
    });
    const e = await (await run(t)).outputs().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SecretNotFoundError);
    expect((e as Error).message).toMatch(/Secret "db-password" was not requested by this task/);
    expect(() => getSecret("db-password")).toThrow(/called outside a running task/);
  });

  it("redacts secret values from logs and error messages", async () => {
    const env = new TaskEnvironment({ name: "sec-redact", secrets: ["db-password"] });
    const t = env.task(async function leaky() {
      console.log(`password is ${getSecret("db-password")}`);
      throw new Error(`could not log in with ${getSecret("db-password")}`);
    });
    const r = await run(t);
    await r.wait();
    const lines: string[] = [];
    for await (const l of r.logs()) lines.push(l.message);
    expect(lines).toEqual(["password is ****"]);
    expect((await r.details()).error?.message).toBe("could not log in with ****");
  });

  it("warns when concurrent actions set the same env var to different values", async () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => undefined);
    const env = new TaskEnvironment({ name: "env-conflict" });
    // Each attempt waits for the other to have started, so the two certainly hold the variable at once.
    let arrived = 0;
    let bothIn!: () => void;
    const together = new Promise<void>((r) => (bothIn = r));
    const a = env.task(async function setterA() {
      if (++arrived === 2) bothIn();
      await together;
      return process.env.SHARED_VAR;
    });
    const b = a.override({ envVars: { SHARED_VAR: "b" } });
    const aa = a.override({ envVars: { SHARED_VAR: "a" } });
    const p = env.task(async function conflictParent() {
      return Promise.all([aa(), b()]);
    });
    try {
      expect(await (await withRunContext({}).run(p)).wait()).toBe("succeeded");
      const warnings = warn.mock.calls.map((c) => String(c[0])).filter((m) => m.includes("SHARED_VAR"));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^Environment variable SHARED_VAR is set to different values by concurrently running actions \(now r[0-9a-z]+\/[0-9a-z]+\)\. In local mode they share process\.env/);
    } finally {
      warn.mockRestore();
    }
  });
});
