/** The `flyte` program as a module: importing it starts nothing, and every verb is registered by buildProgram(). */
import { describe, expect, it } from "vitest";
import { flyteIn } from "./helpers/cli.ts";
import { REPO } from "./helpers/runtime.ts";

describe("the CLI module", () => {
  it("importing src/cli/main.ts runs no command and installs no handlers", async () => {
    const listeners = process.stdout.listenerCount("error");
    const exitCode = process.exitCode;
    const { buildProgram, main, runCli } = await import("../src/cli/main.ts");
    expect(typeof main).toBe("function");
    expect(typeof runCli).toBe("function");
    expect(process.stdout.listenerCount("error")).toBe(listeners);
    expect(process.exitCode).toBe(exitCode);
    const verbs = buildProgram().commands.map((c) => c.name()).sort();
    expect(verbs).toEqual(["abort", "build", "cache", "clustered", "delete", "deploy", "dev", "gen", "get", "k8s", "recover", "run", "secret", "serve", "ui", "update", "worker"]);
  });

  it("prints help and the version through the streams it is given", async () => {
    const help = await flyteIn(REPO, ["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: flyte \[options\] \[command\]/);
    for (const verb of ["run", "recover", "get", "abort", "cache", "secret", "gen", "build", "deploy", "k8s", "worker"]) expect(help.stdout).toMatch(new RegExp(`\\n  ${verb} `));
    const version = await flyteIn(REPO, ["--version"]);
    expect(version).toEqual({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/), stderr: "" });
    expect(await flyteIn(REPO, ["-V"])).toEqual(version);
    expect(await flyteIn(REPO, ["--config", "nope.yaml", "--version"])).toEqual(version);
  });
});
