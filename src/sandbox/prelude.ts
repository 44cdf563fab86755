/**
 * The JavaScript evaluated first in every sandbox context (inside QuickJS, never in Node). It receives the
 * host functions as arguments — so user code can never reach them by name — and then:
 * - defines one global function per callable task and `flyteMap`, which marshal plain values to JSON;
 * - replaces withheld host globals (`process`, `fetch`, `setTimeout`, `eval`, `Function` …), the function
 *   constructors, `Date.now`/`new Date()`/`Math.random` with accessors that report a violation;
 * - defines `console` (captured to the action log) and the no-op `__name` helper esbuild's keepNames emits;
 * - returns `[start, settle]`: `start(entry, inputsJson)` runs the orchestrator and reports its outcome through
 *   `hostDone`; `settle(batchJson)` resolves the task calls the host has finished.
 *
 * Every intrinsic it relies on is captured up front, so user code that overwrites `JSON.stringify` or
 * `Array.prototype` inside the sandbox only changes its own results, never how results are reported.
 * @module
 * @internal
 */

import { MAX_ERROR_MESSAGE_CHARS, MAX_ERROR_STACK_CHARS, MAX_VALUE_CHARS } from "./sandbox-protocol.ts";

/** Marker key of File/Dir/DataFrame handles inside the sandbox (pass-through only). */
export const IO_HANDLE_KEY = "__flyte_io_type__";

/** Globals a sandbox withholds; touching one (read, write, `typeof`) is a `SandboxViolationError`. */
export const WITHHELD_GLOBALS: readonly string[] = [
  "process", "require", "module", "exports", "global", "Buffer", "__dirname", "__filename",
  "fetch", "XMLHttpRequest", "WebSocket", "EventSource", "navigator", "location", "crypto", "performance",
  "setTimeout", "setInterval", "setImmediate", "clearTimeout", "clearInterval", "clearImmediate", "queueMicrotask",
  "eval", "Function", "WebAssembly", "SharedArrayBuffer", "Atomics", "WeakRef", "FinalizationRegistry",
  "Deno", "Bun", "importScripts", "std", "os", "scriptArgs", "print",
];

export const PRELUDE = String.raw`(function (hostCalls, hostMap, hostDone, hostLog, hostViolation, taskNamesJson, withheldJson, typeCheck) {
  "use strict";
  const G = globalThis;
  const stringify = JSON.stringify, parse = JSON.parse;
  const isArray = Array.isArray, getProto = Object.getPrototypeOf, setProto = Object.setPrototypeOf, defineProperty = Object.defineProperty;
  const objectKeys = Object.keys, freeze = Object.freeze, ObjectProto = Object.prototype;
  const isFinite = Number.isFinite, StringOf = String, ErrorCtor = Error, construct = Reflect.construct, PromiseCtor = Promise;
  const apply = Reflect.apply, arrayJoin = Array.prototype.join, stringSlice = String.prototype.slice, promiseThen = Promise.prototype.then, promiseReject = Promise.reject, settledPromise = Promise.resolve();
  const IO = "${IO_HANDLE_KEY}";
  const taskNames = parse(taskNamesJson);
  const hasTask = (n) => { for (let i = 0; i < taskNames.length; i++) if (taskNames[i] === n) return true; return false; };

  function named(name, message) { const e = new ErrorCtor(message); defineProperty(e, "name", { value: name, writable: true, configurable: true }); return e; }

  function kindOf(v) {
    if (v === null) return "null";
    const t = typeof v;
    if (t !== "object") return t === "number" ? StringOf(v) : t;
    try { const p = getProto(v); const c = p && p.constructor; return (c && typeof c.name === "string" && c.name) || "object"; } catch (e) { return "object"; }
  }

  function restricted(where, path, v) {
    return named("RestrictedTypeError", where + (path ? " at " + path : "") + " is a " + kindOf(v) +
      ", which cannot cross the sandbox boundary. Only null, booleans, finite numbers, strings, arrays, plain objects" +
      " and File/Dir/DataFrame handles can; convert it first (e.g. Object.fromEntries(map), date.toISOString()).");
  }

  // Checks that v is plain data; ancestors detects cycles (which JSON cannot express). The path (segs) and the
  // label (where + the quoted name, if any) are only turned into strings for an error: this runs on every call.
  // segs and ancestors are used up to depth only, so they never need truncating.
  function pathOf(segs, depth) {
    let p = "";
    for (let i = 0; i < depth; i++) {
      const s = segs[i];
      p = typeof s === "number" ? p + "[" + s + "]" : p ? p + "." + s : s;
    }
    return p;
  }
  function labelOf(where, name) { return name === undefined ? where : where + stringify(name); }
  function check(v, depth, segs, ancestors, where, name) {
    const t = typeof v;
    if (t === "string" || t === "boolean" || v === null || v === undefined) return;
    if (t === "number") { if (!isFinite(v)) throw restricted(labelOf(where, name), pathOf(segs, depth), v); return; }
    if (t !== "object") throw restricted(labelOf(where, name), pathOf(segs, depth), v);
    for (let i = 0; i < depth; i++) {
      if (ancestors[i] === v) {
        const path = pathOf(segs, depth);
        throw named("RestrictedTypeError", labelOf(where, name) + (path ? " at " + path : "") + " is cyclic (an object that contains itself), which cannot cross the sandbox boundary.");
      }
    }
    ancestors[depth] = v;
    // Plain strings, booleans, null and finite numbers are accepted inline, without a call per value.
    if (isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x = v[i], tx = typeof x;
        if (tx === "string" || tx === "boolean" || x === null || x === undefined || (tx === "number" && isFinite(x))) continue;
        segs[depth] = i;
        check(x, depth + 1, segs, ancestors, where, name);
      }
    } else {
      const p = getProto(v);
      if (p !== ObjectProto && p !== null) throw restricted(labelOf(where, name), pathOf(segs, depth), v);
      const keys = objectKeys(v);
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        if (k === "__proto__") throw named("RestrictedTypeError", labelOf(where, name) + ' has a "__proto__" key, which cannot cross the sandbox boundary.');
        const x = v[k], tx = typeof x;
        if (tx === "string" || tx === "boolean" || x === null || x === undefined || (tx === "number" && isFinite(x))) continue;
        segs[depth] = k;
        check(x, depth + 1, segs, ancestors, where, name);
      }
    }
  }

  // where (+ stringify(name) when a name is given) labels the value in error messages. check() reuses two
  // arrays; a getter it triggers may call a task (and check again), which then gets fresh ones.
  const sharedSegs = [], sharedAncestors = [];
  let checking = false;
  function toJson(v, where, name) {
    if (v === undefined) return undefined;
    if (typeCheck) {
      if (checking) check(v, 0, [], [], where, name);
      else {
        checking = true;
        try {
          check(v, 0, sharedSegs, sharedAncestors, where, name);
        } finally {
          checking = false;
        }
      }
    }
    let json;
    try { json = stringify(v); } catch (e) { throw named("RestrictedTypeError", labelOf(where, name) + " cannot be serialised: " + StringOf(e && e.message)); }
    if (json !== undefined && json.length > ${MAX_VALUE_CHARS}) {
      throw named("SandboxValueTooLarge", labelOf(where, name) + " is " + json.length + " characters of JSON, more than the ${MAX_VALUE_CHARS} (10 MiB) a value may carry out of the sandbox." +
        " Keep large data in tasks and pass File/DataFrame handles through the orchestrator instead.");
    }
    return json;
  }
  const fromJson = (s) => (s === undefined ? undefined : parse(s));

  // Errors from the host arrive as { name, message, code, id }; id lets the host rethrow the original.
  function hostError(info) {
    if (info === null || typeof info !== "object") return named("Error", StringOf(info));
    const e = named(info.name, info.message);
    if (info.code !== undefined) e.code = info.code;
    defineProperty(e, "__flyteHostError", { value: info.id });
    return e;
  }

  // Host calls are settled in batches (see settle below): one entry into the interpreter per host tick,
  // however many children finished in it. A null-prototype table, so user code cannot intercept it.
  // The resolvers of pending calls, at id - waitBase in two null-prototype arrays (dense, so the interpreter
  // keeps them as fast arrays); emptied whenever nothing is pending.
  const nullArray = () => setProto([], null);
  let waitRes = nullArray(), waitRej = nullArray(), waitBase = 1, pendingCount = 0;
  let nextId = 1;
  // One executor for every call (no closure per call): it files the resolvers under waitSlot.
  let waitSlot = 0;
  function fileResolvers(resolve, reject) { waitRes[waitSlot] = resolve; waitRej[waitSlot] = reject; }
  function awaitHost(id) {
    pendingCount++;
    waitSlot = id - waitBase;
    return new PromiseCtor(fileResolvers);
  }

  // Task calls leave in batches too: every call made before the sandbox's next job goes out in one host call,
  // three lines each (name as JSON, id, inputs JSON or empty for undefined; JSON text never holds a newline).
  // Entries collect in an array: QuickJS strings are flat, so appending to one string would copy it each time.
  let outbox = nullArray();
  function sendCalls() {
    const batch = outbox;
    outbox = nullArray();
    hostCalls(apply(arrayJoin, batch, ["\n"]));
  }
  function callTask(name, nameJson, inputs) {
    let json;
    try {
      json = toJson(inputs, "the inputs of task ", name);
    } catch (e) {
      return apply(promiseReject, PromiseCtor, [e]);
    }
    const id = nextId++;
    const n = outbox.length;
    outbox[n] = nameJson;
    outbox[n + 1] = id;
    outbox[n + 2] = json === undefined ? "" : json;
    if (n === 0) apply(promiseThen, settledPromise, [sendCalls]);
    return awaitHost(id);
  }
  for (let i = 0; i < taskNames.length; i++) {
    const name = taskNames[i];
    if (!/^[A-Za-z_$][\w$]*$/.test(name)) continue; // reachable through flyteMap only
    const nameJson = stringify(name);
    const fn = { [name]: function (inputs) { return callTask(name, nameJson, inputs); } }[name];
    defineProperty(G, name, { value: fn, writable: false, enumerable: false, configurable: false });
  }

  async function flyteMap(taskName, items, options) {
    if (typeof taskName !== "string") throw new TypeError('flyteMap: the first argument must be a task name string, e.g. flyteMap("add", items).');
    if (!hasTask(taskName)) {
      throw named("UnknownTask", "flyteMap: no task named " + stringify(taskName) + " in the sandbox. Available tasks: " + (taskNames.join(", ") || "(none)") + ". Pass it in tasks: [...] or define it in the environment.");
    }
    if (!isArray(items)) throw new TypeError("flyteMap: items must be an array of input objects, got " + kindOf(items) + ".");
    const itemsJson = toJson(items, "the items of flyteMap(" + stringify(taskName) + ")");
    const optionsJson = toJson(options === undefined ? {} : options, "the options of flyteMap");
    const id = nextId++;
    hostMap(taskName, itemsJson, optionsJson, id);
    const results = await awaitHost(id);
    const values = [];
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      values[i] = r.err !== undefined ? hostError(r.err) : r.ok;
    }
    return values;
  }
  defineProperty(G, "flyteMap", { value: flyteMap, writable: false, enumerable: false, configurable: false });

  // console: one captured line per call, values shown as JSON where possible.
  function show(v) {
    if (typeof v === "string") return v;
    try { const s = stringify(v); return s === undefined ? StringOf(v) : s; } catch (e) { try { return StringOf(v); } catch (e2) { return "[unprintable]"; } }
  }
  function logger(level) {
    return function () { let line = ""; for (let i = 0; i < arguments.length; i++) line += (i ? " " : "") + show(arguments[i]); hostLog(level, line); };
  }
  defineProperty(G, "console", { value: freeze({ log: logger("log"), info: logger("info"), debug: logger("debug"), warn: logger("warn"), error: logger("error") }), writable: false, configurable: false });
  defineProperty(G, "__name", { value: function (target) { return target; }, writable: false, configurable: false });

  const poison = (label) => function () { throw hostViolation(label); };
  const withheld = parse(withheldJson);
  for (let i = 0; i < withheld.length; i++) {
    const name = withheld[i];
    try { delete G[name]; } catch (e) {}
    defineProperty(G, name, { get: poison(name), set: poison(name), enumerable: false, configurable: false });
  }
  // (function(){}).constructor and friends compile code at run time: poison every function constructor.
  const fnKinds = [[function () {}, "Function"], [async function () {}, "AsyncFunction"], [function* () {}, "GeneratorFunction"], [async function* () {}, "AsyncGeneratorFunction"]];
  for (let i = 0; i < fnKinds.length; i++) {
    defineProperty(getProto(fnKinds[i][0]), "constructor", { get: poison(fnKinds[i][1]), set: poison(fnKinds[i][1]), configurable: false });
  }
  // Time and randomness would make a replayed orchestration diverge: withhold them, keep date arithmetic.
  defineProperty(Math, "random", { get: poison("Math.random"), configurable: false });
  const RealDate = Date;
  function SandboxDate() {
    if (new.target === undefined || arguments.length === 0) throw hostViolation("new Date()");
    return construct(RealDate, arguments, new.target);
  }
  SandboxDate.prototype = RealDate.prototype;
  defineProperty(RealDate.prototype, "constructor", { value: SandboxDate, writable: false, configurable: false });
  SandboxDate.UTC = RealDate.UTC;
  SandboxDate.parse = RealDate.parse;
  defineProperty(SandboxDate, "now", { get: poison("Date.now"), configurable: false });
  defineProperty(G, "Date", { value: SandboxDate, writable: false, enumerable: false, configurable: false });

  // Error text leaving the sandbox is cut here, before it is copied anywhere (a 20 MiB message once grew the host by 420 MB).
  function cap(s, max) { return s.length <= max ? s : apply(stringSlice, s, [0, max]) + "… [" + (s.length - max) + " more characters cut]"; }
  function errorInfo(e) {
    try {
      if (e !== null && typeof e === "object") {
        return stringify({ name: cap(StringOf(e.name), 200), message: cap(StringOf(e.message), ${MAX_ERROR_MESSAGE_CHARS}),
          stack: cap(StringOf(e.stack === undefined ? "" : e.stack), ${MAX_ERROR_STACK_CHARS}),
          code: typeof e.code === "string" ? cap(e.code, 200) : undefined, id: typeof e.__flyteHostError === "number" ? e.__flyteHostError : undefined });
      }
      return stringify({ name: "Error", message: cap(StringOf(e), ${MAX_ERROR_MESSAGE_CHARS}), stack: "" });
    } catch (x) {
      return '{"name":"Error","message":"the sandbox threw a value that cannot be read","stack":""}';
    }
  }

  // settle(batch): batch is one flat array [id, state, value, id, state, value, ...]; state 1 = value,
  // 2 = undefined, 0 = error info.
  function settle(batchJson) {
    const batch = parse(batchJson);
    for (let i = 0; i + 2 < batch.length; i += 3) {
      const k = batch[i] - waitBase;
      const resolve = waitRes[k];
      if (resolve === undefined) continue;
      const reject = waitRej[k];
      waitRes[k] = waitRej[k] = undefined;
      pendingCount--;
      if (batch[i + 1] === 0) reject(hostError(batch[i + 2]));
      else resolve(batch[i + 1] === 2 ? undefined : batch[i + 2]);
    }
    if (pendingCount === 0) {
      waitRes = nullArray();
      waitRej = nullArray();
      waitBase = nextId;
    }
  }

  function start(entry, inputsJson) {
    (async () => {
      let ok = false, payload;
      try {
        const out = await entry(fromJson(inputsJson));
        payload = toJson(out, "the output");
        ok = true;
      } catch (e) {
        payload = errorInfo(e);
      }
      hostDone(ok, payload);
    })();
  }
  return [start, settle];
})`;
