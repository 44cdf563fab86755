/**
 * `docker buildx` backend (BuildKit): the default where a Docker daemon answers, since it is what most
 * developers have and BuildKit runs independent stages in parallel. The probe asks the daemon, not just the
 * CLI, because a docker CLI without a reachable daemon (common in containers) cannot build anything.
 * @module
 */
import { runOrThrow, runTool, type BuilderProbe, type BuildRequest, type ImageBuilder } from "./builder.ts";

export interface DockerBuilderOptions {
  /** Path of the docker binary. @default "docker" */
  binary?: string;
  /** `--builder` for buildx (e.g. a docker-container builder for multi-platform). @default the current builder */
  buildxBuilder?: string;
}

const INSTALL = "Install Docker with the buildx plugin (https://docs.docker.com/engine/install/) or install buildah (`apt-get install -y buildah`).";

export class DockerBuilder implements ImageBuilder {
  readonly name = "docker";
  readonly #o: DockerBuilderOptions;

  constructor(o: DockerBuilderOptions = {}) {
    this.#o = { ...o };
  }

  get binary(): string {
    return this.#o.binary ?? "docker";
  }

  async probe(): Promise<BuilderProbe> {
    let server;
    try {
      server = await runTool(this.binary, ["version", "--format", "{{.Server.Version}}"]);
    } catch {
      return { ok: false, reason: "docker is not installed", fix: INSTALL };
    }
    if (server.code !== 0) {
      const why = server.tail.filter((l) => l.trim()).slice(-1)[0] ?? "no answer";
      return { ok: false, reason: `the docker daemon did not answer (${why})`, fix: "Start the Docker daemon (e.g. `systemctl start docker`) or use --builder buildah." };
    }
    const buildx = await runTool(this.binary, ["buildx", "version"]);
    if (buildx.code !== 0) {
      return { ok: false, reason: "the docker buildx plugin is missing", fix: "Install docker-buildx (Debian/Ubuntu: `apt-get install -y docker-buildx-plugin`) or use --builder buildah." };
    }
    return { ok: true, version: server.stdout.trim() };
  }

  async build(req: BuildRequest): Promise<void> {
    const args = [
      "buildx", "build",
      ...(this.#o.buildxBuilder ? ["--builder", this.#o.buildxBuilder] : []),
      "--progress", "plain",
      "--platform", req.platforms.join(","),
      "--tag", req.uri,
      ...req.secrets.flatMap((s) => ["--secret", `id=${s.id},src=${s.src}`]),
      // --push sends the result straight to the registry; --load keeps it in the daemon's image store.
      req.push ? "--push" : "--load",
      "--file", req.dockerfile,
      req.contextDir,
    ];
    await runOrThrow(this.binary, args, req.push ? `build and push ${req.uri}` : `build ${req.uri}`, {
      onLine: req.onLine,
      install: INSTALL,
      hint: req.push
        ? "Fix the failing step in the image definition, or check the registry login (`docker login <registry>`)."
        : "Fix the failing step in the image definition (or the Dockerfile).",
    });
  }

  async existsLocally(uri: string): Promise<boolean> {
    const r = await runTool(this.binary, ["image", "inspect", uri]).catch(() => undefined);
    return r?.code === 0;
  }
}
