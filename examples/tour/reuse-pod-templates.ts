/**
 * Reusable environments and pod templates. Both shape how tasks run on a cluster (a warm pool of workers, extra
 * containers and labels on the pod); the embedded runtime records them and runs every action in process.
 *   npx flyte run examples/tour/reuse-pod-templates.ts main
 */
import { PodTemplate, Resources, ReusePolicy, TaskEnvironment } from "flyte-ts";

// A warm pool of 1–4 workers, each running up to 8 actions at once (so tasks must be async functions).
const pool = new TaskEnvironment({
  name: "tour-reuse",
  resources: new Resources({ cpu: 1, memory: "1Gi" }),
  reusable: new ReusePolicy({ replicas: [1, 4], concurrency: 8, idleTtl: "10m", scaledownTtl: "1m" }),
});

// A sidecar container and labels added to every pod of the environment.
const withSidecar = new TaskEnvironment({
  name: "tour-pod-template",
  podTemplate: new PodTemplate({
    labels: { team: "ml" },
    podSpec: { containers: [{ name: "primary" }, { name: "metrics", image: "prom/statsd-exporter:v0.26.0" }] },
  }).withTerminationGracePeriod("30s"),
});

// Module state survives between actions on a reused worker: load expensive things once.
let model: string | undefined;

export const embed = pool.task(async function embed({ text }: { text: string }) {
  model ??= "tiny-embedder";
  return { model, dims: text.length };
});

export const publish = withSidecar.task(async function publish({ count }: { count: number }) {
  return `published ${count} embeddings`;
});

export const main = withSidecar.task(async function main({ texts = ["a", "bb", "ccc"] }: { texts?: string[] }) {
  const vectors = await Promise.all(texts.map((text) => embed({ text })));
  // Reusable tasks use the pool's resources; to change them for one call, leave the pool with reusable: "off".
  const standalone = embed.override({ reusable: "off", resources: new Resources({ cpu: 4, memory: "8Gi" }) });
  const extra = await standalone({ text: "dddd" });
  return { dims: [...vectors, extra].map((v) => v.dims), message: await publish({ count: vectors.length + 1 }) };
});
