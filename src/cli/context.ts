/** Global CLI options shared by every command, and the runtime they select. */
import type { Command } from "commander";
import { initFromConfig } from "../run/runtime.ts";

export interface GlobalOptions {
  config?: string;
  verbose: number;
  outputFormat: "table" | "json" | "yaml";
  project?: string;
  domain?: string;
}

export function globals(cmd: Command): GlobalOptions {
  let root = cmd;
  while (root.parent) root = root.parent;
  return root.opts<GlobalOptions>();
}

/** Opens the store selected by --config / env / config file (reaping runs whose owner died). */
export async function openRuntime(cmd: Command): Promise<GlobalOptions> {
  const g = globals(cmd);
  await initFromConfig(g.config, { ...(g.project ? { project: g.project } : {}), ...(g.domain ? { domain: g.domain } : {}) });
  return g;
}
