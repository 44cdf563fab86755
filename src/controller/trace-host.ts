/**
 * Trace checkpoints (API.md §11.4): each `trace()` call inside an attempt is keyed by its name, inputs hash
 * and position among identical calls, and recorded with its output or error. A later attempt of the same
 * action, or the same action in a run recovering from this one, finds the entry and replays it.
 */
import { errorFromRecord, errorToRecord, NonRecoverableError } from "../errors.ts";
import { decodeLiteral, encodeLiteral } from "../types/codec.ts";
import { fromLiteral, toLiteral } from "../types/literal.ts";
import type { TraceHost } from "./task-context.ts";
import type { RunState } from "./run-state.ts";
import { refuseSecrets } from "./secret-redactor.ts";

export function makeTraceHost(run: RunState, action: string, _attempt: number): TraceHost {
  const counters = new Map<string, number>();
  return {
    nextKey(name, inputsHash) {
      const base = `${name}:${inputsHash}`;
      const seq = (counters.get(base) ?? 0) + 1;
      counters.set(base, seq);
      return `${base}:${seq}`;
    },
    async lookup(key) {
      const sources = [run.name, ...run.recoverChain];
      for (const source of sources) {
        const row = await run.store.getTrace(source, action, key);
        if (!row) continue;
        if (row.output) return { found: true, output: await fromLiteral(decodeLiteral(row.output)) };
        // Only a non-recoverable failure is replayed; anything else runs again.
        if (row.error?.name === NonRecoverableError.name) return { found: true, error: errorFromRecord(row.error) };
      }
      return { found: false };
    },
    async record(key, name, result, durationMs) {
      // An undefined result is not recorded, so such a trace runs again (as flyte-sdk does for None).
      let output: Uint8Array | null = null;
      if (result.output !== undefined) {
        const ctx = { taskName: `trace ${name}`, direction: "output" } as const;
        const lit = await toLiteral(result.output, ctx);
        // Recorded results are stored: a secret value in one fails the trace call instead.
        refuseSecrets(run.secretValues, lit, ctx);
        output = encodeLiteral(lit);
      }
      const error = "error" in result ? run.secretValues.redactRecord(errorToRecord(result.error)) : null;
      run.writes.putTrace({ runName: run.name, action, key, name, output, error, durationMs });
    },
  };
}
