import { describe, it, expect } from "vitest";
import { ValidationError } from "../errors.ts";
import { Documentation, type Link } from "./documentation.ts";

describe("Documentation", () => {
  it("keeps the description and is frozen", () => {
    const d = new Documentation({ description: "Trains the model." });
    expect(d.description).toBe("Trains the model.");
    expect(Object.isFrozen(d)).toBe(true);
    expect(Documentation({ description: "" })).toBeInstanceOf(Documentation);
  });
  it("truncates descriptions over 255 characters", () => {
    const d = new Documentation({ description: "x".repeat(300) });
    expect(d.description).toBe(`${"x".repeat(252)}...`);
  });
  it("rejects a non-string description", () => {
    const f = () => new Documentation({ description: 3 } as never);
    expect(f).toThrow(ValidationError);
    expect(f).toThrow(/Documentation: description must be a string, got 3/);
  });
  it("rejects unknown options", () => {
    const f = () => new Documentation({ description: "", descripton: "" } as never);
    expect(f).toThrow(ValidationError);
    expect(f).toThrow(/Unknown option "descripton" for Documentation. Did you mean "description"\?/);
  });
});

describe("Link", () => {
  it("is a plain object with getLink", () => {
    const l: Link = { name: "Logs", getLink: ({ runName, actionName }) => `https://logs.example.com/${runName}/${actionName}` };
    const p = { runName: "r1", project: "p", domain: "d", context: {}, parentActionName: "a0", actionName: "a1", podName: "pod" };
    expect(l.getLink(p)).toBe("https://logs.example.com/r1/a1");
  });
});
