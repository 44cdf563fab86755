import { describe, expect, it } from "vitest";
import { ValidationError } from "../errors.ts";
import { TaskEnvironment } from "./task-environment.ts";

let seq = 0;
function square() {
  const env = new TaskEnvironment({ name: `tt-${process.pid}-${++seq}` });
  const task = env.task(async function square({ x }: { x: number }) {
    return x * x;
  });
  return { env, task };
}

// env.task() and override() share one set of option checks: override refuses what a definition refuses.
describe("override checks its options as a task definition does", () => {
  it.each([
    ["queue", 5, "queue must be a string, got 5."],
    ["interruptible", "yes", 'interruptible must be true or false, got "yes".'],
    ["entrypoint", 1, "entrypoint must be true or false, got 1."],
    ["podTemplate", 3, "podTemplate must be a PodTemplate name or a PodTemplate, got 3."],
    ["maxInlineIoBytes", 0, "maxInlineIoBytes must be a positive integer number of bytes, got 0. Example: 20 * 1024 * 1024."],
  ])("%s: %j", (option, value, message) => {
    const { env, task } = square();
    const define = () => env.task({ name: `defined_${option}`, [option]: value }, async () => 1);
    expect(define).toThrow(ValidationError);
    expect(define).toThrow(message);
    let err: unknown;
    try {
      task.override({ [option]: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toBe(`Task "${env.name}.square": ${message}`);
    expect((err as ValidationError & { field?: string }).field).toBe(option);
  });
});
