/** How a child process of flyte-ts (a clustered rank, an isolated attempt) is started so it can load the user's code. */
import { createRequire } from "node:module";
import { extname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = fileURLToPath(import.meta.url);
/** tsx's loader, resolved from this package so a child can import the user's TypeScript whatever the cwd is. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

/**
 * Run from the sources of a flyte-ts checkout (not the compiled dist/), a child must resolve the user file's
 * `import "flyte-ts"` to those sources too, as `bin/flyte.js` arranges for the CLI, or it would load a second runtime.
 */
const SOURCE_CONDITIONS = extname(here) === ".ts" ? ["--conditions=flyte-ts-source"] : [];

/** Node flags for a child process that imports the user's TypeScript and shares this process's copy of flyte-ts. */
export function nodeFlagsForUserCode(): string[] {
  return ["--import", TSX_LOADER, ...SOURCE_CONDITIONS];
}
