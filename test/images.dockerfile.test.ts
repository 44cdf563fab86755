/**
 * Golden Dockerfiles: the generated file for representative images, compared byte for byte with
 * test/fixtures/images/golden/*.Dockerfile. After an intended change, regenerate with
 * `UPDATE_GOLDEN=1 npx vitest run test/images.dockerfile.test.ts` and review the diff.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Secret } from "../src/secrets/secret.ts";
import { dockerfileFor } from "../src/images/build-engine.ts";
import { shellQuote } from "../src/images/dockerfile.ts";
import { Image } from "../src/images/image.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/images/", import.meta.url));
const GOLDEN = join(FIXTURES, "golden");
const project = (p: string) => join(FIXTURES, "project", p);
const debian = (o: Parameters<typeof Image.fromDebianBase>[0] = {}) =>
  Image.fromDebianBase({ node: "22", flyteVersion: "0.1.0", registry: "ghcr.io/acme", name: "golden", ...o });

const REGENERATE = "UPDATE_GOLDEN=1 npx vitest run test/images.dockerfile.test.ts";

/**
 * Only UPDATE_GOLDEN=1 writes a golden file: a missing one fails, or the test would compare the output with
 * itself and pass whatever the generator produced.
 */
function golden(name: string, image: Image): void {
  const { dockerfile } = dockerfileFor(image);
  const file = join(GOLDEN, `${name}.Dockerfile`);
  if (process.env.UPDATE_GOLDEN === "1") {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(file, dockerfile);
  }
  if (!existsSync(file)) {
    throw new Error(`Golden file ${file} is missing. Generate it deliberately with \`${REGENERATE}\`, review it and commit it.`);
  }
  expect(dockerfile, `${name}.Dockerfile differs from its golden file; if the change is intended, regenerate with \`${REGENERATE}\` and review the diff`).toBe(readFileSync(file, "utf8"));
}

describe("golden Dockerfiles", () => {
  it("debian base: node image, root during the build, flyte-ts runtime, node user at the end", () => {
    golden("debian-minimal", debian());
  });

  it("debian base without the flyte-ts runtime", () => {
    golden("debian-no-flyte", debian({ installFlyte: false, node: "20" }));
  });

  it("a Node app: apt, package.json + lockfile, npm with a private registry token, env, source, commands", () => {
    const npmToken = new Secret({ key: "npm-token", asEnvVar: "NPM_TOKEN" });
    const img = debian()
      .withAptPackages("git", "curl=7.88.1-10+deb12u5")
      .withPackageJson(project("package.json"))
      .withNpmPackages(["@acme/private@^2", "lodash@>=4 <5"], { registry: "https://npm.acme.dev/", extraArgs: ["--legacy-peer-deps"], secretMounts: [npmToken] })
      .withEnvVars({ NODE_ENV: "production", GREETING: 'say "hi"', PATH: "/app/bin:$PATH" })
      .withSourceFolder(project("src"))
      .withSourceFile(project("config.json"), "/etc/app/")
      .withWorkdir("/srv")
      .withCommands(["mkdir -p /data && chown node /data", "echo ready"]);
    golden("node-app", img);
  });

  it("Python layers: tooling from the uv stage, pip with indexes, requirements and a uv project", () => {
    const img = debian()
      .withPipPackages(["torch==2.3.1", "numpy>=1.26"], { indexUrl: "https://download.pytorch.org/whl/cpu", extraIndexUrls: ["https://pypi.org/simple"], pre: true })
      .withRequirements(project("python/requirements.txt"))
      .withUvProject({ pyproject: project("python/pyproject.toml"), uvlock: project("python/uv.lock") });
    golden("python-layers", img);
  });

  it("scratch base: only COPY/ENV/LABEL, no user or runtime assumptions", () => {
    const img = Image.fromBaseImage("scratch")
      .clone({ name: "static" })
      .withSourceFolder(project("src"), "/", { copyContentsOnly: true })
      .withSourceFile([project("config.json"), project("package.json")], "/etc/app");
    golden("scratch-copy", img);
  });

  it("custom base with a secret mounted as a file under /etc/flyte/secrets", () => {
    const sshKey = new Secret({ key: "deploy-key", group: "github", mount: "/etc/flyte/secrets" });
    const img = Image.fromBaseImage("docker.io/library/debian:bookworm-slim")
      .clone({ registry: "localhost:5000", name: "custom" })
      .withCommands(["test -s /etc/flyte/secrets/github/deploy-key"], { secretMounts: [sshKey] });
    golden("custom-base-secret-file", img);
  });

  it("lists what the context needs: files under layer-<index>/, folders with their ignore files", () => {
    const img = debian().withPackageJson(project("package.json")).withDockerignore(project(".dockerignore")).withSourceFolder(project("src"), "/app/code");
    const { context, secrets } = dockerfileFor(img);
    expect(context).toEqual([
      { src: project("package.json"), dest: "layer-0/package.json", type: "file" },
      { src: project("package-lock.json"), dest: "layer-0/package-lock.json", type: "file" },
      { src: project("src"), dest: "layer-2", type: "dir", ignoreFiles: [project(".dockerignore")] },
    ]);
    expect(secrets).toEqual([]);
  });

  it("quotes shell words that are not plainly safe", () => {
    expect(shellQuote("lodash@4")).toBe("lodash@4");
    expect(shellQuote("numpy>=1.26")).toBe("'numpy>=1.26'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});
