/**
 * Errors: every failure is a named class from flyte-ts/errors with a stable `code`. A child's error reaches the
 * awaiting parent as the same class; any other thrown value arrives as RuntimeUserError with the original name
 * as its code.
 *   npx flyte run examples/tour/errors.ts main
 */
import { z } from "zod";
import { Resources, TaskEnvironment } from "flyte-ts";
import { CustomError, NonRecoverableError, RuntimeUserError, ValidationError } from "flyte-ts/errors";

const env = new TaskEnvironment({ name: "tour-errors" });

export const parse = env.task({ retries: 2 }, async function parse({ text }: { text: string }) {
  // NonRecoverableError fails the action at once, without using the retries.
  if (!text.trim()) throw new NonRecoverableError("The text is empty. Pass a JSON document.");
  return JSON.parse(text) as unknown; // a SyntaxError is retried, then reaches the caller with code "SyntaxError"
});

export const charge = env.task({ inputs: z.object({ amount: z.number().positive() }) }, async function charge({ amount }) {
  return Math.round(amount * 120) / 100;
});

export const reserve = env.task(async function reserve({ used }: { used: number }) {
  if (used > 100) throw new CustomError(`Quota exceeded: used ${used} of 100. Ask for a larger quota.`, { code: "QuotaExceeded" });
  return 100 - used;
});

export const main = env.task(async function main() {
  const failures: Array<{ call: string; error: string; code: string }> = [];
  const attempt = async (call: string, f: () => Promise<unknown>) => {
    try {
      await f();
    } catch (e) {
      if (!(e instanceof RuntimeUserError)) throw e;
      failures.push({ call, error: e.name, code: e.code });
    }
  };
  await attempt("parse empty", () => parse({ text: " " }));
  await attempt("parse bad JSON", () => parse({ text: "{oops" }));
  await attempt("charge -1", () => charge({ amount: -1 })); // rejected by the schema before any child starts
  await attempt("reserve 150", () => reserve({ used: 150 }));

  // Definition mistakes throw ValidationError right away, naming the option, the bad value and the fix.
  let definitionError = "";
  try {
    new Resources({ memory: "4GB" });
  } catch (e) {
    if (e instanceof ValidationError) definitionError = e.message;
  }
  return { failures, definitionError };
});
