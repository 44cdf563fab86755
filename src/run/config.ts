/**
 * Configuration: `init()` options, the YAML config file (§17 lookup order) and `FLYTE_*` environment
 * variables, resolved once into a frozen `ResolvedConfig`. The file schema is a strict zod object so an
 * unknown key is reported with its name and file instead of being ignored.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { createRequire } from "node:module";
import type { z as Z } from "zod";
import { InitializationError } from "../errors.ts";

export interface InitOptions {
  backend?: "embedded" | "cluster";
  root?: string;
  stateDir?: string;
  databaseUrl?: string;
  storage?: string;
  s3?: { region?: string; endpoint?: string; forcePathStyle?: boolean };
  project?: string;
  domain?: string;
  mode?: "local" | "remote" | "hybrid";
  images?: Record<string, string>;
  rawDataPath?: string;
  uiUrl?: string;
  logLevel?: "debug" | "info" | "warn" | "error";
  /** What a recorded action survives: `full` (power loss, the default) or `process` (the process being killed). */
  durability?: "full" | "process";
}

export interface ResolvedConfig {
  backend: "embedded" | "cluster";
  root: string;
  stateDir: string;
  databaseUrl?: string;
  /** cluster: connections in the PostgreSQL store's pool (`store.poolSize`, default 10). */
  poolSize?: number;
  storage: string;
  s3?: { region?: string; endpoint?: string; forcePathStyle?: boolean };
  project: string;
  domain: string;
  mode: "local" | "remote" | "hybrid";
  images: Record<string, string>;
  rawDataPath: string;
  uiUrl?: string;
  logLevel: "debug" | "info" | "warn" | "error";
  systemRetries: number;
  durability: "full" | "process";
  offload: boolean;
  secretsBackend: "local" | "env" | "kubernetes";
  maxActionConcurrency: number;
  imageBuilder?: "docker" | "buildah";
  imageRegistry?: string;
  /** The config file used, if any. */
  configFile?: string;
  /** cluster: where workers submit clustered tasks as JobSets (API.md §17 `kubernetes`); absent = ranks run in the worker. */
  kubernetes?: { kubeconfig?: string; context?: string; inCluster?: boolean; namespace?: string; ttlSeconds?: number };
}

// zod and yaml are loaded only when a config file exists: most runs have none, and zod alone costs ~12 MB.
const load = createRequire(import.meta.url);

function buildFileSchema(z: typeof Z) {
  const LEVEL = z.enum(["debug", "info", "warn", "error"]);
  const MODE = z.enum(["local", "remote", "hybrid"]);
  const DURABILITY = z.enum(["full", "process"]);
  const S3 = z.strictObject({ region: z.string().optional(), endpoint: z.string().optional(), forcePathStyle: z.boolean().optional() });
  return z.strictObject({
    backend: z.enum(["embedded", "cluster"]).optional(),
    project: z.string().optional(),
    domain: z.string().optional(),
    run: z.strictObject({ mode: MODE.optional(), maxActionConcurrency: z.number().int().min(0).optional() }).optional(),
    store: z.strictObject({ stateDir: z.string().optional(), databaseUrl: z.string().optional(), poolSize: z.number().int().min(1).optional() }).optional(),
    storage: z.strictObject({ url: z.string().optional(), s3: S3.optional(), rawDataPath: z.string().optional() }).optional(),
    image: z.strictObject({ builder: z.enum(["docker", "buildah"]).optional(), registry: z.string().optional() }).optional(),
    images: z.record(z.string(), z.string()).optional(),
    execution: z.strictObject({ systemRetries: z.number().int().min(0).optional(), durability: DURABILITY.optional() }).optional(),
    io: z.strictObject({ offload: z.boolean().optional() }).optional(),
    secrets: z.strictObject({ backend: z.enum(["local", "env", "kubernetes"]).optional() }).optional(),
    ui: z.strictObject({ url: z.string().optional() }).optional(),
    logging: z.strictObject({ level: LEVEL.optional() }).optional(),
    kubernetes: z.strictObject({
      kubeconfig: z.string().optional(), context: z.string().optional(), inCluster: z.boolean().optional(), namespace: z.string().optional(),
      ttlSeconds: z.number().int().min(0).optional(),
    }).optional(),
  });
}
let fileSchema: ReturnType<typeof buildFileSchema> | undefined;

export type ConfigFile = Z.infer<ReturnType<typeof buildFileSchema>>;

/** §17 lookup: explicit path → FLYTE_CONFIG → ./.flyte/config.yaml walking up → ~/.flyte/config.yaml. */
export function findConfigFile(explicit?: string, cwd = process.cwd()): string | undefined {
  if (explicit) {
    const p = resolve(cwd, explicit);
    if (!existsSync(p)) throw new InitializationError(`Config file ${p} does not exist. Create it with "flyte gen config" or fix the path.`, { code: "ConfigFileNotFoundError" });
    return p;
  }
  const env = process.env.FLYTE_CONFIG;
  if (env) {
    const p = resolve(cwd, env);
    if (!existsSync(p)) throw new InitializationError(`FLYTE_CONFIG points to ${p}, which does not exist. Unset it or fix the path.`, { code: "ConfigFileNotFoundError" });
    return p;
  }
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const p = join(dir, ".flyte", "config.yaml");
    if (existsSync(p)) return p;
    if (dirname(dir) === dir) break;
  }
  const home = join(homedir(), ".flyte", "config.yaml");
  return existsSync(home) ? home : undefined;
}

/**
 * The nearest directory at or above `cwd` whose `.flyte/` holds a store or a config file, so a command run in
 * a subdirectory uses the project's state instead of starting an empty one; `cwd` itself when there is none.
 * `~/.flyte` is the user's config directory, not a project's state, and is skipped (unless cwd is home).
 */
export function projectRoot(cwd: string): string {
  const home = homedir();
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (dir === resolve(cwd) || dir !== home) {
      if (existsSync(join(dir, ".flyte", "flyte.db")) || existsSync(join(dir, ".flyte", "config.yaml"))) return dir;
    }
    if (dirname(dir) === dir) return resolve(cwd);
  }
}

export function loadConfigFile(file: string): ConfigFile {
  let raw: unknown;
  try {
    raw = (load("yaml") as typeof import("yaml")).parse(readFileSync(file, "utf8")) ?? {};
  } catch (e) {
    throw new InitializationError(`Config file ${file} is not valid YAML: ${(e as Error).message}`, { cause: e, code: "BadConfig" });
  }
  fileSchema ??= buildFileSchema((load("zod") as { z: typeof Z }).z);
  const r = fileSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const at = issue.path.join(".");
    if (issue.code === "unrecognized_keys") {
      const keys = issue.keys.map((k) => (at ? `${at}.${k}` : k));
      throw new InitializationError(`Unknown key "${keys.join('", "')}" in config file ${file}. Remove it or check the spelling (see "flyte gen config").`, { code: "BadConfig" });
    }
    throw new InitializationError(`Config file ${file}: ${at || "(root)"} is invalid: ${issue.message}.`, { code: "BadConfig" });
  }
  return r.data;
}

const pick = <T>(...vs: (T | undefined)[]): T | undefined => vs.find((v) => v !== undefined);

/** Resolves init options over env vars over the config file over the embedded defaults. */
export function resolveConfig(o: InitOptions = {}, configPath?: string): ResolvedConfig {
  const root = resolve(o.root ?? process.cwd());
  const file = findConfigFile(configPath, root);
  const f: ConfigFile = file ? loadConfigFile(file) : {};
  const env = process.env;
  // Relative paths in a config file are relative to the project root that holds the .flyte folder.
  const fileBase = file && dirname(file).endsWith(".flyte") ? dirname(dirname(file)) : file ? dirname(file) : root;
  const backend = pick(o.backend, env.FLYTE_BACKEND as ResolvedConfig["backend"] | undefined, f.backend) ?? "embedded";
  if (backend !== "embedded" && backend !== "cluster") {
    throw new InitializationError(`Unknown backend ${JSON.stringify(backend)}. Use "embedded" (default, one process, SQLite) or "cluster".`, { code: "BadConfig" });
  }
  const stateDirRaw = pick(o.stateDir, f.store?.stateDir);
  const stateDir = stateDirRaw
    ? (isAbsolute(stateDirRaw) ? stateDirRaw : resolve(o.stateDir ? root : fileBase, stateDirRaw))
    : join(o.root === undefined ? projectRoot(root) : root, ".flyte");
  const databaseUrl = pick(o.databaseUrl, env.FLYTE_DATABASE_URL, f.store?.databaseUrl);
  const storageRaw = pick(o.storage, env.FLYTE_STORAGE_URL, f.storage?.url);
  if (backend === "cluster") {
    if (!databaseUrl) {
      throw new InitializationError(
        'backend "cluster" needs a databaseUrl (postgres://user:pass@host:5432/db). Pass init({ backend: "cluster", databaseUrl }), or set store.databaseUrl in the config file or FLYTE_DATABASE_URL.',
        { code: "BadConfig" },
      );
    }
    if (!storageRaw) throw new InitializationError('backend "cluster" needs a storage URL (s3://bucket/prefix). Set storage.url or FLYTE_STORAGE_URL.', { code: "BadConfig" });
  }
  let storage = storageRaw ?? join(stateDir, "blobs");
  if (!/^[a-z0-9]+:\/\//.test(storage)) storage = resolve(storageRaw && !o.storage ? fileBase : root, storage);
  else if (!/^(file|s3):\/\//.test(storage)) {
    throw new InitializationError(`Storage URL ${JSON.stringify(storage)} is not supported. Use a path, file:///abs/dir or s3://bucket/prefix.`, { code: "BadConfig" });
  }
  const mode = pick(o.mode, env.FLYTE_RUN_MODE as ResolvedConfig["mode"] | undefined, f.run?.mode) ?? (backend === "cluster" ? "remote" : "local");
  if (!["local", "remote", "hybrid"].includes(mode)) {
    throw new InitializationError(`Unknown run mode ${JSON.stringify(mode)}. Use "local", "remote" or "hybrid".`, { code: "BadConfig" });
  }
  const logLevel = pick(o.logLevel, env.FLYTE_LOG_LEVEL as ResolvedConfig["logLevel"] | undefined, f.logging?.level) ?? "warn";
  const s3 = pick(o.s3, f.storage?.s3);
  const rawDataPath = pick(o.rawDataPath, f.storage?.rawDataPath);
  const uiUrl = pick(o.uiUrl, f.ui?.url);
  const durability = pick(o.durability, env.FLYTE_DURABILITY as ResolvedConfig["durability"] | undefined, f.execution?.durability) ?? "full";
  if (durability !== "full" && durability !== "process") {
    throw new InitializationError(`Unknown durability ${JSON.stringify(durability)}. Use "full" (survives power loss, the default) or "process" (survives the process being killed).`, { code: "BadConfig" });
  }
  const cfg: ResolvedConfig = {
    backend, root, stateDir, storage, project: pick(o.project, env.FLYTE_PROJECT, f.project) ?? "default",
    domain: pick(o.domain, env.FLYTE_DOMAIN, f.domain) ?? "development", mode, images: { ...(f.images ?? {}), ...(o.images ?? {}) },
    rawDataPath: rawDataPath ?? `${storage.replace(/\/$/, "")}/raw`, logLevel, systemRetries: f.execution?.systemRetries ?? 3, durability,
    offload: f.io?.offload ?? true, secretsBackend: f.secrets?.backend ?? "local", maxActionConcurrency: f.run?.maxActionConcurrency ?? 0,
  };
  if (databaseUrl) cfg.databaseUrl = databaseUrl;
  if (f.store?.poolSize !== undefined) cfg.poolSize = f.store.poolSize;
  if (s3) cfg.s3 = s3;
  if (uiUrl) cfg.uiUrl = uiUrl;
  if (f.image?.builder) cfg.imageBuilder = f.image.builder;
  if (f.image?.registry) cfg.imageRegistry = f.image.registry;
  if (file) cfg.configFile = file;
  if (f.kubernetes) {
    const k = { ...f.kubernetes };
    if (k.kubeconfig && !k.kubeconfig.startsWith("~/") && !isAbsolute(k.kubeconfig)) k.kubeconfig = resolve(fileBase, k.kubeconfig);
    cfg.kubernetes = k;
  }
  return Object.freeze(cfg);
}

/** The starter config `flyte gen config` writes. */
export function starterConfig(backend: "embedded" | "cluster" = "embedded"): string {
  if (backend === "cluster") {
    return [
      "backend: cluster", "project: default", "domain: development", "run:", "  mode: remote", "store:",
      "  databaseUrl: postgres://flyte:flyte@localhost:5432/flyte", "storage:", "  url: s3://flyte-data/runs",
      "  s3: { region: us-east-1, endpoint: http://localhost:9000, forcePathStyle: true }", "logging:", "  level: warn", "",
    ].join("\n");
  }
  return [
    "backend: embedded", "project: default", "domain: development", "run:", "  mode: local", "  maxActionConcurrency: 0",
    "store:", "  stateDir: .flyte", "execution:", "  systemRetries: 3", "  durability: full  # full: survives power loss; process: survives a crash only", "io:", "  offload: true", "secrets:", "  backend: local",
    "logging:", "  level: warn", "",
  ].join("\n");
}
