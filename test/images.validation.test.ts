/**
 * Image definitions are validated where they are written: each bad input gives a ValidationError naming the
 * method, the value and the fix; images are immutable.
 */
import { describe, expect, it } from "vitest";
import { Secret } from "../src/secrets/secret.ts";
import { ValidationError } from "../src/errors.ts";
import { setImageConfig } from "../src/images/config.ts";
import { Image } from "../src/images/image.ts";
import { parseImageReference } from "../src/images/reference.ts";

const named = () => Image.fromDebianBase({ node: "22", flyteVersion: "0.1.0", name: "app" });

function fails(fn: () => unknown, message: RegExp | string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, "expected a ValidationError").toBeInstanceOf(ValidationError);
  expect((thrown as Error).message).toMatch(message);
}

describe("Image construction", () => {
  it("cannot be created with new", () => {
    fails(() => new (Image as unknown as new () => Image)(), /Image cannot be created with new Image\(\)\. Use Image\.fromDebianBase\(\)/);
  });

  it("is frozen, and every with* returns a new Image leaving the original unchanged", () => {
    const a = named();
    const b = a.withAptPackages("git");
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen(b.layers)).toBe(true);
    expect(Object.isFrozen(b.layers[0])).toBe(true);
    expect(a.layers).toEqual([]);
    expect(b).not.toBe(a);
    expect(b.layers).toEqual([{ kind: "apt", packages: ["git"] }]);
    expect(() => ((b.layers as unknown[]).push({}))).toThrow(TypeError);
    const c = b.clone({ name: "other" });
    expect(c.layers).toEqual(b.layers);
    expect(c.name).toBe("other");
  });

  it("exposes normalised options", () => {
    const img = Image.fromDebianBase({ node: "20", flyteVersion: "0.1.0", registry: "ghcr.io/acme", registrySecret: "ghcr-pull" });
    expect(img.baseImage).toBe("node:20-bookworm-slim");
    expect(img.name).toBe("flyte-ts");
    expect(img.platform).toEqual(["linux/amd64"]);
    expect(img.registrySecret).toBeInstanceOf(Secret);
    expect(img.registrySecret?.key).toBe("ghcr-pull");
    expect(Image.fromDebianBase().baseImage).toBe(`node:${process.versions.node.split(".")[0]}-bookworm-slim`);
  });

  it("rejects unknown option keys with a suggestion", () => {
    fails(() => Image.fromDebianBase({ nod: "22" } as never), 'Unknown option "nod" for Image.fromDebianBase. Did you mean "node"?');
    fails(() => named().clone({ registy: "x.io" } as never), /Unknown option "registy" for Image.clone. Did you mean "registry"\?/);
    fails(() => named().withPackageJson("package.json", { lockFile: "x" } as never), /Did you mean "lockfile"/);
  });

  it("rejects unsupported node versions and bad flyte versions", () => {
    fails(() => Image.fromDebianBase({ node: "18" }), 'Image.fromDebianBase: node "18" is not supported. Use one of "20", "22", "24".');
    fails(() => Image.fromDebianBase({ flyteVersion: "1.0 beta" }), /flyteVersion "1.0 beta" is not an npm version or tag/);
  });
});

describe("names, tags and registries", () => {
  it("rejects a registry with a scheme, a trailing slash or a bad host", () => {
    fails(() => named().clone({ registry: "https://ghcr.io/acme" }), 'Image.clone: registry "https://ghcr.io/acme" must not include a scheme. Use "ghcr.io/acme".');
    fails(() => named().clone({ registry: "ghcr.io/acme/" }), /must not end with "\/". Use "ghcr.io\/acme"/);
    fails(() => named().clone({ registry: "bad_host!" }), /has an invalid host "bad_host!"/);
    fails(() => named().clone({ registry: "ghcr.io/Acme" }), /has an invalid path "Acme"/);
    fails(() => named().clone({ registry: "localhost:99999" }), /port 99999/);
  });

  it("rejects image names that registries refuse", () => {
    fails(() => named().clone({ name: "MyImage" }), 'Image.clone: name "MyImage" is not a valid image name. Use lowercase letters and digits');
    fails(() => named().clone({ name: "a--b_" }), /is not a valid image name/);
    fails(() => Image.fromRefName("Trainer"), /Image.fromRefName: name "Trainer" is not a valid image name/);
  });

  it("parses base image references and rejects bad tags and digests", () => {
    expect(parseImageReference("ghcr.io/acme/etl:1.2", "t")).toEqual({ registry: "ghcr.io", repository: "acme/etl", tag: "1.2" });
    expect(parseImageReference("acme/etl", "t")).toEqual({ repository: "acme/etl" });
    expect(parseImageReference("localhost:5000/etl@sha256:" + "a".repeat(64), "t")).toMatchObject({ registry: "localhost:5000", digest: `sha256:${"a".repeat(64)}` });
    fails(() => Image.fromBaseImage("node:-22"), 'Image.fromBaseImage: uri tag "-22" is not a valid image tag');
    fails(() => Image.fromBaseImage("node@sha256:xyz"), /has an invalid digest "sha256:xyz"/);
    fails(() => Image.fromBaseImage("docker://node:22"), /must not include a scheme. Use "node:22"/);
    fails(() => Image.fromBaseImage(""), /uri must be a non-empty image reference/);
  });

  it("validates the config's registry and images", () => {
    fails(() => setImageConfig({ registry: "http://localhost:5000" }), /image.registry "http:\/\/localhost:5000" must not include a scheme/);
    fails(() => setImageConfig({ builder: "podman" }), 'image config: image.builder "podman" is not a builder. Use "docker" or "buildah".');
    fails(() => setImageConfig({ images: { trainer: "Not A Ref" } }), /images.trainer/);
    setImageConfig({});
  });
});

describe("layers", () => {
  it("refuse empty package lists", () => {
    fails(() => named().withNpmPackages(), /Image.withNpmPackages: no packages given. Pass at least one, name\[@version\]/);
    fails(() => named().withAptPackages([]), /Image.withAptPackages: no packages given/);
    fails(() => named().withPipPackages([], { pre: true }), /Image.withPipPackages: no packages given/);
  });

  it("refuse malformed package specs and flags passed as packages", () => {
    fails(() => named().withNpmPackages("Lodash @4"), 'Image.withNpmPackages: package "Lodash @4" is not a valid npm package spec. Use name[@version], e.g. "lodash@4"');
    fails(() => named().withNpmPackages("--save-dev"), /"--save-dev" looks like a command-line flag. Pass flags with the extraArgs option/);
    fails(() => named().withAptPackages("Git"), 'Image.withAptPackages: package "Git" is not a valid apt package spec.');
    fails(() => named().withAptPackages("git; rm -rf /"), /is not a valid apt package spec/);
    fails(() => named().withPipPackages("numpy>=1\nrm"), /is not a package spec/);
    fails(() => named().withPipPackages("numpy latest"), /is not a valid pip package spec. Use a PEP 508 requirement/);
    expect(named().withNpmPackages("@types/node@22", "github:user/repo", "lodash@>=4 <5").layers[0]).toMatchObject({ packages: ["@types/node@22", "github:user/repo", "lodash@>=4 <5"] });
    expect(named().withPipPackages("requests[socks]>=2", "torch==2.3.1").layers).toHaveLength(1);
    expect(named().withAptPackages("curl=7.88.1-10+deb12u5", "libssl3:amd64").layers).toHaveLength(1);
  });

  it("check option values", () => {
    fails(() => named().withNpmPackages(["x"], { registry: "npm.acme.dev" }), 'Image.withNpmPackages: registry "npm.acme.dev" is not an http(s) URL.');
    fails(() => named().withNpmPackages(["x"], { extraArgs: "--legacy-peer-deps" as never }), /extraArgs must be an array of non-empty single-line strings/);
    fails(() => named().withPipPackages(["x"], { extraIndexUrls: ["ftp://x"] }), /extraIndexUrls "ftp:\/\/x" is not an http\(s\) URL/);
    fails(() => named().withPackageJson("package.json", { production: "yes" as never }), /production must be true or false, got "yes"/);
    fails(() => named().withCommands(["x"], { secretMounts: [42] as never }), /secretMounts must be a secret key, a Secret, or an array of them, got \[42\]/);
  });

  it("check env vars, paths and commands", () => {
    fails(() => named().withEnvVars({ "BAD-NAME": "x" }), /Image.withEnvVars: "BAD-NAME" is not a valid variable name/);
    fails(() => named().withEnvVars({ A: 1 as never }), /value of A must be a single-line string, got 1/);
    fails(() => named().withEnvVars({}), /no variables given/);
    fails(() => named().withWorkdir("app"), 'Image.withWorkdir: dir "app" must be an absolute path in the image, e.g. "/app".');
    fails(() => named().withCommands([]), /Image.withCommands: commands must be a non-empty array of shell commands/);
    fails(() => named().withCommands(["echo a\necho b"]), /commands must be a non-empty single-line string.*join steps with &&/);
    fails(() => named().withSourceFolder(""), /Image.withSourceFolder: src must be a non-empty single-line string/);
    fails(() => named().withSourceFile([]), /Image.withSourceFile: no files given/);
    fails(() => named().withSourceFolder(new URL("https://example.com/x")), /must be a file: URL/);
  });

  it("check platforms", () => {
    fails(() => named().clone({ platform: ["linux/s390x" as never] }), /platform must be a non-empty array of distinct values from "linux\/amd64", "linux\/arm64"/);
    fails(() => named().clone({ platform: [] }), /platform must be a non-empty array/);
    fails(() => named().clone({ platform: ["linux/amd64", "linux/amd64"] }), /distinct/);
  });

  it("cannot be added to a Dockerfile image, an unnamed image, or one cloned with extendable: false", () => {
    const df = Image.fromDockerfile("./Dockerfile", { registry: "ghcr.io/acme", name: "df" });
    fails(() => df.withAptPackages("git"), /Cannot add layers to a Dockerfile-based image; edit the Dockerfile/);
    fails(() => Image.fromBaseImage("node:22").withAptPackages("git"), /has no name, so a layered image could not be tagged; call \.clone\(\{ name \}\) first/);
    fails(() => named().clone({ extendable: false }).withAptPackages("git"), /was cloned with extendable: false, so layers cannot be added/);
    expect(named().clone({ extendable: false }).clone({ extendable: true }).withAptPackages("git").layers).toHaveLength(1);
  });

  it("fromDockerfile needs a registry and a name", () => {
    fails(() => Image.fromDockerfile("./Dockerfile", undefined as never), /options \{ registry, name \} are required/);
    fails(() => Image.fromDockerfile("./Dockerfile", { name: "x" } as never), /Image.fromDockerfile: registry undefined must be a non-empty string/);
  });
});
