#!/usr/bin/env node
// The `flyte` command. It loads the user's TypeScript files, so it runs under tsx's ESM loader.
//
// An installed package runs the compiled CLI in dist/. A source checkout of flyte-ts (the only place where src/ exists:
// the published tarball holds dist/ only) runs the sources instead, and adds the "flyte-ts-source" export condition so
// that a user file's `import "flyte-ts"` resolves to those same sources: the CLI and the user's tasks must share one
// copy of the runtime (its AsyncLocalStorage and registries). A dist/ left over from an earlier build is never used here.
import { existsSync } from "node:fs";
import { register } from "node:module";
import { register as registerTsx } from "tsx/esm/api";

registerTsx();
const sourceMain = new URL("../src/cli/main.ts", import.meta.url);
let entry = new URL("../dist/cli/main.js", import.meta.url).href;
if (existsSync(sourceMain)) {
  // Hooks registered later run first, so this one adds the condition before tsx and Node resolve the specifier.
  register(
    "data:text/javascript,export function resolve(s, c, next) { return next(s, { ...c, conditions: [...c.conditions, 'flyte-ts-source'] }); }",
  );
  entry = sourceMain.href;
}
// Importing the CLI module starts nothing; runCli() runs the command line and exits.
const { runCli } = await import(entry);
await runCli(process.argv);
