/**
 * Source preparation for sandboxed orchestrators: checks the code at definition time (syntax errors with
 * line/column, no `import`/`require`) and turns it into an *entry expression* — JavaScript that evaluates,
 * inside QuickJS, to one function taking the inputs object and returning (a promise of) the output.
 *
 * @example
 * ```ts
 * prepareFunctionSource(async function pipeline({ n }) { return n; }, 'Sandbox "env.pipeline"');
 * // → { entry: "(async function pipeline({ n }) { return n; })", lineOffset: 0 }
 * prepareCodeSource("await add({ x, y }) * 2", ["x", "y"], 'Sandbox "env.code"');
 * // → the body wrapped in an async function binding x and y, its last expression statement returned
 * ```
 * @module
 */
import { parse, type Options as AcornOptions } from "acorn";
import { ValidationError } from "../errors.ts";

/** What the runner evaluates: `entry` is a function expression; user line N is line N + lineOffset of it. */
export interface PreparedSource {
  entry: string;
  lineOffset: number;
}

interface AstNode {
  type: string;
  start: number;
  end: number;
  loc?: { start: { line: number; column: number } };
  [key: string]: unknown;
}

interface AcornSyntaxError extends SyntaxError {
  loc?: { line: number; column: number };
  pos?: number;
}

// ecmaVersion 2023 matches what the bundled QuickJS implements, so code acorn accepts also runs there.
const BASE: AcornOptions = { ecmaVersion: 2023, sourceType: "script", locations: true };

/** Names the generated wrapper uses; user input names may not take them. */
const RESERVED_PREFIX = "__flyte";

/** A function's source as the sandbox will run it, or a ValidationError saying why it cannot run there. */
export function prepareFunctionSource(fn: Function, at: string): PreparedSource {
  const src = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(src)) {
    throw new ValidationError(
      `${at}: the function has no JavaScript source (it is native or bound), so it cannot run in the sandbox. Pass the original function (not fn.bind(...)).`,
      { field: "fn" },
    );
  }
  if (/^class\b/.test(src)) {
    throw new ValidationError(`${at}: a class cannot be an orchestrator. Pass a function: env.sandbox.orchestrator(async function name(inputs) { ... }).`, { field: "fn" });
  }
  let ast: AstNode;
  try {
    ast = parse(`(${src})`, BASE) as unknown as AstNode;
  } catch {
    // Method shorthands (`{ run() {} }`), getters and class methods print without the `function` keyword.
    throw new ValidationError(
      `${at}: the function's source is not a function or arrow expression (object or class methods print as "name() {...}"). ` +
        "Declare it as async function name(inputs) { ... } or as an arrow function.",
      { field: "fn" },
    );
  }
  const stmt = (ast.body as AstNode[])[0];
  const expr = stmt?.type === "ExpressionStatement" ? (stmt.expression as AstNode) : undefined;
  if (!expr || (expr.type !== "FunctionExpression" && expr.type !== "ArrowFunctionExpression") || (ast.body as AstNode[]).length !== 1) {
    throw new ValidationError(`${at}: the orchestrator must be a function or arrow function, got source starting ${JSON.stringify(src.slice(0, 40))}.`, {
      field: "fn",
    });
  }
  if (expr.generator) {
    throw new ValidationError(`${at}: generator functions cannot be orchestrators. Return the output instead of yielding it.`, { field: "fn" });
  }
  checkForbidden(ast, at, 0, 1);
  return { entry: `(${src})`, lineOffset: 0 };
}

/**
 * A code string (the body of an async function whose inputs are bound as variables) as an entry expression.
 * The last top-level statement, when it is an expression statement, becomes the return value.
 */
export function prepareCodeSource(code: string, inputNames: readonly string[], at: string): PreparedSource {
  if (typeof code !== "string") throw new ValidationError(`${at}: source must be a string of JavaScript, got ${typeof code}.`, { field: "source" });
  let ast: AstNode;
  try {
    ast = parse(code, { ...BASE, allowAwaitOutsideFunction: true, allowReturnOutsideFunction: true }) as unknown as AstNode;
  } catch (e) {
    throw syntaxError(e, at, code);
  }
  checkForbidden(ast, at, 0, 0);
  const body = ast.body as AstNode[];
  const last = body[body.length - 1];
  let rewritten = code;
  if (last?.type === "ExpressionStatement" && last.directive === undefined) {
    const expr = last.expression as AstNode;
    // Parenthesised so that `a, b` or an object-literal-looking expression keeps its meaning after `return`.
    rewritten = `${code.slice(0, last.start)}return (${code.slice(expr.start, expr.end)});${code.slice(last.end)}`;
  }
  for (const name of inputNames) validateInputName(name, at);
  const bind = inputNames.length ? `const { ${inputNames.join(", ")} } = __flyteInputs ?? {};` : "";
  // The body runs in a nested function so it may redeclare an input name (`let x = x + 1` shadows it).
  const entry = `(async function (__flyteInputs) { ${bind}\nreturn await (async () => {\n${rewritten}\n})();\n})`;
  return { entry, lineOffset: 2 };
}

/** Input names of code-string orchestrators become variables, so they must be plain identifiers. */
export function validateInputName(name: string, at: string): void {
  const ok = /^[A-Za-z_$][\w$]*$/.test(name) && !name.startsWith(RESERVED_PREFIX) && isBindable(name);
  if (!ok) {
    throw new ValidationError(
      `${at}: input name ${JSON.stringify(name)} cannot be a JavaScript variable. Use an identifier such as "count" or "items" (not a reserved word, not starting with ${RESERVED_PREFIX}).`,
      { field: "inputs" },
    );
  }
}

function isBindable(name: string): boolean {
  try {
    parse(`let ${name};`, { ecmaVersion: 2023, sourceType: "script" });
    return true;
  } catch {
    return false;
  }
}

/** Rejects module loading: the sandbox has no modules, and a definition-time error beats a run-time one. */
function checkForbidden(ast: AstNode, at: string, lineDelta: number, columnDelta: number): void {
  walk(ast, (n) => {
    let what: string | undefined;
    if (n.type === "ImportExpression") what = "import()";
    else if (n.type === "MetaProperty" && (n.meta as AstNode | undefined)?.name === "import") what = "import.meta";
    else if (n.type === "CallExpression" && (n.callee as AstNode).type === "Identifier" && (n.callee as AstNode).name === "require") what = "require()";
    if (!what) return;
    const line = (n.loc?.start.line ?? 1) - lineDelta;
    const column = (n.loc?.start.column ?? 0) + 1 - (line === 1 ? columnDelta : 0);
    throw withLocation(
      new ValidationError(
        `${at}: ${what} at line ${line}, column ${column} is not allowed: sandboxed code cannot load modules. ` +
          "Pass the tasks it needs (tasks: [...]) and compute everything else with plain JavaScript.",
        { field: "source" },
      ),
      line,
      column,
    );
  });
}

function walk(node: unknown, visit: (n: AstNode) => void): void {
  if (node === null || typeof node !== "object") return;
  if (Array.isArray(node)) {
    for (const child of node) walk(child, visit);
    return;
  }
  const n = node as AstNode;
  if (typeof n.type === "string") visit(n);
  for (const key in n) {
    if (key === "loc") continue;
    const v = n[key];
    if (v !== null && typeof v === "object") walk(v, visit);
  }
}

function syntaxError(e: unknown, at: string, code: string): ValidationError {
  const err = e as AcornSyntaxError;
  const line = err.loc?.line ?? 1;
  const column = (err.loc?.column ?? 0) + 1;
  const reason = String(err.message ?? e).replace(/\s*\(\d+:\d+\)$/, "");
  if (/'import' and 'export' may appear only/.test(reason)) {
    return withLocation(
      new ValidationError(
        `${at}: import/export at line ${line}, column ${column} is not allowed: sandboxed code cannot load modules. Pass the tasks it needs in tasks: [...].`,
        { field: "source" },
      ),
      line,
      column,
    );
  }
  const text = code.split("\n")[line - 1] ?? "";
  return withLocation(
    new ValidationError(`${at}: syntax error at line ${line}, column ${column}: ${reason}.\n  ${text}\n  ${" ".repeat(Math.max(0, column - 1))}^\nFix the code and define the orchestrator again.`, {
      field: "source",
    }),
    line,
    column,
  );
}

function withLocation(e: ValidationError, line: number, column: number): ValidationError {
  Object.defineProperty(e, "line", { value: line, enumerable: true });
  Object.defineProperty(e, "column", { value: column, enumerable: true });
  return e;
}
