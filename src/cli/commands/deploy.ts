/**
 * `flyte deploy <file.ts|dir> [env...]`: registers the environments a file creates (or the named ones, or with
 * --all / --recursive every one it loads) with their dependsOn, a code bundle and their task specs, through
 * `deploy()`. Prints the version, the environments with their images and tasks, and the bundle.
 */
import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { deploy, listLoadedEnvironments, TaskEnvironment, type DeployResult, type Environment, type TaskTemplate } from "../../index.ts";
import { cliIo, openRuntime, type CliOutput } from "../context.ts";
import { attachSignatures } from "../inputs/task-signatures.ts";
import { loadModule, UsageError } from "../load-task.ts";
import { color, toJson } from "../render/format.ts";
import { stringify as toYaml } from "yaml";

interface DeployFlags {
  version?: string;
  dryRun?: boolean;
  copyStyle: string;
  recursive?: boolean;
  all?: boolean;
  build?: boolean;
  builder?: string;
}

const COPY_STYLES = ["loaded_modules", "all", "none"];
const SOURCE = /\.(ts|mts|js|mjs)$/;

/** The source files under `dir` (skipping node_modules, dot folders, declaration and test files), sorted. */
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith(".") || name === "node_modules") continue;
    const abs = join(dir, name);
    if (statSync(abs).isDirectory()) out.push(...sourceFiles(abs));
    else if (SOURCE.test(name) && !/\.d\.m?ts$/.test(name) && !/\.(test|spec)\.m?[jt]s$/.test(name)) out.push(abs);
  }
  return out;
}

const sourceOf = (e: Environment) => (e instanceof TaskEnvironment ? e.sourceFile : undefined);

/** The environments to deploy: named ones, else those the files create or export (all that loaded with --all). */
async function selectEnvironments(path: string, names: string[], flags: DeployFlags): Promise<Environment[]> {
  const abs = resolve(path);
  const isDir = statSync(abs, { throwIfNoEntry: false })?.isDirectory() === true;
  if (isDir && !flags.recursive) {
    throw new UsageError(`${path} is a folder. Pass a file, or add --recursive to deploy the environments of every file under it.`);
  }
  const files = isDir ? sourceFiles(abs) : [abs];
  if (files.length === 0) throw new UsageError(`${path} holds no .ts or .js files to deploy.`);
  const before = new Set(listLoadedEnvironments());
  const exported = new Set<Environment>();
  // The environments of exported tasks: what the file loads even when its modules were imported earlier in this process.
  const ofTasks = new Set<Environment>();
  for (const f of files) {
    const mod = await loadModule(isDir ? f : path);
    for (const v of Object.values(mod)) {
      if (v instanceof TaskEnvironment) exported.add(v);
      else if (typeof v === "function" && (v as Partial<TaskTemplate>).env instanceof TaskEnvironment) ofTasks.add((v as TaskTemplate).env!);
    }
  }
  const loaded = listLoadedEnvironments();
  const own = loaded.filter((e) => exported.has(e) || files.includes(sourceOf(e) ?? ""));
  const elsewhere = [...new Set([...loaded.filter((e) => !before.has(e)), ...ofTasks])].filter((e) => !own.includes(e));
  const described = (envs: Environment[]) => envs.map((e) => e.name).join(", ");
  if (names.length > 0) {
    const candidates = [...own, ...elsewhere];
    return names.map((n) => {
      const found = candidates.find((e) => e.name === n);
      if (!found) {
        throw new UsageError(`${path} has no environment named ${JSON.stringify(n)}. Environments: ${described(candidates) || "(none)"}.`);
      }
      return found;
    });
  }
  const all = flags.all || flags.recursive ? [...own, ...elsewhere] : own;
  if (all.length > 0) return all;
  if (elsewhere.length > 0) {
    throw new UsageError(
      `${path} creates no environment itself; the files it imports create ${described(elsewhere)}. Name the ones to deploy (flyte deploy ${path} ${elsewhere[0]!.name}) or add --all.`,
    );
  }
  throw new UsageError(`${path} defines no environments. Create one with new TaskEnvironment({ name }) and declare its tasks with env.task(...).`);
}

/** The environments and their dependsOn, each once. */
function closure(envs: readonly Environment[], seen = new Set<Environment>()): Environment[] {
  for (const e of envs) {
    if (seen.has(e)) continue;
    seen.add(e);
    closure(e.dependsOn, seen);
  }
  return [...seen];
}

/** Gives schema-less tasks the interface of their TypeScript signature, so their specs carry it. */
async function readSignatures(envs: readonly Environment[], stderr: CliOutput): Promise<void> {
  const tasks: TaskTemplate[] = closure(envs).flatMap((e) => (e instanceof TaskEnvironment ? [...e.tasks.values()] : []));
  let warned = false;
  for (const t of tasks) {
    if (t.interface.inputs || t.interface.jsonSchema) continue;
    const ok = await attachSignatures(t, tasks, (line) => {
      if (!warned) stderr.write(line);
      warned = true;
    });
    if (!ok) return;
  }
}

function printResult(out: CliOutput, r: DeployResult, tty: boolean): void {
  const lines: string[] = [];
  const head = r.status === "dry-run" ? "Dry run: would deploy" : r.status === "unchanged" ? "Already deployed:" : "Deployed";
  lines.push(`${color(tty, r.status === "deployed" ? "green" : "cyan", head)} version ${r.version}`);
  const status = new Map(r.images.map((i) => [i.uri, i.status]));
  const rows = [["ENVIRONMENT", "IMAGE", "TASKS"], ...r.environments.map((e) => {
    const s = status.get(e.image);
    return [e.name, `${e.image}${s && s !== "prebuilt" ? ` (${s})` : ""}`, e.tasks.join(", ") || "(no tasks)"];
  })];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) lines.push(`  ${row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()}`);
  if (r.triggers.length > 0) lines.push(`Triggers: ${r.triggers.join(", ")}`);
  if (r.bundle) {
    lines.push(`Bundle: ${r.bundle.files.length} file${r.bundle.files.length === 1 ? "" : "s"}, sha256 ${r.bundle.digest.slice(0, 12)}, ${r.bundle.uri}`);
    if (r.status === "dry-run") for (const f of r.bundle.files) lines.push(`  ${f}`);
  } else {
    lines.push("Bundle: none (copy style none: the image holds the code)");
  }
  for (const m of r.messages) lines.push(m);
  out.write(`${lines.join("\n")}\n`);
}

export function registerDeployCommand(program: Command): void {
  program
    .command("deploy")
    .description("Register environments (with their dependsOn), a code bundle and their task specs under a version")
    .argument("<file>", "TypeScript or JavaScript file that creates the environments (a folder with --recursive)")
    .argument("[envs...]", "deploy only these environments (and their dependsOn)")
    .option("--version <version>", "version to register under (default: a hash of the code bundle, the task specs and the images)")
    .option("--dry-run", "build the bundle and specs and print what would be deployed; write nothing")
    .option("--copy-style <style>", "loaded_modules (the files the file loads), all (every project file) or none (needs --version)", "loaded_modules")
    .option("-r, --recursive", "the path is a folder: load every .ts/.js file under it and deploy every environment they create")
    .option("--all", "deploy every environment the file loads, not only those it creates")
    .option("--build", "build images that need building (default: only when image.builder is configured)")
    .option("--no-build", "never build images; record their URIs")
    .option("--builder <builder>", "docker or buildah, when images are built (default: config image.builder, else docker when its daemon answers, else buildah)")
    .action(async (file: string, envNames: string[], flags: DeployFlags, cmd: Command) => {
      if (!COPY_STYLES.includes(flags.copyStyle)) {
        throw new UsageError(`--copy-style must be loaded_modules, all or none, got ${JSON.stringify(flags.copyStyle)}.`);
      }
      if (flags.copyStyle === "none" && flags.version === undefined) {
        throw new UsageError("--copy-style none needs --version: without a code bundle there is no code hash to derive a version from. Add --version v1, or use --copy-style loaded_modules.");
      }
      if (flags.builder !== undefined && !["docker", "buildah"].includes(flags.builder)) {
        throw new UsageError(`--builder must be "docker" or "buildah", got ${JSON.stringify(flags.builder)}.`);
      }
      const g = await openRuntime(cmd);
      const io = cliIo(cmd);
      const envs = await selectEnvironments(file, envNames, flags);
      await readSignatures(envs, io.stderr);
      const tty = io.stderr.isTTY;
      const r = await deploy(envs, {
        copyStyle: flags.copyStyle as "loaded_modules" | "all" | "none",
        ...(flags.version !== undefined ? { version: flags.version } : {}),
        ...(flags.dryRun ? { dryRun: true } : {}),
        ...(flags.build !== undefined ? { build: flags.build } : {}),
        ...(flags.builder !== undefined ? { builder: flags.builder as "docker" | "buildah" } : {}),
        onProgress: (e) => {
          if (e.type === "build") io.stderr.write(`${color(tty, "cyan", "→")} building ${e.uri} with ${e.builder}\n`);
          else if (e.type === "built") io.stderr.write(`${color(tty, "green", "✓")} ${e.uri} built${e.pushed ? " and pushed" : ""}\n`);
          else if (e.type === "exists") io.stderr.write(`${color(tty, "green", "✓")} ${e.uri} already exists\n`);
          else if (e.type === "log" && g.verbose > 0) io.stderr.write(`  ${e.line}\n`);
        },
      });
      if (g.outputFormat === "json") io.stdout.write(`${toJson(r)}\n`);
      else if (g.outputFormat === "yaml") io.stdout.write(toYaml(JSON.parse(toJson(r))));
      else printResult(io.stdout, r, io.stdout.isTTY);
    });
}
