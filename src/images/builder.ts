/**
 * The `ImageBuilder` interface every build backend implements (docker buildx, buildah), and the process runner
 * they share. A builder only turns a staged context into a tagged (and optionally pushed) image; deciding
 * whether to build, staging and secrets belong to the engine (`build-engine.ts`), so backends stay small and
 * one conformance suite (`builder.conformance.ts`) checks them all.
 * @module
 */
import { spawn } from "node:child_process";
import { ImageBuildError } from "../errors.ts";
import type { Platform } from "./validate.ts";

export interface BuildRequest {
  /** The tag to build, e.g. `localhost:5000/etl:<identifier>`. */
  readonly uri: string;
  /** Folder sent as the build context. */
  readonly contextDir: string;
  /** Absolute path of the Dockerfile. */
  readonly dockerfile: string;
  readonly platforms: readonly Platform[];
  /** Push `uri` to its registry after building. */
  readonly push: boolean;
  /** Talk plain HTTP to the registry of `uri` (loopback registries). */
  readonly insecurePush: boolean;
  /** Pull base images over plain HTTP (a base on a loopback registry). */
  readonly insecurePull: boolean;
  /** Secret files for `RUN --mount=type=secret,id=<id>`. */
  readonly secrets: readonly { readonly id: string; readonly src: string }[];
  /** Receives the tool's output line by line, for progress display. */
  readonly onLine?: (line: string) => void;
}

export type BuilderProbe = { readonly ok: true; readonly version: string } | { readonly ok: false; readonly reason: string; readonly fix: string };

/** A build backend. */
export interface ImageBuilder {
  /** `docker`, `buildah`, or a custom name. */
  readonly name: string;
  /** Whether the tool can build here; when not, why and what to install or start. */
  probe(): Promise<BuilderProbe>;
  /** Builds (and pushes when asked); `ImageBuildError` with the output tail on failure. */
  build(req: BuildRequest): Promise<void>;
  /** Whether the local image store has `uri` (used when nothing is pushed). */
  existsLocally(uri: string): Promise<boolean>;
}

export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  /** The last lines of stdout and stderr together, in arrival order. */
  readonly tail: readonly string[];
}

const TAIL_LINES = 40;

/** Runs a command, streaming lines to `onLine` and keeping a tail; a missing binary rejects with ENOENT. */
export function runTool(
  cmd: string,
  args: readonly string[],
  o: { cwd?: string; onLine?: (line: string) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    let stdout = "";
    const partial = { out: "", err: "" };
    const onData = (which: "out" | "err") => (chunk: Buffer) => {
      const text = partial[which] + chunk.toString("utf8");
      if (which === "out") stdout += chunk.toString("utf8");
      const lines = text.split(/\r?\n/);
      partial[which] = lines.pop()!;
      for (const line of lines) push(line);
    };
    const push = (line: string) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      o.onLine?.(line);
    };
    child.stdout.on("data", onData("out"));
    child.stderr.on("data", onData("err"));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (partial.out) push(partial.out);
      if (partial.err) push(partial.err);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, tail });
    });
  });
}

/** Like `runTool`, but a missing binary or a non-zero exit becomes an `ImageBuildError` with the output tail. */
export async function runOrThrow(
  tool: string,
  args: readonly string[],
  what: string,
  o: { cwd?: string; onLine?: (line: string) => void; hint?: string; install: string },
): Promise<ToolResult> {
  let r: ToolResult;
  try {
    r = await runTool(tool, args, o);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new ImageBuildError(`${tool} is not installed (not found on PATH), so ${what} is impossible. ${o.install}`, { cause: e });
    }
    throw new ImageBuildError(`${tool} could not be started for ${what}: ${(e as Error).message}`, { cause: e });
  }
  if (r.code !== 0) {
    const step = r.tail.map((l) => /building at STEP "(.*)":/.exec(l)?.[1] ?? /ERROR: .*process "(.*)" did not complete/.exec(l)?.[1]).find(Boolean);
    // A base that cannot be pulled fails before any step runs; say so instead of blaming a step.
    const pull = !step && r.tail.some((l) => /creating build container|failed to resolve source metadata|pull access denied|manifest unknown/i.test(l));
    const hint = pull ? "The base image could not be pulled: check its name, that its registry is reachable, and that you are logged in." : o.hint ?? "";
    throw new ImageBuildError(
      `${tool} failed to ${what} (exit ${r.code})${step ? ` at step: ${step}` : ""}. ${hint}\n` +
        `--- last ${r.tail.length} lines of ${tool} output ---\n${r.tail.join("\n")}`,
    );
  }
  return r;
}
