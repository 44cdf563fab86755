#!/usr/bin/env node
// The CLI loads user TypeScript files directly, so it runs under tsx's ESM loader.
import { register } from "tsx/esm/api";
register();
await import("../src/cli/main.ts");
