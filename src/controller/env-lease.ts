/**
 * Local mode runs every attempt in one process, so `process.env` is shared. Attempts lease the variables
 * they need: set on start, restored when the last holder ends, and a warning names a variable that two
 * concurrent attempts want with different values (API.md §8.1).
 */
interface Holder {
  value: string;
  count: number;
  original: string | undefined;
}
const held = new Map<string, Holder>();

export function leaseEnv(vars: Record<string, string>, who: string, describe: (name: string) => string = (n) => n): () => void {
  const taken: string[] = [];
  for (const [name, value] of Object.entries(vars)) {
    const h = held.get(name);
    if (h) {
      if (h.value !== value) {
        process.emitWarning(
          `Environment variable ${describe(name)} is set to different values by concurrently running actions (now ${who}). In local mode they share process.env; use getSecret()/ctx() for per-action values or a worker mode for isolation.`,
        );
        h.value = value;
      }
      h.count++;
    } else {
      held.set(name, { value, count: 1, original: process.env[name] });
    }
    process.env[name] = value;
    taken.push(name);
  }
  return () => {
    for (const name of taken) {
      const h = held.get(name);
      if (!h) continue;
      if (--h.count === 0) {
        held.delete(name);
        if (h.original === undefined) delete process.env[name];
        else process.env[name] = h.original;
      }
    }
  };
}
