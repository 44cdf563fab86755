/**
 * Golden manifests of the examples: what `flyte k8s manifests <example>` prints, with image identifiers (content
 * hashes that change with the Node major and flyte-ts version of the machine) replaced by `<identifier>`.
 * test/k8s.manifests.test.ts compares; `npm run k8s:golden` (scripts/k8s-golden.ts) rewrites them on purpose.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./runtime.ts";

export const GOLDEN_DIR = join(REPO, "test/golden/k8s");
export const REGENERATE = "npm run k8s:golden";

/** Every example file that defines environments, relative to the repository. */
export function exampleFiles(): string[] {
  const tour = readdirSync(join(REPO, "examples/tour")).filter((f) => f.endsWith(".ts")).sort().map((f) => `examples/tour/${f}`);
  return ["examples/quickstart.ts", "examples/sandbox.ts", "examples/clustered/ddp.ts", ...tour];
}

export const GOLDEN_ARGS = ["--namespace", "flyte", "--storage-url", "s3://flyte-data/flyte", "--skip-image-check"];

export function goldenPath(example: string): string {
  return join(GOLDEN_DIR, `${example.replace(/^examples\//, "").replace(/\.ts$/, "").replaceAll("/", "-")}.yaml`);
}

export function normalize(yaml: string): string {
  return yaml.replace(/:[0-9a-f]{32}\b/g, ":<identifier>");
}
