/**
 * Real buildah builds: the ImageBuilder conformance suite against buildah (vfs storage, chroot isolation, a
 * private store per run), plus a pull of a pushed image into a second, empty store. buildah and docker-registry
 * are required: a machine without them fails here with what to install, it does not skip.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BuildahBuilder } from "../src/images/buildah-builder.ts";
import { build } from "../src/images/build-engine.ts";
import { imageBuilderConformance } from "../src/images/builder.conformance.ts";
import { IDENTIFIER_LABEL } from "../src/images/dockerfile.ts";
import { Image } from "../src/images/image.ts";
import { requireTools, startRegistry } from "../src/images/testing/registry.ts";

const stores: string[] = [];
function privateBuildah(): BuildahBuilder {
  const dir = mkdtempSync(join(tmpdir(), "flyte-buildah-"));
  stores.push(dir);
  return new BuildahBuilder({ root: join(dir, "root"), runroot: join(dir, "run"), storageDriver: "vfs", isolation: "chroot" });
}
afterAll(() => {
  for (const d of stores) {
    // vfs layers may contain read-only directories; buildah's own cleanup would need the same flags, so remove directly.
    execFileSync("chmod", ["-R", "u+w", d]);
    rmSync(d, { recursive: true, force: true });
  }
});

describe("buildah image tests prerequisites", () => {
  it("has buildah and docker-registry installed", () => {
    expect(() => requireTools({ buildah: "buildah", "docker-registry": "docker-registry" })).not.toThrow();
  });
});

imageBuilderConformance({ name: "buildah", newBuilder: privateBuildah });

describe("buildah: a pushed image pulls into an empty store", () => {
  it("pulls and inspects what build() pushed", async () => {
    const registry = await startRegistry();
    try {
      const dir = mkdtempSync(join(tmpdir(), "flyte-pull-src-"));
      stores.push(dir);
      writeFileSync(join(dir, "payload.txt"), "pulled back\n");
      const img = Image.fromBaseImage("scratch").clone({ registry: registry.host, name: "pull/check" }).withSourceFile(join(dir, "payload.txt"), "/");
      expect(await build(img, { builder: privateBuildah() })).toEqual({ uri: img.uri, built: true });

      const reader = privateBuildah();
      const run = (...args: string[]) => execFileSync(reader.binary, [...reader.storageArgs, ...args], { encoding: "utf8" });
      run("pull", "--tls-verify=false", img.uri);
      const info = JSON.parse(run("inspect", "--type", "image", img.uri)) as { OCIv1: { config: { Labels: Record<string, string> } } };
      expect(info.OCIv1.config.Labels[IDENTIFIER_LABEL]).toBe(img.identifier);
      const container = run("from", img.uri).trim();
      const mount = run("mount", container).trim();
      expect(execFileSync("cat", [join(mount, "payload.txt")], { encoding: "utf8" })).toBe("pulled back\n");
      run("rm", container);
    } finally {
      await registry.stop();
    }
  });
});
