/**
 * API.md §15: every error class of flyte-ts/errors, its code, kind, name, parent class and constructor shape,
 * CustomError.fromError, and the record round trip used when an error crosses an action boundary (§15.3).
 */
import { describe, expect, it } from "vitest";
import * as errors from "flyte-ts/errors";
import {
  ActionAbortedError, ActionNotFoundError, BaseRuntimeError, CodeBundleError, CustomError, DeploymentError, FlyteError,
  ImageBuildError, ImagePullBackOffError, InitializationError, InlineIOMaxBytesBreached, InvalidImageNameError,
  LogsNotYetAvailableError, ModuleLoadError, NonRecoverableError, NotInTaskContextError, OOMError,
  PrimaryContainerNotFoundError, RemoteTaskNotFoundError, RestrictedTypeError, RetriesExhaustedError,
  RunAlreadyExistsError, RunNotFoundError, RuntimeDataValidationError, RuntimeSystemError, RuntimeUnknownError,
  RuntimeUserError, SandboxError, SandboxMemoryError, SandboxTimeoutError, SandboxViolationError, SecretNotFoundError,
  StoreError, TaskInterruptedError, TaskTimeoutError, TraceDoesNotAllowNestedTasksError, TypeTransformerFailedError,
  ValidationError,
} from "flyte-ts/errors";
import { errorFromRecord, errorToRecord } from "../src/errors.ts";

type MessageCtor = new (message: string, o?: { cause?: unknown; code?: string }) => FlyteError;

/** [class, parent, default code] for every class constructed as `new X(message, { cause?, code? })`. */
const MESSAGE_CLASSES: Array<[MessageCtor, Function, string]> = [
  [ValidationError, FlyteError, "ValidationError"],
  [InitializationError, BaseRuntimeError, "InitializationError"],
  [OOMError, RuntimeUserError, "OOMError"],
  [TaskInterruptedError, RuntimeUserError, "TaskInterruptedError"],
  [PrimaryContainerNotFoundError, RuntimeUserError, "PrimaryContainerNotFoundError"],
  [TaskTimeoutError, RuntimeUserError, "TaskTimeoutError"],
  [RetriesExhaustedError, RuntimeUserError, "RetriesExhaustedError"],
  [InvalidImageNameError, RuntimeUserError, "InvalidImageNameError"],
  [ImagePullBackOffError, RuntimeUserError, "ImagePullBackOffError"],
  [CustomError, RuntimeUserError, "CustomError"],
  [NotInTaskContextError, RuntimeUserError, "NotInTaskContextError"],
  [ActionNotFoundError, FlyteError, "ActionNotFoundError"],
  [RunNotFoundError, ActionNotFoundError, "RunNotFoundError"],
  [RunAlreadyExistsError, RuntimeUserError, "RunAlreadyExistsError"],
  [RemoteTaskNotFoundError, RuntimeUserError, "RemoteTaskNotFoundError"],
  [LogsNotYetAvailableError, BaseRuntimeError, "LogsNotYetAvailable"],
  [RuntimeDataValidationError, RuntimeUserError, "DataValidationError"],
  [TypeTransformerFailedError, RuntimeUserError, "TypeTransformerFailed"],
  [RestrictedTypeError, RuntimeUserError, "RestrictedTypeUsage"],
  [InlineIOMaxBytesBreached, RuntimeUserError, "InlineIOMaxBytesBreached"],
  [DeploymentError, RuntimeUserError, "DeploymentError"],
  [ImageBuildError, RuntimeUserError, "ImageBuildError"],
  [ModuleLoadError, RuntimeUserError, "ModuleLoadError"],
  [CodeBundleError, RuntimeUserError, "CodeBundleError"],
  [ActionAbortedError, RuntimeUserError, "ActionAbortedError"],
  [SecretNotFoundError, RuntimeUserError, "SecretNotFoundError"],
  [TraceDoesNotAllowNestedTasksError, RuntimeUserError, "TraceDoesNotAllowNestedTasksError"],
  [NonRecoverableError, RuntimeUserError, "NonRecoverableError"],
  [SandboxError, RuntimeUserError, "SandboxError"],
  [SandboxTimeoutError, SandboxError, "SandboxTimeout"],
  [SandboxMemoryError, SandboxError, "SandboxMemoryLimit"],
  [SandboxViolationError, SandboxError, "SandboxViolation"],
  [StoreError, RuntimeSystemError, "StoreError"],
];
const SYSTEM = new Set<Function>([StoreError]);

const rows = MESSAGE_CLASSES.map(([cls, parent, code]) => ({ cls, parent, code, name: cls.name }));

describe("flyte-ts/errors exports", () => {
  it("exports every class of §15 as a FlyteError class", () => {
    const expected = ["FlyteError", "BaseRuntimeError", "RuntimeSystemError", "RuntimeUserError", "RuntimeUnknownError", ...rows.map((r) => r.name)];
    expect(expected).toHaveLength(38);
    for (const name of expected) {
      const value = (errors as Record<string, unknown>)[name] as Function | undefined;
      expect(typeof value, name).toBe("function");
      expect(value === FlyteError || value!.prototype instanceof FlyteError, name).toBe(true);
      expect(value!.name).toBe(name);
    }
  });
});

describe("classes constructed with (message, { cause?, code? })", () => {
  it.each(rows)("$name: name, default code, kind, parent and message", ({ cls, parent, code, name }) => {
    const e = new cls("something failed");
    expect(e).toBeInstanceOf(cls);
    expect(e).toBeInstanceOf(parent);
    expect(e).toBeInstanceOf(FlyteError);
    expect(e).toBeInstanceOf(Error);
    expect(cls.prototype).toBeInstanceOf(parent);
    expect(e.name).toBe(name);
    expect(e.code).toBe(code);
    expect(e.kind).toBe(SYSTEM.has(cls) ? "system" : "user");
    expect(e.message).toBe("something failed");
    expect(String(e)).toBe(`${name}: something failed`);
  });

  it.each(rows)("$name: keeps the cause and accepts a code", ({ cls }) => {
    const cause = new Error("root");
    const e = new cls("wrapped", { cause, code: "Custom42" });
    expect(e.cause).toBe(cause);
    expect(e.code).toBe("Custom42");
  });

  it("makes every runtime class a BaseRuntimeError except the flyte-ts-only roots", () => {
    for (const { cls, name } of rows) {
      const isRuntime = new cls("m") instanceof BaseRuntimeError;
      expect(isRuntime, name).toBe(!["ValidationError", "ActionNotFoundError", "RunNotFoundError"].includes(name));
    }
  });
});

describe("FlyteError and the runtime base classes", () => {
  it("FlyteError is the root, kind user by default", () => {
    const e = new FlyteError("root");
    expect([e.name, e.code, e.kind, e.message]).toEqual(["FlyteError", "FlyteError", "user", "root"]);
    expect(Object.getPrototypeOf(FlyteError)).toBe(Error);
  });

  it("BaseRuntimeError takes (code, kind, message, worker?)", () => {
    const e = new BaseRuntimeError("WorkerCrashed", "system", "worker died", "worker-3");
    expect(e).toBeInstanceOf(FlyteError);
    expect([e.name, e.code, e.kind, e.message, e.worker]).toEqual(["BaseRuntimeError", "WorkerCrashed", "system", "worker died", "worker-3"]);
    expect(new BaseRuntimeError("X", "unknown", "m").worker).toBeUndefined();
  });

  it.each([
    [RuntimeSystemError, "system"],
    [RuntimeUserError, "user"],
    [RuntimeUnknownError, "unknown"],
  ] as const)("%o takes (code, message, o?) and fixes kind %s", (cls, kind) => {
    const cause = new Error("c");
    const e = new cls("OwnerLost", "the owner died", { cause });
    expect(e).toBeInstanceOf(BaseRuntimeError);
    expect(Object.getPrototypeOf(cls)).toBe(BaseRuntimeError);
    expect([e.name, e.code, e.kind, e.message, e.cause]).toEqual([cls.name, "OwnerLost", kind, "the owner died", cause]);
  });

  it("ValidationError carries the offending field", () => {
    const e = new ValidationError("bad", { field: "image" });
    expect(e.field).toBe("image");
    expect(new ValidationError("bad").field).toBeUndefined();
  });

  it("TaskTimeoutError carries the bound, maxRuntime by default", () => {
    expect(new TaskTimeoutError("slow", { bound: "deadline" }).bound).toBe("deadline");
    expect(new TaskTimeoutError("slow").bound).toBe("maxRuntime");
  });

  it("RuntimeDataValidationError carries taskName, field, direction and issues", () => {
    const issues = [{ code: "invalid_type", path: "x", message: "Expected number, received string", expected: "number", received: "string" }];
    const e = new RuntimeDataValidationError('Task "env.add": input "x" is invalid: Expected number, received string', {
      taskName: "env.add", field: "x", direction: "input", issues,
    });
    expect([e.taskName, e.field, e.direction, e.issues]).toEqual(["env.add", "x", "input", issues]);
    expect(e.code).toBe("DataValidationError");
  });

  it("NonRecoverableError's code is overridable", () => {
    expect(new NonRecoverableError("stop", { code: "BadInput" }).code).toBe("BadInput");
  });

  it("instanceof also recognises an error made by another copy of the module", () => {
    // Simulates a second copy of flyte-ts (another bundle or realm): same class name, different class object.
    class OOMError extends Error {}
    const foreign = new OOMError("oom");
    Object.defineProperty(foreign, Symbol.for("flyte-ts.error"), { value: true });
    expect(foreign).toBeInstanceOf(errors.OOMError);
    expect(foreign).not.toBeInstanceOf(errors.TaskTimeoutError);
    expect(new Error("plain")).not.toBeInstanceOf(FlyteError);
  });
});

describe("CustomError.fromError", () => {
  it("uses the error's name as the code and keeps its message and the cause", () => {
    const original = new RangeError("index 9 out of range");
    const e = CustomError.fromError(original);
    expect(e).toBeInstanceOf(CustomError);
    expect(e).toBeInstanceOf(RuntimeUserError);
    expect([e.name, e.code, e.kind, e.message, e.cause]).toEqual(["CustomError", "RangeError", "user", "index 9 out of range", original]);
  });

  it("wraps a thrown non-error value", () => {
    const e = CustomError.fromError("just a string");
    expect([e.code, e.message, e.cause]).toEqual(["CustomError", "just a string", "just a string"]);
  });

  it("accepts a user-chosen code through the constructor", () => {
    expect(new CustomError("quota exceeded", { code: "QuotaExceeded" }).code).toBe("QuotaExceeded");
  });
});

describe("errors across an action boundary (record round trip, §15.3)", () => {
  const roundTrip = <E>(e: E) => errorFromRecord(errorToRecord(e));

  it.each(rows)("$name comes back as the same class with name, code, kind and message", ({ cls, name }) => {
    const back = roundTrip(new cls("went wrong"));
    expect(back).toBeInstanceOf(cls);
    expect(back.constructor).toBe(cls);
    expect([back.name, back.code, back.kind, back.message]).toEqual([name, new cls("x").code, new cls("x").kind, "went wrong"]);
  });

  it.each([RuntimeSystemError, RuntimeUserError, RuntimeUnknownError])("%o keeps its own code", (cls) => {
    const back = roundTrip(new cls("OwnerLost", "owner process died"));
    expect(back.constructor).toBe(cls);
    expect([back.code, back.message]).toEqual(["OwnerLost", "owner process died"]);
  });

  it("BaseRuntimeError keeps code and kind", () => {
    const back = roundTrip(new BaseRuntimeError("Weird", "unknown", "m"));
    expect(back.constructor).toBe(BaseRuntimeError);
    expect([back.code, back.kind]).toEqual(["Weird", "unknown"]);
  });

  it("keeps a user-chosen code", () => {
    const back = roundTrip(new CustomError("quota", { code: "QuotaExceeded" }));
    expect(back).toBeInstanceOf(CustomError);
    expect(back.code).toBe("QuotaExceeded");
  });

  it("keeps TaskTimeoutError.bound", () => {
    const back = roundTrip(new TaskTimeoutError("too slow", { bound: "maxQueuedTime" }));
    expect(back).toBeInstanceOf(TaskTimeoutError);
    expect((back as TaskTimeoutError).bound).toBe("maxQueuedTime");
  });

  it("keeps RuntimeDataValidationError's taskName, field, direction and issues", () => {
    const issues = [{ code: "invalid_type", path: "items.3.price", message: "Expected number, received string", expected: "number", received: "string" }];
    const back = roundTrip(new RuntimeDataValidationError("bad", { taskName: "shop.total", field: "items.3.price", direction: "output", issues })) as RuntimeDataValidationError;
    expect(back).toBeInstanceOf(RuntimeDataValidationError);
    expect([back.taskName, back.field, back.direction, back.issues]).toEqual(["shop.total", "items.3.price", "output", issues]);
  });

  it("keeps ValidationError.field", () => {
    const back = roundTrip(new ValidationError("bad", { field: "retries" })) as ValidationError;
    expect(back).toBeInstanceOf(ValidationError);
    expect(back.field).toBe("retries");
  });

  it("records the extra fields and the stack, and leaves unset extras out", () => {
    const r = errorToRecord(new TaskTimeoutError("slow", { bound: "deadline" }));
    expect(r).toMatchObject({ name: "TaskTimeoutError", code: "TaskTimeoutError", kind: "user", message: "slow", extra: { bound: "deadline" } });
    expect(r.stack).toContain("TaskTimeoutError: slow");
    expect(errorToRecord(new OOMError("oom")).extra).toBeUndefined();
  });

  it("turns any other thrown error into a RuntimeUserError whose code is the original name", () => {
    const r = errorToRecord(new TypeError("x is not a function"));
    expect(r).toMatchObject({ name: "TypeError", code: "TypeError", kind: "user", message: "x is not a function" });
    const back = errorFromRecord(r);
    expect(back.constructor).toBe(RuntimeUserError);
    expect([back.code, back.kind, back.message]).toEqual(["TypeError", "user", "x is not a function"]);
    expect(back.stack).not.toContain(r.stack!);
  });

  it("turns a thrown non-error value into a RuntimeUserError with its text", () => {
    expect(errorToRecord("plain string")).toEqual({ name: "Error", code: "Error", kind: "user", message: "plain string" });
    expect(errorToRecord({ reason: 1 }).message).toBe('{"reason":1}');
    const back = errorFromRecord(errorToRecord(42));
    expect(back.constructor).toBe(RuntimeUserError);
    expect(back.message).toBe("42");
  });

  it("re-creates an unknown system-kind record as a RuntimeSystemError", () => {
    const back = errorFromRecord({ name: "WorkerLost", code: "WorkerLost", kind: "system", message: "gone" });
    expect(back.constructor).toBe(RuntimeSystemError);
    expect([back.code, back.kind]).toEqual(["WorkerLost", "system"]);
  });

  it("survives JSON serialisation of the record", () => {
    const e = new RuntimeDataValidationError("bad", { taskName: "t.t", field: "a", direction: "input", issues: [{ code: "c", path: "a", message: "m" }] });
    const back = errorFromRecord(JSON.parse(JSON.stringify(errorToRecord(e)))) as RuntimeDataValidationError;
    expect(back).toBeInstanceOf(RuntimeDataValidationError);
    expect([back.taskName, back.field, back.direction, back.issues]).toEqual(["t.t", "a", "input", [{ code: "c", path: "a", message: "m" }]]);
  });
});
