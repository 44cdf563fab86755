/**
 * Rewrites test/golden/k8s/*.yaml from the current `flyte k8s manifests` of every example (see
 * test/helpers/k8s-golden.ts). Run it when a change to the manifests is intended, and review the diff.
 *   npm run k8s:golden
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { flyteIn } from "../test/helpers/cli.ts";
import { exampleFiles, GOLDEN_ARGS, GOLDEN_DIR, goldenPath, normalize } from "../test/helpers/k8s-golden.ts";
import { REPO } from "../test/helpers/runtime.ts";

mkdirSync(GOLDEN_DIR, { recursive: true });
let failed = 0;
for (const example of exampleFiles()) {
  const r = await flyteIn(REPO, ["k8s", "manifests", example, ...GOLDEN_ARGS]);
  if (r.code !== 0) {
    failed++;
    process.stderr.write(`${example}: exit ${r.code}\n${r.stderr}\n`);
    continue;
  }
  writeFileSync(goldenPath(example), normalize(r.stdout));
  process.stdout.write(`wrote ${goldenPath(example)}\n`);
}
process.exit(failed ? 1 : 0);
