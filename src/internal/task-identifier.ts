/**
 * The queue engine's task identifier of an environment's actions (and of its `queue`): what workers listen on and
 * what autoscalers count. Interruptible actions have one of their own: workers started with `--interruptible` take
 * only those, the others take both (see queue/worker.ts).
 */
export function taskIdentifier(env: string, queue?: string, interruptible = false): string {
  return `${queue ? `flyte/${env}/${queue}` : `flyte/${env}`}${interruptible ? ":interruptible" : ""}`;
}
