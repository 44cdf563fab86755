/**
 * The suite every `ImageBuilder` must pass (Hono's `runTest({ newRouter })` pattern): real builds, pushed to a
 * real registry started for the suite, read back over the registry API. Each backend's test file calls
 * `imageBuilderConformance({ name, newBuilder })`; nothing here knows which backend it is testing.
 *
 * Images start from `scratch` or from a shell base the suite builds itself, since CI cannot pull from the
 * internet.
 * @module
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageBuildError } from "../errors.ts";
import { Secret } from "../secrets/secret.ts";
import { build, type BuildProgress } from "./build-engine.ts";
import type { ImageBuilder } from "./builder.ts";
import { IDENTIFIER_LABEL } from "./dockerfile.ts";
import { Image } from "./image.ts";
import { manifestExists } from "./registry-check.ts";
import { pullImage } from "./testing/oci.ts";
import { startRegistry, type TestRegistry } from "./testing/registry.ts";
import { makeShellRootfs } from "./testing/rootfs.ts";

export interface ImageBuilderConformanceOptions {
  /** Suite title, e.g. "buildah". */
  name: string;
  /** A builder with its own image store (so runs do not see each other's images). */
  newBuilder: () => ImageBuilder;
  /** Reason to skip, where the backend cannot run at all on this machine. */
  skip?: string | false;
}

export function imageBuilderConformance(o: ImageBuilderConformanceOptions): void {
  const suite = o.skip ? describe.skip : describe;
  suite(`ImageBuilder conformance: ${o.name}${o.skip ? ` (skipped: ${o.skip})` : ""}`, () => {
    let registry: TestRegistry | undefined;
    let builder: ImageBuilder;
    let work: string;
    let shellBase: string;
    const repo = (name: string) => Image.fromBaseImage("scratch").clone({ registry: registry!.host, name });
    const file = (rel: string, content: string) => {
      const p = join(work, rel);
      mkdirSync(join(p, ".."), { recursive: true });
      writeFileSync(p, content);
      return p;
    };

    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), `flyte-conformance-${o.name}-`));
      registry = await startRegistry();
      builder = o.newBuilder();
      makeShellRootfs(join(work, "rootfs"));
      const base = repo("conformance/shell").withSourceFolder(join(work, "rootfs"), "/", { copyContentsOnly: true });
      shellBase = (await build(base, { builder })).uri;
    });
    afterAll(async () => {
      await registry?.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it("builds FROM scratch, pushes, then skips while the registry has the tag; force rebuilds", async () => {
      const img = repo("conformance/hello")
        .withSourceFile(file("hello/hello.txt", "hello from flyte-ts\n"), "/data/")
        .withEnvVars({ GREETING: "hi there" });
      expect(await manifestExists(img.uri)).toBe(false);
      expect(await build(img, { builder })).toEqual({ uri: img.uri, built: true });
      expect(await manifestExists(img.uri)).toBe(true);

      const pulled = await pullImage(registry!.host, "conformance/hello", img.identifier);
      expect(pulled.files.get("/data/hello.txt")?.toString()).toBe("hello from flyte-ts\n");
      expect(pulled.config.config?.Env).toContain("GREETING=hi there");
      expect(pulled.config.config?.Labels?.[IDENTIFIER_LABEL]).toBe(img.identifier);

      const events: BuildProgress["type"][] = [];
      expect(await build(img, { builder, onProgress: (e) => events.push(e.type) })).toEqual({ uri: img.uri, built: false });
      expect(events).toEqual(["check", "exists"]);
      expect(await build(img, { builder, force: true })).toEqual({ uri: img.uri, built: true });
    });

    it("runs RUN steps in order with env, workdir and a build secret that is not baked in", async () => {
      process.env.CONFORMANCE_TOKEN = "s3cret-value";
      const token = new Secret({ key: "conformance-token", asEnvVar: "CONFORMANCE_TOKEN" });
      const img = Image.fromBaseImage(shellBase)
        .clone({ registry: registry!.host, name: "conformance/run" })
        .withEnvVars({ GREETING: "hello world" })
        .withWorkdir("/work")
        .withCommands(['echo "$GREETING" > greeting.txt', "cat greeting.txt greeting.txt > twice.txt"])
        .withCommands(['test "$CONFORMANCE_TOKEN" = s3cret-value && echo mounted > /secret-check'], { secretMounts: [token] });
      expect((await build(img, { builder })).built).toBe(true);
      const pulled = await pullImage(registry!.host, "conformance/run", img.identifier);
      expect(pulled.files.get("/work/twice.txt")?.toString()).toBe("hello world\nhello world\n");
      expect(pulled.files.get("/secret-check")?.toString()).toBe("mounted\n");
      expect(pulled.config.config?.WorkingDir).toBe("/work");
      for (const [path, content] of pulled.files) expect(content.includes("s3cret-value"), path).toBe(false);
    });

    it("fails a broken RUN step with ImageBuildError carrying the output tail, and records nothing as built", async () => {
      const img = Image.fromBaseImage(shellBase)
        .clone({ registry: registry!.host, name: "conformance/broken" })
        .withCommands(["echo conformance-step-output; exit 7"]);
      const err = await build(img, { builder }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ImageBuildError);
      expect((err as Error).message).toContain("conformance-step-output");
      expect((err as Error).message).toMatch(/exit/);
      expect(await manifestExists(img.uri)).toBe(false);
      expect(await builder.existsLocally(img.uri)).toBe(false);
      // Not "exists" the second time: the failure left nothing that counts as built.
      await expect(build(img, { builder })).rejects.toBeInstanceOf(ImageBuildError);
    });

    it("push: false builds into the local store only, and finds it there next time", async () => {
      const img = repo("conformance/local").withSourceFile(file("local/local.txt", "local only\n"));
      expect(await build(img, { builder, push: false })).toEqual({ uri: img.uri, built: true });
      expect(await manifestExists(img.uri)).toBe(false);
      expect(await builder.existsLocally(img.uri)).toBe(true);
      expect(await build(img, { builder, push: false })).toEqual({ uri: img.uri, built: false });
    });

    it("copies a source folder without what its .dockerignore excludes", async () => {
      file("app/.dockerignore", "*.log\n!keep.log\nnode_modules\n");
      file("app/main.js", "console.log(1)\n");
      file("app/debug.log", "noise\n");
      file("app/keep.log", "kept\n");
      file("app/node_modules/dep/index.js", "module.exports = 1\n");
      const img = repo("conformance/folder").withSourceFolder(join(work, "app"), "/srv");
      await build(img, { builder });
      const { paths, files } = await pullImage(registry!.host, "conformance/folder", img.identifier);
      expect(files.get("/srv/app/main.js")?.toString()).toBe("console.log(1)\n");
      expect(paths.has("/srv/app/keep.log")).toBe(true);
      expect(paths.has("/srv/app/debug.log")).toBe(false);
      expect([...paths].some((p) => p.includes("node_modules"))).toBe(false);
    });

    it("builds a user Dockerfile with its folder as context", async () => {
      file("df/msg.txt", "from a Dockerfile\n");
      const dockerfile = file("df/Dockerfile", "FROM scratch\nCOPY msg.txt /msg.txt\n");
      const img = Image.fromDockerfile(dockerfile, { registry: registry!.host, name: "conformance/dockerfile" });
      expect((await build(img, { builder })).built).toBe(true);
      const { files } = await pullImage(registry!.host, "conformance/dockerfile", img.identifier);
      expect(files.get("/msg.txt")?.toString()).toBe("from a Dockerfile\n");
      expect((await build(img, { builder })).built).toBe(false);
    });
  });
}
