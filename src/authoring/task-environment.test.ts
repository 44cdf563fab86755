import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
// Only authoring/: the sandbox module (which registers `env.sandbox`) is not loaded in this file.
import { TaskEnvironment } from "./task-environment.ts";

describe("env.sandbox without the sandbox module", () => {
  it("says how to load it", () => {
    const env = new TaskEnvironment({ name: "no-sandbox" });
    expect(() => env.sandbox).toThrow(ValidationError);
    expect(() => env.sandbox).toThrow(`env.sandbox: the sandbox module is not loaded. Import TaskEnvironment from "flyte-ts", which loads it.`);
  });
});
