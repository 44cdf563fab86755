/**
 * `buildah` backend: daemonless and rootless-friendly, so it builds where no Docker daemon runs (CI, sandboxes,
 * containers). `--isolation chroot` is the default because it needs no user namespaces or runc; storage options
 * are passed through so callers (and tests) can use `--storage-driver vfs` with a private `--root`.
 *
 * @example
 * ```ts
 * const builder = new BuildahBuilder({ storageDriver: "vfs", root: "/tmp/b/root", runroot: "/tmp/b/run" });
 * await build(image, { builder });
 * ```
 * @module
 */
import { runOrThrow, runTool, type BuilderProbe, type BuildRequest, type ImageBuilder } from "./builder.ts";

export interface BuildahBuilderOptions {
  /** Path of the buildah binary. @default "buildah" */
  binary?: string;
  /** `--root`: image store. @default buildah's (storage.conf) */
  root?: string;
  /** `--runroot`: state folder. @default buildah's */
  runroot?: string;
  /** `--storage-driver`, e.g. "vfs" where overlay is unavailable. @default $STORAGE_DRIVER, else buildah's */
  storageDriver?: string;
  /** `--isolation`. @default $BUILDAH_ISOLATION, else "chroot" */
  isolation?: "chroot" | "oci" | "rootless";
  /** Cache intermediate layers (`--layers`), as docker does. @default true */
  layers?: boolean;
}

const INSTALL = "Install it (Debian/Ubuntu: `apt-get install -y buildah`; Fedora: `dnf install buildah`) or use docker with buildx.";

export class BuildahBuilder implements ImageBuilder {
  readonly name = "buildah";
  readonly #o: BuildahBuilderOptions;

  constructor(o: BuildahBuilderOptions = {}) {
    this.#o = { ...o };
  }

  /** Global flags that select the image store; every buildah call must use the same ones. */
  get storageArgs(): string[] {
    const o = this.#o;
    return [
      ...(o.root ? ["--root", o.root] : []),
      ...(o.runroot ? ["--runroot", o.runroot] : []),
      ...(o.storageDriver ? ["--storage-driver", o.storageDriver] : []),
    ];
  }

  get binary(): string {
    return this.#o.binary ?? "buildah";
  }

  async probe(): Promise<BuilderProbe> {
    try {
      const r = await runTool(this.binary, [...this.storageArgs, "version", "--json"]);
      if (r.code !== 0) return { ok: false, reason: `buildah version failed: ${r.tail.slice(-3).join(" ")}`, fix: "Check buildah's storage settings (try STORAGE_DRIVER=vfs)." };
      const version = (JSON.parse(r.stdout) as { version?: string }).version ?? "unknown";
      return { ok: true, version };
    } catch {
      return { ok: false, reason: "buildah is not installed", fix: INSTALL };
    }
  }

  async build(req: BuildRequest): Promise<void> {
    const multi = req.platforms.length > 1;
    const args = [
      ...this.storageArgs,
      "build",
      "--isolation", this.#o.isolation ?? (process.env.BUILDAH_ISOLATION as BuildahBuilderOptions["isolation"]) ?? "chroot",
      ...(this.#o.layers === false ? [] : ["--layers"]),
      "--platform", req.platforms.join(","),
      // Multi-platform builds go into a manifest list, which `manifest push --all` pushes whole.
      ...(multi ? ["--manifest", req.uri] : ["--tag", req.uri]),
      ...(req.insecurePull ? ["--tls-verify=false"] : []),
      ...req.secrets.flatMap((s) => ["--secret", `id=${s.id},src=${s.src}`]),
      "--file", req.dockerfile,
      req.contextDir,
    ];
    await runOrThrow(this.binary, args, `build ${req.uri}`, {
      onLine: req.onLine,
      install: INSTALL,
      hint: "Fix the failing step in the image definition (or the Dockerfile).",
    });
    if (!req.push) return;
    const tls = req.insecurePush ? ["--tls-verify=false"] : [];
    const push = multi
      ? [...this.storageArgs, "manifest", "push", "--all", ...tls, req.uri, `docker://${req.uri}`]
      : [...this.storageArgs, "push", ...tls, req.uri, `docker://${req.uri}`];
    await runOrThrow(this.binary, push, `push ${req.uri}`, {
      onLine: req.onLine,
      install: INSTALL,
      hint: "Check that the registry is reachable and that you are logged in (`buildah login <registry>`).",
    });
  }

  async existsLocally(uri: string): Promise<boolean> {
    const image = await runTool(this.binary, [...this.storageArgs, "inspect", "--type", "image", uri]);
    if (image.code === 0) return true;
    const list = await runTool(this.binary, [...this.storageArgs, "manifest", "inspect", uri]);
    return list.code === 0;
  }
}
