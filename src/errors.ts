/**
 * `flyte-ts/errors`: every error flyte-ts raises.
 *
 * Each class carries a stable string `code` and a `kind` ("user" | "system" | "unknown"), so a failure
 * recorded in the store can be re-created as the same class in the awaiting parent (see `errorFromRecord`).
 *
 * @example
 * ```ts
 * import { OOMError, ValidationError } from "flyte-ts/errors";
 * try { await bigTask({ n: 1e9 }); } catch (e) { if (e instanceof OOMError) { ... } }
 * ```
 * @module
 */

export type ErrorKind = "user" | "system" | "unknown";

export interface ErrorOptions {
  cause?: unknown;
  code?: string;
}

/** Marker so `instanceof` also works for errors created by another copy of this module (another realm or bundle). */
const FLYTE_ERROR = Symbol.for("flyte-ts.error");

/** Root of every flyte-ts error. */
export class FlyteError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  constructor(message: string, o: ErrorOptions & { kind?: ErrorKind } = {}) {
    super(message, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = new.target.name;
    this.code = o.code ?? new.target.defaultCode ?? new.target.name;
    this.kind = o.kind ?? new.target.defaultKind;
    Object.defineProperty(this, FLYTE_ERROR, { value: true });
  }
  /** Code used when the constructor is not given one. */
  static defaultCode: string | undefined = undefined;
  static defaultKind: ErrorKind = "user";
  static [Symbol.hasInstance](v: unknown): boolean {
    if (typeof v !== "object" || v === null) return false;
    if (Function.prototype[Symbol.hasInstance].call(this, v)) return true;
    // Realm-safe fallback: same class name in the prototype chain of a flyte error.
    if (!(FLYTE_ERROR in v)) return false;
    for (let p = Object.getPrototypeOf(v); p; p = Object.getPrototypeOf(p)) {
      if (p.constructor?.name === this.name) return true;
    }
    return false;
  }
}

/** Thrown at definition time when an option, name or value is invalid. */
export class ValidationError extends FlyteError {
  static override defaultCode = "ValidationError";
  readonly field?: string;
  constructor(message: string, o: ErrorOptions & { field?: string } = {}) {
    super(message, o);
    if (o.field !== undefined) this.field = o.field;
  }
}

/** Base of errors raised while a run executes; `kind` says whose fault it was. */
export class BaseRuntimeError extends FlyteError {
  readonly worker?: string;
  constructor(code: string, kind: ErrorKind, message: string, worker?: string, o: { cause?: unknown } = {}) {
    super(message, { code, kind, cause: o.cause });
    if (worker !== undefined) this.worker = worker;
  }
}

/** A platform failure: store unavailable, worker lost, process died. */
export class RuntimeSystemError extends BaseRuntimeError {
  static override defaultKind: ErrorKind = "system";
  constructor(code: string, message: string, o: { cause?: unknown; worker?: string } = {}) {
    super(code, "system", message, o.worker, o);
  }
}

/** A failure of user code. */
export class RuntimeUserError extends BaseRuntimeError {
  constructor(code: string, message: string, o: { cause?: unknown; worker?: string } = {}) {
    super(code, "user", message, o.worker, o);
  }
}

/** A failure that could not be classified. */
export class RuntimeUnknownError extends BaseRuntimeError {
  static override defaultKind: ErrorKind = "unknown";
  constructor(code: string, message: string, o: { cause?: unknown; worker?: string } = {}) {
    super(code, "unknown", message, o.worker, o);
  }
}

/** Bad or missing configuration, or a store that cannot be opened. */
export class InitializationError extends BaseRuntimeError {
  constructor(message: string, o: ErrorOptions = {}) {
    super(o.code ?? "InitializationError", "user", message, undefined, o);
  }
}

/** Base for user-kind runtime errors with a fixed default code: `new X(message, { cause?, code? })`. */
abstract class UserRuntimeError extends RuntimeUserError {
  constructor(message: string, o: ErrorOptions = {}) {
    super(o.code ?? (new.target as unknown as { defaultCode?: string }).defaultCode ?? new.target.name, message, o);
  }
}

/** The attempt ran out of memory. */
export class OOMError extends UserRuntimeError { static override defaultCode = "OOMError"; }
/** An interruptible worker was preempted. */
export class TaskInterruptedError extends UserRuntimeError { static override defaultCode = "TaskInterruptedError"; }
/** A pod template lacks its primary container. */
export class PrimaryContainerNotFoundError extends UserRuntimeError { static override defaultCode = "PrimaryContainerNotFoundError"; }

export type TimeoutBound = "maxRuntime" | "maxQueuedTime" | "deadline" | "wait";
/** A timeout bound (`maxRuntime`, `maxQueuedTime`, `deadline`, or `Run.wait({ timeout })`) was exceeded. */
export class TaskTimeoutError extends UserRuntimeError {
  static override defaultCode = "TaskTimeoutError";
  readonly bound: TimeoutBound;
  constructor(message: string, o: ErrorOptions & { bound?: TimeoutBound } = {}) {
    super(message, o);
    this.bound = o.bound ?? "maxRuntime";
  }
}
/** The system-retry budget was used up. */
export class RetriesExhaustedError extends UserRuntimeError { static override defaultCode = "RetriesExhaustedError"; }
/** An image URI could not be parsed. */
export class InvalidImageNameError extends UserRuntimeError { static override defaultCode = "InvalidImageNameError"; }
/** An image could not be pulled. */
export class ImagePullBackOffError extends UserRuntimeError { static override defaultCode = "ImagePullBackOffError"; }
/** Thrown by user code with a code of its choosing. */
export class CustomError extends UserRuntimeError {
  static override defaultCode = "CustomError";
  /** Wraps any thrown error, keeping its name as the code and its message. */
  static fromError(e: unknown): CustomError {
    if (e instanceof Error) return new CustomError(e.message, { code: e.name, cause: e });
    return new CustomError(String(e), { cause: e });
  }
}
/** An API that needs a running task (`getSecret`, `ctx`-bound helpers) was used outside one. */
export class NotInTaskContextError extends UserRuntimeError { static override defaultCode = "NotInTaskContextError"; }

/** An unknown action (or run) was asked for. */
export class ActionNotFoundError extends FlyteError { static override defaultCode = "ActionNotFoundError"; }
/** An unknown run name was asked for. */
export class RunNotFoundError extends ActionNotFoundError { static override defaultCode = "RunNotFoundError"; }

/** A run with that name already exists in the project/domain. */
export class RunAlreadyExistsError extends UserRuntimeError { static override defaultCode = "RunAlreadyExistsError"; }
/** A referenced deployed task does not exist. */
export class RemoteTaskNotFoundError extends UserRuntimeError { static override defaultCode = "RemoteTaskNotFoundError"; }

/** Logs were requested before the first attempt started. */
export class LogsNotYetAvailableError extends BaseRuntimeError {
  constructor(message: string, o: ErrorOptions = {}) {
    super(o.code ?? "LogsNotYetAvailable", "user", message, undefined, o);
  }
}

export interface DataIssue {
  code: string;
  path: string;
  message: string;
  expected?: string;
  received?: string;
}
/** Inputs or outputs do not match the task's schema. */
export class RuntimeDataValidationError extends UserRuntimeError {
  static override defaultCode = "DataValidationError";
  readonly taskName: string;
  readonly field: string;
  readonly direction: "input" | "output";
  readonly issues: DataIssue[];
  constructor(
    message: string,
    o: ErrorOptions & { taskName?: string; field?: string; direction?: "input" | "output"; issues?: DataIssue[] } = {},
  ) {
    super(message, o);
    this.taskName = o.taskName ?? "";
    this.field = o.field ?? "";
    this.direction = o.direction ?? "input";
    this.issues = o.issues ?? [];
  }
}
/** A value cannot cross an action boundary (no transformer for its type). */
export class TypeTransformerFailedError extends UserRuntimeError { static override defaultCode = "TypeTransformerFailed"; }
/** A type that the sandbox does not allow crossed its boundary. */
export class RestrictedTypeError extends UserRuntimeError { static override defaultCode = "RestrictedTypeUsage"; }
/** Inline inputs/outputs exceed `maxInlineIoBytes` while offloading is disabled. */
export class InlineIOMaxBytesBreached extends UserRuntimeError { static override defaultCode = "InlineIOMaxBytesBreached"; }
/** Deployment failed. */
export class DeploymentError extends UserRuntimeError { static override defaultCode = "DeploymentError"; }
/** An image could not be built or pushed. */
export class ImageBuildError extends UserRuntimeError { static override defaultCode = "ImageBuildError"; }
/** `flyte run`/`deploy` could not import the file or find the task. */
export class ModuleLoadError extends UserRuntimeError { static override defaultCode = "ModuleLoadError"; }
/** The code bundle could not be built or uploaded. */
export class CodeBundleError extends UserRuntimeError { static override defaultCode = "CodeBundleError"; }
/** The awaited action or run was aborted. */
export class ActionAbortedError extends UserRuntimeError { static override defaultCode = "ActionAbortedError"; }
/** A secret was not found in the secret store, or the task did not request it. */
export class SecretNotFoundError extends UserRuntimeError { static override defaultCode = "SecretNotFoundError"; }
/**
 * A secret's value reached a value that would be stored (an output, a child's inputs, a `trace()` result).
 * Values are data, so it is refused rather than masked; `field` names where it was found.
 */
export class SecretLeakError extends UserRuntimeError { static override defaultCode = "SecretLeak"; }
/** A task was called inside `trace()`. */
export class TraceDoesNotAllowNestedTasksError extends UserRuntimeError { static override defaultCode = "TraceDoesNotAllowNestedTasksError"; }
/** Thrown by user code to fail the action without retrying. */
export class NonRecoverableError extends UserRuntimeError { static override defaultCode = "NonRecoverableError"; }

/** Base of sandbox failures. */
export class SandboxError extends RuntimeUserError {
  constructor(message: string, o: ErrorOptions = {}) {
    super(o.code ?? (new.target as unknown as { defaultCode?: string }).defaultCode ?? "SandboxError", message, o);
  }
}
/** Sandbox code ran longer than `timeoutMs`. */
export class SandboxTimeoutError extends SandboxError { static override defaultCode = "SandboxTimeout"; }
/** Sandbox code allocated more than `maxMemory`. */
export class SandboxMemoryError extends SandboxError { static override defaultCode = "SandboxMemoryLimit"; }
/** Sandbox code touched something the sandbox withholds. */
export class SandboxViolationError extends SandboxError { static override defaultCode = "SandboxViolation"; }

/** The metadata or blob store failed. */
export class StoreError extends RuntimeSystemError {
  constructor(message: string, o: ErrorOptions = {}) {
    super(o.code ?? "StoreError", message, o);
  }
}

/** The serialisable form of an error, as kept in the store. */
export interface ErrorRecord {
  name: string;
  code: string;
  kind: ErrorKind;
  message: string;
  stack?: string;
  /** Extra fields (`bound`, `taskName`, `field`, `direction`, `issues`) that must survive the boundary. */
  extra?: Record<string, unknown>;
}

const EXTRA_FIELDS = ["bound", "taskName", "field", "direction", "issues"] as const;

/** Turns anything thrown into a storable record (§15.3). */
export function errorToRecord(e: unknown): ErrorRecord {
  if (e instanceof FlyteError) {
    const extra: Record<string, unknown> = {};
    for (const f of EXTRA_FIELDS) {
      const v = (e as unknown as Record<string, unknown>)[f];
      if (v !== undefined) extra[f] = v;
    }
    return {
      name: e.name,
      code: e.code,
      kind: e.kind,
      message: e.message,
      ...(e.stack ? { stack: e.stack } : {}),
      ...(Object.keys(extra).length ? { extra } : {}),
    };
  }
  if (e instanceof Error) {
    return { name: e.name, code: e.name, kind: "user", message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
  }
  return { name: "Error", code: "Error", kind: "user", message: typeof e === "string" ? e : safeString(e) };
}

function safeString(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

type ErrorCtor = new (...args: never[]) => FlyteError;
const ERROR_CLASSES: Record<string, ErrorCtor> = {
  FlyteError, ValidationError, InitializationError, OOMError, TaskInterruptedError, PrimaryContainerNotFoundError,
  TaskTimeoutError, RetriesExhaustedError, InvalidImageNameError, ImagePullBackOffError, CustomError,
  NotInTaskContextError, ActionNotFoundError, RunNotFoundError, RunAlreadyExistsError, RemoteTaskNotFoundError,
  LogsNotYetAvailableError, RuntimeDataValidationError, TypeTransformerFailedError, RestrictedTypeError,
  InlineIOMaxBytesBreached, DeploymentError, ImageBuildError, ModuleLoadError, CodeBundleError, ActionAbortedError,
  SecretNotFoundError, SecretLeakError, TraceDoesNotAllowNestedTasksError, NonRecoverableError, SandboxError, SandboxTimeoutError,
  SandboxMemoryError, SandboxViolationError, StoreError,
};

/**
 * Re-creates the error a parent receives from a failed child (§15.3): the same flyte-ts class, or for any other
 * thrown value a `RuntimeUserError` whose code is the original `error.name`. The stack stays in the record.
 */
export function errorFromRecord(r: ErrorRecord): FlyteError {
  let err: FlyteError;
  const extra = r.extra ?? {};
  switch (r.name) {
    case "RuntimeSystemError":
      err = new RuntimeSystemError(r.code, r.message);
      break;
    case "RuntimeUserError":
      err = new RuntimeUserError(r.code, r.message);
      break;
    case "RuntimeUnknownError":
      err = new RuntimeUnknownError(r.code, r.message);
      break;
    case "BaseRuntimeError":
      err = new BaseRuntimeError(r.code, r.kind, r.message);
      break;
    default: {
      const Cls = ERROR_CLASSES[r.name] as (new (m: string, o: Record<string, unknown>) => FlyteError) | undefined;
      if (Cls) err = new Cls(r.message, { code: r.code, ...extra });
      else if (r.kind === "system") err = new RuntimeSystemError(r.code, r.message);
      else err = new RuntimeUserError(r.code, r.message);
    }
  }
  for (const [k, v] of Object.entries(extra)) {
    if (!(k in err) || (err as unknown as Record<string, unknown>)[k] === undefined) {
      Object.defineProperty(err, k, { value: v, enumerable: true });
    }
  }
  return err;
}
