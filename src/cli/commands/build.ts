/**
 * `flyte build <file.ts> [env] [--force] [--builder docker|buildah] [--no-push]`: builds the images of the
 * environments a file defines (and of their `dependsOn`), skipping those the registry already has. Progress
 * goes to stderr; stdout gets one `<uri> built|exists` line per image (or JSON with --output-format json).
 */
import type { Command } from "commander";
import { listLoadedEnvironments } from "../../index.ts";
import { buildEnvironments, type BuildableEnvironment, type BuildProgress } from "../../images/build-engine.ts";
import { BUILDER_NAMES, setImageConfig, type BuilderName } from "../../images/config.ts";
import { resolveConfig } from "../../run/config.ts";
import { cliIo, globals, type CliOutput } from "../context.ts";
import { loadModule, UsageError } from "../load-task.ts";
import { color, toJson } from "../render/format.ts";

interface BuildFlags {
  force?: boolean;
  builder?: string;
  push: boolean;
}

/** Step lines worth showing without -v: buildah's `STEP n/m:` and BuildKit's `#n [k/m] ...`. */
const STEP_LINE = /^(STEP \d+\/\d+:|#\d+ \[[^\]]*\d+\/\d+\])/;

function progressPrinter(stderr: CliOutput, verbose: boolean): (e: BuildProgress) => void {
  const tty = stderr.isTTY;
  const err = (s: string) => stderr.write(`${s}\n`);
  return (e) => {
    switch (e.type) {
      case "check":
        if (verbose) err(color(tty, "gray", `checking ${e.uri}`));
        break;
      case "exists":
        err(`${color(tty, "green", "✓")} ${e.uri} already exists`);
        break;
      case "build":
        err(`${color(tty, "cyan", "→")} building ${e.uri} with ${e.builder}`);
        break;
      case "log":
        if (verbose || STEP_LINE.test(e.line)) err(color(tty, "gray", `  ${e.line}`));
        break;
      case "built":
        err(`${color(tty, "green", "✓")} ${e.uri} built${e.pushed ? " and pushed" : ""}`);
        break;
    }
  };
}

export function registerBuildCommand(program: Command): void {
  program
    .command("build")
    .description("Build and push the images of a file's environments (and their dependsOn); images the registry already has are skipped")
    .argument("<file>", "TypeScript or JavaScript file that defines the environments")
    .argument("[env]", "build only this environment (and its dependsOn)")
    .option("--force", "rebuild even when the image already exists")
    .option("--builder <builder>", "docker or buildah (default: config image.builder, else docker when its daemon answers, else buildah)")
    .option("--no-push", "build into the local image store only")
    .action(async (file: string, envName: string | undefined, flags: BuildFlags, cmd: Command) => {
      const g = globals(cmd);
      const io = cliIo(cmd);
      if (flags.builder !== undefined && !BUILDER_NAMES.includes(flags.builder as BuilderName)) {
        throw new UsageError(`--builder must be "docker" or "buildah", got ${JSON.stringify(flags.builder)}.`);
      }
      // Only the image settings are needed; building must not open (or create) the run store.
      const config = resolveConfig({}, g.config);
      setImageConfig({ builder: config.imageBuilder, registry: config.imageRegistry, images: config.images });

      await loadModule(file);
      const all = listLoadedEnvironments() as unknown as BuildableEnvironment[];
      if (all.length === 0) throw new UsageError(`${file} defines no environments. Create one with new TaskEnvironment({ name, image }).`);
      let targets = all;
      if (envName !== undefined) {
        targets = all.filter((e) => e.name === envName);
        if (targets.length === 0) {
          throw new UsageError(`${file} has no environment named ${JSON.stringify(envName)}. Environments: ${all.map((e) => e.name).join(", ")}.`);
        }
      }
      const results = await buildEnvironments(targets, {
        force: flags.force === true,
        push: flags.push,
        ...(flags.builder ? { builder: flags.builder as BuilderName } : {}),
        onProgress: progressPrinter(io.stderr, g.verbose > 0),
      });
      if (g.outputFormat === "json" || g.outputFormat === "yaml") {
        io.stdout.write(`${toJson(results)}\n`);
        return;
      }
      const width = Math.max(...results.map((r) => r.uri.length));
      for (const r of results) {
        io.stdout.write(`${r.uri.padEnd(width)}  ${r.built ? "built " : "exists"}  ${r.environments.join(", ")}\n`);
      }
    });
}
