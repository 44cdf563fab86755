/**
 * Caching: an "auto" task reuses its output for the same inputs (ignoring `requestedAt`) until its body changes.
 *   npx flyte run examples/tour/cache.ts main     (run it twice: the second run only hits the cache)
 */
import { Cache, TaskEnvironment } from "flyte-ts";

// Every task of the environment is cached unless it says otherwise.
const env = new TaskEnvironment({ name: "tour-cache", cache: "auto" });

// The cache key covers the inputs (minus ignoredInputs), the task and its interface, and a version: a hash of
// the function's tokens plus the salt, so editing the body invalidates entries and reformatting does not.
export const wordCount = env.task(
  { cache: new Cache({ behavior: "auto", ignoredInputs: ["requestedAt"], salt: "v1" }) },
  async function wordCount({ text, requestedAt }: { text: string; requestedAt: string }) {
    console.log(`counting words (requested at ${requestedAt})`);
    return text.split(/\s+/).filter(Boolean).length;
  },
);

export const main = env.task({ cache: "disable" }, async function main({ text = "the quick brown fox" }: { text?: string }) {
  const first = await wordCount({ text, requestedAt: new Date().toISOString() });
  // Same text, different requestedAt: a cache hit, the function does not run again.
  const second = await wordCount({ text, requestedAt: new Date().toISOString() });
  return { first, second };
});
