/**
 * How failures inside QuickJS become flyte-ts errors (API.md §13 table): limits get their own classes and
 * name the limit, withheld globals are violations, anything the code throws becomes a `RuntimeUserError`
 * whose code is the thrown error's name.
 * @module
 * @internal
 */
import { RestrictedTypeError, RuntimeUserError, SandboxError, SandboxMemoryError, SandboxTimeoutError, SandboxViolationError } from "../errors.ts";

/** An error as reported from inside the sandbox. */
export interface SandboxErrorInfo {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  /** Set when the error is a host error (a failed task call) rethrown into the sandbox. */
  id?: number;
}

export interface ErrorContext {
  /** Task FQN of the orchestrator, for messages. */
  label: string;
  timeoutMs: number;
  maxMemory: number;
  maxStackDepth: number;
  /** Entry line N is line N - lineOffset of the user's code. */
  lineOffset: number;
  /** Names callable in the sandbox, listed when an identifier is unknown. */
  taskNames: readonly string[];
}

export function timeoutError(c: ErrorContext): SandboxTimeoutError {
  return new SandboxTimeoutError(
    `Sandbox "${c.label}" spent more than its timeoutMs of ${c.timeoutMs} ms executing sandbox code (time awaiting tasks is not counted) and was stopped. ` +
      "Look for an infinite loop, or raise timeoutMs.",
  );
}

export function memoryError(c: ErrorContext): SandboxMemoryError {
  const mib = Math.round((c.maxMemory / (1024 * 1024)) * 100) / 100;
  return new SandboxMemoryError(
    `Sandbox "${c.label}" ran out of memory: it needed more than its maxMemory of ${c.maxMemory} bytes (${mib} MiB). ` +
      "Keep large data in tasks (pass File/DataFrame handles through) or raise maxMemory.",
  );
}

export function stackError(c: ErrorContext): SandboxError {
  return new SandboxError(
    `Sandbox "${c.label}" exceeded its maxStackDepth of ${c.maxStackDepth} nested calls (stack overflow). Replace deep recursion with a loop, or raise maxStackDepth.`,
    { code: "SandboxStackOverflow" },
  );
}

const HINTS: Record<string, string> = {
  timers: "Sandboxed code cannot schedule timers; await task calls instead.",
  compile: "Sandboxed code cannot compile code at run time.",
  nondeterministic: "Orchestrations must be deterministic so a run can be replayed; pass the value in as an input or compute it in a task.",
  host: "Sandboxed code can only compute with plain JavaScript and call the tasks it was given (as globals, or with flyteMap).",
};

function hintFor(name: string): string {
  if (/^(set|clear)(Timeout|Interval|Immediate)$|^queueMicrotask$/.test(name)) return HINTS.timers!;
  if (/^(eval|Function|AsyncFunction|GeneratorFunction|AsyncGeneratorFunction|WebAssembly)$/.test(name)) return HINTS.compile!;
  if (/^(Date\.now|new Date\(\)|Math\.random|performance|crypto|WeakRef|FinalizationRegistry)$/.test(name)) return HINTS.nondeterministic!;
  return HINTS.host!;
}

export function violationError(c: ErrorContext, name: string): SandboxViolationError {
  return new SandboxViolationError(`"${name}" is not available in the sandbox (orchestrator "${c.label}"). ${hintFor(name)}`);
}

export function settleError(c: ErrorContext): SandboxError {
  return new SandboxError(
    `Sandbox "${c.label}" finished without a result: it awaits a promise that can never settle (no task call or job is pending). ` +
      "Await task calls (or promises built from them) only.",
    { code: "SandboxNeverSettled" },
  );
}

/** Line of the user's code where the error was raised, from a QuickJS stack trace. */
function userLine(stack: string | undefined, lineOffset: number): number | undefined {
  const m = /orchestrator\.js:(\d+)/.exec(stack ?? "");
  if (!m) return undefined;
  const line = Number(m[1]) - lineOffset;
  return line >= 1 ? line : undefined;
}

/** The flyte-ts error for an error that escaped the sandboxed code. */
export function errorFromSandbox(info: SandboxErrorInfo, c: ErrorContext): Error {
  const { name, message } = info;
  if (name === "InternalError") {
    if (/out of memory|string too long|invalid array buffer length/i.test(message)) return memoryError(c);
    if (/stack overflow/i.test(message)) return stackError(c);
    if (/interrupted/i.test(message)) return timeoutError(c);
  }
  if (name === "RangeError" && /call stack/i.test(message)) return stackError(c);
  // Allocations QuickJS refuses by size before asking the allocator: new ArrayBuffer(2 ** 31), a BigInt past its size limit, a string past 2^30.
  if (name === "RangeError" && /invalid array buffer length|BigInt is too large|invalid string length/i.test(message)) return memoryError(c);
  // JSON.parse and RegExp recurse natively and report overflow as SyntaxError.
  if (name === "SyntaxError" && /stack overflow/i.test(message)) return stackError(c);
  if (name === "SandboxValueTooLarge") return new SandboxError(`Sandbox "${c.label}": ${message}`, { code: "SandboxValueTooLarge" });
  if (name === "RestrictedTypeError") return new RestrictedTypeError(`Sandbox "${c.label}": ${message}`);
  const line = userLine(info.stack, c.lineOffset);
  const at = line === undefined ? "" : ` (line ${line} of the sandboxed code)`;
  if (name === "ReferenceError") {
    const available = c.taskNames.length ? c.taskNames.join(", ") : "none";
    return new RuntimeUserError(
      "ReferenceError",
      `${message}${at}. Sandboxed code sees only its inputs, the tasks it was given (${available}), flyteMap and standard JavaScript built-ins.`,
    );
  }
  return new RuntimeUserError(name || "Error", `${message}${at}`);
}
