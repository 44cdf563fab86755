/**
 * With neither docker nor buildah on PATH, a build that must run fails with ImageBuildError saying what to
 * install; an image that needs no build still resolves.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageBuildError } from "../src/errors.ts";
import { build, selectBuilder } from "../src/images/build-engine.ts";
import { Image } from "../src/images/image.ts";

const savedPath = process.env.PATH;
beforeAll(() => {
  process.env.PATH = "/nonexistent-flyte-bin";
});
afterAll(() => {
  process.env.PATH = savedPath;
});

describe("no image builder installed", () => {
  it("names both builders and how to install them", async () => {
    const err = await selectBuilder().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageBuildError);
    expect((err as Error).message).toContain("No image builder is usable here.");
    expect((err as Error).message).toContain("docker: docker is not installed. Install Docker with the buildx plugin");
    expect((err as Error).message).toContain("buildah: buildah is not installed. Install it (Debian/Ubuntu: `apt-get install -y buildah`");
  });

  it("fails a build that needs a builder, but not one that needs none", async () => {
    const img = Image.fromBaseImage("scratch").clone({ name: "nobuilder" }).withEnvVars({ A: "1" });
    await expect(build(img)).rejects.toBeInstanceOf(ImageBuildError);
    expect(await build(Image.fromBaseImage("node:22"))).toEqual({ uri: "node:22", built: false });
  });
});
