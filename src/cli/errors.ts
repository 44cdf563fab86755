/** Maps failures to exit codes and one-paragraph messages (no stack traces for user mistakes). */
import { FlyteError } from "../errors.ts";
import type { CliOutput } from "./context.ts";
import { UsageError } from "./load-task.ts";

export const EXIT = { ok: 0, user: 1, usage: 2, system: 3 } as const;

export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError) return EXIT.usage;
  if (e instanceof FlyteError) return e.kind === "user" ? EXIT.user : EXIT.system;
  return EXIT.system;
}

export function reportError(e: unknown, verbose: boolean, stderr: CliOutput): number {
  const code = exitCodeFor(e);
  if (e instanceof UsageError) stderr.write(`error: ${e.message}\n`);
  else if (e instanceof FlyteError) {
    stderr.write(`${e.name}${e.code !== e.name ? ` (${e.code})` : ""}: ${e.message}\n`);
    if (verbose && e.stack) stderr.write(`${e.stack}\n`);
  } else {
    const err = e as Error;
    stderr.write(`Internal error: ${err?.message ?? String(e)}\n${err?.stack ?? ""}\nPlease report this at the flyte-ts issue tracker.\n`);
  }
  return code;
}
