/**
 * Derives the JSON Schema of a schema-less task's inputs (and output) from its TypeScript signature with the
 * TypeScript compiler API, so `flyte run` can type its flags. Loaded only on demand (the compiler takes most of
 * a second to load), and results are cached on disk by signature-cache.ts.
 *
 * flyte-ts's own modules are replaced by a small stub while compiling: the real declarations pull in ~1,000 files
 * (cloud SDKs, Arrow) and only `File`/`Dir` matter for an input's type.
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type * as TS from "typescript";

export type JsonSchema = Record<string, unknown>;

/** What one task's signature says. */
export interface SignatureSchema {
  /** Object schema of the inputs (properties, required, defaults from destructuring). */
  inputs: JsonSchema;
  /** Schema of the awaited return value, when the compiler could tell. */
  output?: JsonSchema;
}

/** The tasks of one source file, by bare task name; `null` marks a name declared twice (left untyped). */
export interface FileSignatures {
  tasks: Record<string, SignatureSchema | null>;
  /** Files (outside node_modules) the result depends on, the root included. */
  deps: string[];
}

const STUB = "/__flyte-ts-stub__/index.d.ts";
const STUB_TEXT = `
export declare class File { private readonly __flyteFile: true; }
export declare class Dir { private readonly __flyteDir: true; }
export declare class DataFrame { private readonly __flyteDataFrame: true; }
`;
const MAX_DEPTH = 12;

let packageRoot: string | undefined;
/** Directory of the installed flyte-ts package (where its package.json is). */
function flytePackageRoot(): string {
  if (packageRoot) return packageRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, "package.json");
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === "flyte-ts") return (packageRoot = `${dir}/`);
      } catch {
        // not ours; keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) return (packageRoot = "\u0000none");
    dir = up;
  }
}

/** Compiles `files` together and reads the signature of every `env.task(...)` declared in them. */
export async function deriveSignatures(files: string[]): Promise<Map<string, FileSignatures>> {
  // require, not import(): through the CLI's tsx loader, import() of the 9 MB compiler takes ~3 s longer.
  const ts = createRequire(import.meta.url)("typescript") as typeof TS;
  const roots = files.map((f) => resolve(f));
  const options: TS.CompilerOptions = {
    strict: true, noEmit: true, allowJs: true, checkJs: false, skipLibCheck: true, allowImportingTsExtensions: true,
    module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, target: ts.ScriptTarget.ES2022,
    lib: ["lib.es2023.d.ts"], types: [], resolveJsonModule: true, noResolve: false,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === STUB ? ts.createSourceFile(name, STUB_TEXT, lang) : getSourceFile(name, lang, ...rest));
  const own = flytePackageRoot();
  const stub: TS.ResolvedModuleWithFailedLookupLocations = {
    resolvedModule: { resolvedFileName: STUB, extension: ts.Extension.Dts, isExternalLibraryImport: true },
  };
  host.resolveModuleNameLiterals = (lits, containing, _redirect, opts) =>
    lits.map((lit) => {
      const s = lit.text;
      if (s === "flyte-ts" || s.startsWith("flyte-ts/")) return stub;
      const r = ts.resolveModuleName(s, containing, opts, host);
      return r.resolvedModule && isOwnSource(resolve(r.resolvedModule.resolvedFileName), own) ? stub : r;
    });
  const program = ts.createProgram(roots, options, host);
  const checker = program.getTypeChecker();
  const deps = program
    .getSourceFiles()
    .map((sf) => sf.fileName)
    .filter((f) => f !== STUB && !f.includes("/node_modules/") && !program.isSourceFileDefaultLibrary(program.getSourceFile(f)!))
    .map((f) => resolve(f));
  const out = new Map<string, FileSignatures>();
  for (const root of roots) {
    const sf = program.getSourceFile(root);
    const tasks: Record<string, SignatureSchema | null> = {};
    if (sf) new Reader(ts, checker, program).readFile(sf, tasks);
    out.set(root, { tasks, deps });
  }
  return out;
}

/** flyte-ts's own modules (not the tests or examples that live beside them in its repository). */
function isOwnSource(file: string, own: string): boolean {
  return file.startsWith(`${own}src/`) || file.startsWith(`${own}dist/`);
}

type FnNode = TS.FunctionExpression | TS.ArrowFunction | TS.FunctionDeclaration | TS.MethodDeclaration;

class Reader {
  constructor(
    private readonly ts: typeof TS,
    private readonly checker: TS.TypeChecker,
    private readonly program: TS.Program,
  ) {}

  readFile(sf: TS.SourceFile, tasks: Record<string, SignatureSchema | null>): void {
    const visit = (node: TS.Node): void => {
      if (this.ts.isCallExpression(node)) this.readCall(node, tasks);
      this.ts.forEachChild(node, visit);
    };
    visit(sf);
  }

  /** `env.task(fn)`, `env.task(options, fn)`, `env.sandbox.orchestrator(options, fn)` and `env.sandbox.orchestrator(options)(fn)`. */
  private readCall(call: TS.CallExpression, tasks: Record<string, SignatureSchema | null>): void {
    const ts = this.ts;
    const callee = call.expression;
    let options: TS.Expression | undefined;
    let fnArg: TS.Expression | undefined;
    const method = ts.isPropertyAccessExpression(callee) ? callee.name.text : "";
    if ((method === "task" || method === "orchestrator") && (call.arguments.length === 1 || call.arguments.length === 2)) {
      [options, fnArg] = call.arguments.length === 1 ? [undefined, call.arguments[0]] : [call.arguments[0], call.arguments[1]];
    } else if (
      ts.isCallExpression(callee) && ts.isPropertyAccessExpression(callee.expression) && callee.expression.name.text === "orchestrator" &&
      call.arguments.length === 1
    ) {
      [options, fnArg] = [callee.arguments[0], call.arguments[0]];
    } else return;
    let explicitName: string | undefined;
    if (options) {
      if (!ts.isObjectLiteralExpression(options)) return;
      for (const p of options.properties) {
        const key = p.name && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) ? p.name.text : undefined;
        if (key === "inputs") return; // declared by a schema: nothing to derive
        if (key === "name") {
          if (!ts.isPropertyAssignment(p) || !ts.isStringLiteralLike(p.initializer)) return; // computed name: cannot match it
          explicitName = p.initializer.text;
        }
      }
    }
    const fn = fnArg && this.functionOf(fnArg);
    if (!fn) return;
    const name = explicitName ?? fn.name;
    if (!name) return;
    const schema = this.signature(fn.node);
    if (!schema) return;
    tasks[name] = name in tasks ? null : schema;
  }

  private functionOf(e: TS.Expression): { node: FnNode; name?: string } | undefined {
    const ts = this.ts;
    while (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isSatisfiesExpression(e)) e = e.expression;
    if (ts.isFunctionExpression(e)) return { node: e, ...(e.name ? { name: e.name.text } : {}) };
    if (ts.isArrowFunction(e)) return { node: e };
    if (ts.isIdentifier(e)) {
      let sym = this.checker.getSymbolAtLocation(e);
      if (sym && sym.flags & ts.SymbolFlags.Alias) sym = this.checker.getAliasedSymbol(sym);
      const d = sym?.valueDeclaration;
      if (!d) return undefined;
      if (ts.isFunctionDeclaration(d)) return { node: d, ...(d.name ? { name: d.name.text } : {}) };
      if (ts.isVariableDeclaration(d) && d.initializer && ts.isIdentifier(d.name)) {
        const inner = this.functionOf(d.initializer);
        // `const f = async () => ...` gets its name from the variable, as at run time.
        return inner && { node: inner.node, name: inner.name ?? d.name.text };
      }
    }
    return undefined;
  }

  private signature(fn: FnNode): SignatureSchema | undefined {
    const ts = this.ts;
    const param = fn.parameters[0];
    let inputs: JsonSchema;
    if (!param) inputs = { type: "object", properties: {}, additionalProperties: false };
    else {
      const t = this.checker.getTypeAtLocation(param);
      const js = this.toSchema(stripUndefined(ts, t), 0, new Set());
      if (js.type !== "object" || !js.properties) return undefined;
      if (ts.isObjectBindingPattern(param.name)) addDefaults(ts, js, param.name);
      inputs = js;
    }
    const out: SignatureSchema = { inputs };
    const sig = this.checker.getSignatureFromDeclaration(fn);
    if (sig) {
      const ret = this.checker.getAwaitedType(this.checker.getReturnTypeOfSignature(sig));
      if (ret && !(ret.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown))) {
        const o = this.toSchema(ret, 0, new Set());
        if (Object.keys(o).length > 0) out.output = o;
      }
    }
    return out;
  }

  private toSchema(t: TS.Type, depth: number, seen: Set<TS.Type>): JsonSchema {
    const ts = this.ts;
    const F = ts.TypeFlags;
    const f = t.flags;
    if (depth > MAX_DEPTH || f & (F.Any | F.Unknown | F.Never | F.TypeParameter)) return {};
    if (f & F.Boolean) return { type: "boolean" };
    if (f & F.BooleanLiteral) return { type: "boolean", const: (t as unknown as { intrinsicName: string }).intrinsicName === "true" };
    if (f & F.StringLiteral) return { type: "string", const: (t as TS.StringLiteralType).value };
    if (f & F.NumberLiteral) return { type: "number", const: (t as TS.NumberLiteralType).value };
    if (f & (F.String | F.TemplateLiteral | F.StringMapping)) return { type: "string" };
    if (f & F.Number) return { type: "number" };
    if (f & (F.BigInt | F.BigIntLiteral)) return { type: "string", pattern: "^-?[0-9]+$", "x-flyte-type": "bigint" };
    if (f & F.Null) return { type: "null" };
    if (f & (F.Undefined | F.Void)) return {};
    if (t.isUnion()) return this.unionSchema(t, depth, seen);
    if (!(f & (F.Object | F.Intersection))) return {};
    if (seen.has(t)) return {}; // recursive type: stop here
    seen.add(t);
    try {
      return this.objectSchema(t, depth, seen);
    } finally {
      seen.delete(t);
    }
  }

  private unionSchema(t: TS.UnionType, depth: number, seen: Set<TS.Type>): JsonSchema {
    const ts = this.ts;
    const members = t.types.filter((m) => !(m.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Void)));
    // `boolean | null` arrives as true | false | null.
    const bools = members.filter((m) => m.flags & ts.TypeFlags.BooleanLiteral);
    const rest = members.filter((m) => !(m.flags & ts.TypeFlags.BooleanLiteral));
    const parts = [...(bools.length === 2 ? [{ type: "boolean" }] : bools.map((b) => this.toSchema(b, depth + 1, seen))), ...rest.map((m) => this.toSchema(m, depth + 1, seen))];
    if (parts.length === 1) return parts[0]!;
    if (parts.some((p) => Object.keys(p).length === 0)) return {};
    const nonNull = parts.filter((p) => p.type !== "null");
    const nullable = nonNull.length < parts.length;
    if (nonNull.length > 0 && nonNull.every((p) => "const" in p && p.type === nonNull[0]!.type)) {
      const e: JsonSchema = { type: nonNull[0]!.type, enum: nonNull.map((p) => p.const) };
      return nullable ? { anyOf: [e, { type: "null" }] } : e;
    }
    return { anyOf: parts };
  }

  private objectSchema(t: TS.Type, depth: number, seen: Set<TS.Type>): JsonSchema {
    const ts = this.ts;
    const c = this.checker;
    const sym = t.getSymbol() ?? t.aliasSymbol;
    const decl = sym?.declarations?.[0];
    const file = decl?.getSourceFile();
    if (file?.fileName === STUB) {
      if (sym!.name === "File") return { "x-flyte-type": "file" };
      if (sym!.name === "Dir") return { "x-flyte-type": "dir" };
      return {};
    }
    if (c.isArrayType(t)) {
      const [item] = c.getTypeArguments(t as TS.TypeReference);
      return { type: "array", items: item ? this.toSchema(item, depth + 1, seen) : {} };
    }
    if (c.isTupleType(t)) {
      const items = c.getTypeArguments(t as TS.TypeReference).map((x) => this.toSchema(x, depth + 1, seen));
      return { type: "array", prefixItems: items, minItems: items.length, maxItems: items.length };
    }
    if (file && this.program.isSourceFileDefaultLibrary(file)) {
      if (sym!.name === "Date") return { type: "string", format: "date-time", "x-flyte-type": "date" };
      if (sym!.name === "Map") return { type: "array", "x-flyte-type": "map" };
      if (sym!.name === "Set") return { type: "array", "x-flyte-type": "set" };
      if (sym!.name !== "Object") return {};
    }
    if (t.getCallSignatures().length > 0 || t.getConstructSignatures().length > 0) return {};
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const p of c.getPropertiesOfType(t)) {
      const pt = c.getTypeOfSymbol(p);
      if (pt.getCallSignatures().length > 0) continue; // methods are not data
      const js = this.toSchema(stripUndefined(ts, pt), depth + 1, seen);
      const doc = ts.displayPartsToString(p.getDocumentationComment(c)).trim();
      properties[p.name] = doc ? { ...js, description: doc } : js;
      if (!(p.flags & ts.SymbolFlags.Optional)) required.push(p.name);
    }
    const index = c.getIndexInfosOfType(t).find((i) => i.keyType.flags & ts.TypeFlags.String);
    return {
      type: "object",
      properties,
      ...(required.length ? { required } : {}),
      additionalProperties: index ? this.toSchema(index.type, depth + 1, seen) : false,
    };
  }
}

function stripUndefined(ts: typeof TS, t: TS.Type): TS.Type {
  if (!t.isUnion()) return t;
  const rest = t.types.filter((m) => !(m.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Void)));
  return rest.length === 1 ? rest[0]! : t;
}

/** `{ n = 3 }`: the default becomes the schema's `default` and the input optional. */
function addDefaults(ts: typeof TS, js: JsonSchema, pattern: TS.ObjectBindingPattern): void {
  const props = js.properties as Record<string, JsonSchema>;
  for (const el of pattern.elements) {
    if (!el.initializer || el.dotDotDotToken) continue;
    const key = el.propertyName ?? el.name;
    const name = ts.isIdentifier(key) || ts.isStringLiteral(key) ? key.text : undefined;
    if (!name || !props[name]) continue;
    const value = literalValue(ts, el.initializer);
    props[name] = value === NOT_LITERAL ? { ...props[name], "x-flyte-default-text": el.initializer.getText() } : { ...props[name], default: value };
    if (Array.isArray(js.required)) {
      js.required = (js.required as string[]).filter((r) => r !== name);
      if ((js.required as string[]).length === 0) delete js.required;
    }
  }
}

const NOT_LITERAL = Symbol("not a literal");
function literalValue(ts: typeof TS, e: TS.Expression): unknown {
  if (ts.isParenthesizedExpression(e) || ts.isAsExpression(e)) return literalValue(ts, e.expression);
  if (ts.isNumericLiteral(e)) return Number(e.text);
  if (ts.isStringLiteralLike(e)) return e.text;
  if (e.kind === ts.SyntaxKind.TrueKeyword) return true;
  if (e.kind === ts.SyntaxKind.FalseKeyword) return false;
  if (e.kind === ts.SyntaxKind.NullKeyword) return null;
  if (ts.isPrefixUnaryExpression(e) && e.operator === ts.SyntaxKind.MinusToken && ts.isNumericLiteral(e.operand)) return -Number(e.operand.text);
  if (ts.isArrayLiteralExpression(e)) {
    const items = e.elements.map((x) => literalValue(ts, x));
    return items.includes(NOT_LITERAL) ? NOT_LITERAL : items;
  }
  if (ts.isObjectLiteralExpression(e)) {
    const o: Record<string, unknown> = {};
    for (const p of e.properties) {
      if (!ts.isPropertyAssignment(p) || !(ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))) return NOT_LITERAL;
      const v = literalValue(ts, p.initializer);
      if (v === NOT_LITERAL) return NOT_LITERAL;
      o[p.name.text] = v;
    }
    return o;
  }
  return NOT_LITERAL;
}
