import { Image, TaskEnvironment } from "flyte-ts";

// `flyte deploy examples/tour/deploy.ts` registers tour-deploy and, first, what it dependsOn.
const shared = new TaskEnvironment({
  name: "tour-deploy-shared",
  image: Image.fromDebianBase().withNpmPackages("lodash@4"),
});
const env = new TaskEnvironment({ name: "tour-deploy", image: "node:20-slim", dependsOn: [shared], cache: "auto" });

// Each task's spec is registered under the deployment's version: interface, cache, retries, timeouts, image, env.
export const normalize = shared.task({ retries: 2, timeout: "1m" }, async function normalize({ word }: { word: string }) {
  return word.trim().toLowerCase();
});

export const main = env.task(async function main({ words = ["Ada", " Grace "] }: { words?: string[] }) {
  return Promise.all(words.map((word) => normalize({ word })));
});
