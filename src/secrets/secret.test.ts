import { createHash } from "node:crypto";
import { describe, it, expect } from "vitest";
import { ValidationError } from "../errors.ts";
import { Secret, normalizeSecrets } from "./secret.ts";

const bad = (f: () => unknown, re: RegExp) => {
  expect(f).toThrow(ValidationError);
  expect(f).toThrow(re);
};

describe("Secret", () => {
  it("derives asEnvVar from the key", () => {
    const s = new Secret({ key: "db-password" });
    expect([s.key, s.group, s.mount, s.asEnvVar]).toEqual(["db-password", undefined, undefined, "DB_PASSWORD"]);
    expect(Object.isFrozen(s)).toBe(true);
  });
  it("derives asEnvVar from group and key", () => expect(Secret({ key: "token", group: "git-hub" }).asEnvVar).toBe("GIT_HUB_TOKEN"));
  it("keeps an explicit asEnvVar", () => expect(new Secret({ key: "token", asEnvVar: "GH_TOKEN" }).asEnvVar).toBe("GH_TOKEN"));
  it("has no env var when only mounted", () => {
    const s = new Secret({ key: "cert", mount: "/etc/flyte/secrets" });
    expect(s.mount).toBe("/etc/flyte/secrets");
    expect(s.asEnvVar).toBeUndefined();
  });
  it("can be both mounted and an env var", () => {
    const s = new Secret({ key: "cert", mount: "/etc/flyte/secrets", asEnvVar: "CERT" });
    expect([s.mount, s.asEnvVar]).toEqual(["/etc/flyte/secrets", "CERT"]);
  });
  it("hashes key|group|mount|asEnvVar after defaults", () => {
    const sha = (s: string) => createHash("sha256").update(s).digest("hex");
    expect(new Secret({ key: "k" }).stableHash()).toBe(sha("k|||K"));
    expect(new Secret({ key: "k", group: "g", mount: "/etc/flyte/secrets" }).stableHash()).toBe(sha("k|g|/etc/flyte/secrets|"));
  });
  it("rejects another mount path", () => bad(() => new Secret({ key: "k", mount: "/secrets" as never }), /Secret: mount must be "\/etc\/flyte\/secrets", got "\/secrets"/));
  it("rejects an invalid asEnvVar", () => bad(() => new Secret({ key: "k", asEnvVar: "my-var" }), /Secret: asEnvVar "my-var" is not a valid environment variable name/));
  it("rejects a key whose derived env var is invalid", () =>
    bad(() => new Secret({ key: "db.password" }), /Secret: asEnvVar "DB.PASSWORD" \(derived from key "db.password"\) is not a valid environment variable name/));
  it("rejects an empty key", () => bad(() => new Secret({ key: "" }), /Secret: key must be a non-empty string, got ""/));
  it("rejects a non-string group", () => bad(() => new Secret({ key: "k", group: 1 as never }), /Secret: group must be a non-empty string, got 1/));
  it("rejects unknown options", () => bad(() => new Secret({ key: "k", as_env_var: "K" } as never), /Unknown option "as_env_var" for Secret. Did you mean "asEnvVar"\?/));
});

describe("normalizeSecrets", () => {
  it("accepts a string, a Secret, or an array of both", () => {
    expect(normalizeSecrets(undefined, "env")).toEqual([]);
    expect(normalizeSecrets("a", "env").map((s) => s.key)).toEqual(["a"]);
    const s = new Secret({ key: "b" });
    expect(normalizeSecrets(s, "env")[0]).toBe(s);
    const list = normalizeSecrets(["a", s], "env");
    expect(list.map((x) => x.asEnvVar)).toEqual(["A", "B"]);
    expect(list.every((x) => x instanceof Secret)).toBe(true);
    expect(Object.isFrozen(list)).toBe(true);
  });
  it("rejects other shapes, naming the owner", () => {
    bad(() => normalizeSecrets({ key: "a" } as never, "TaskEnvironment"), /^TaskEnvironment: secrets must be a string, a Secret, or an array of them, got \{"key":"a"\}/);
    bad(() => normalizeSecrets(["a", 3] as never, "TaskEnvironment"), /^TaskEnvironment: secrets must be a string, a Secret, or an array of them/);
  });
});
