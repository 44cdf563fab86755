/**
 * Entry of a sandbox worker thread (started by ./worker-pool.ts): loads and warms the QuickJS module once,
 * says `ready`, then runs the attempts the host starts in it, one step per host message (see
 * ./sandbox-protocol.ts). Running here, a long native operation or an endless loop in sandboxed code never
 * blocks the host's event loop, and the host can terminate the thread at the deadline.
 * @module
 * @internal
 */
import { parentPort } from "node:worker_threads";
import { newQuickJSWASMModule, RELEASE_SYNC, type QuickJSWASMModule } from "quickjs-emscripten";
import { SandboxInterpreter } from "./sandbox-interpreter.ts";
import type { HostMessage, WorkerMessage } from "./sandbox-protocol.ts";

const port = parentPort;
if (!port) throw new Error("sandbox-worker must run in a worker thread");
const send = (m: WorkerMessage) => port.postMessage(m);

/**
 * V8 compiles wasm functions lazily, on first call: the first attempt on a new module would spend 100-400 ms
 * compiling the parser and interpreter paths, and could even trip a small timeoutMs. One throwaway attempt
 * at load time pays that once per worker.
 */
function warmUp(module: QuickJSWASMModule): void {
  const entry =
    "(async function warmUp({ warm }) {\nconst xs = [1, 2, 3].map((x) => ({ x, s: String(x) }));\nconst ys = await Promise.all(xs.map(async (o) => o.x * 2));\nreturn JSON.parse(JSON.stringify({ ys, warm }));\n})";
  new SandboxInterpreter(
    module,
    {
      t: "start", a: 0, label: "warm-up", entry, lineOffset: 0, inputsJson: '{"warm":[true]}', taskNames: [],
      limits: { timeoutMs: 60_000, maxMemory: 16 * 1024 * 1024, maxStackDepth: 256, typeCheck: true }, stop: new SharedArrayBuffer(24),
    },
    () => {},
  ).start();
}

const module = await newQuickJSWASMModule(RELEASE_SYNC);
warmUp(module);
const attempts = new Map<number, SandboxInterpreter>();

port.on("message", (m: HostMessage) => {
  if (m.t === "start") {
    const it = new SandboxInterpreter(module, m, send);
    attempts.set(m.a, it);
    it.start();
    if (it.closed) attempts.delete(m.a);
    return;
  }
  const it = attempts.get(m.a);
  if (!it) {
    // Every settle is answered once (the host times steps by their answers), even one for an attempt gone here.
    if (m.t === "settle") send({ t: "end", a: m.a, reason: { kind: "failed", message: "the worker no longer runs this attempt" } });
    return;
  }
  if (m.t === "settle") it.settle(m.batch, m.n);
  else it.drop();
  if (it.closed) attempts.delete(m.a);
});
send({ t: "ready" });
