/**
 * Identifier determinism: the same definition and file contents give the same identifier anywhere (other
 * paths, another process); any change of base, layer, order, content, ignore rules or platform gives a new one.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { ImageBuildError, ValidationError } from "../src/errors.ts";
import { setImageConfig, setImageRefs } from "../src/images/config.ts";
import { Image } from "../src/images/image.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/images/project/", import.meta.url));
const temps: string[] = [];
/** A private copy of the fixture project at a fresh path (same folder name: it decides the copy destination). */
function copyProject(): string {
  const parent = mkdtempSync(join(tmpdir(), "flyte-ident-"));
  temps.push(parent);
  const dir = join(parent, "project");
  cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));
afterEach(() => setImageConfig({}));

const base = () => Image.fromDebianBase({ node: "22", flyteVersion: "0.1.0", registry: "ghcr.io/acme", name: "etl" });
function appImage(dir: string): Image {
  return base()
    .withAptPackages("git")
    .withPackageJson(join(dir, "package.json"))
    .withDockerignore(join(dir, ".dockerignore"))
    .withSourceFolder(dir, "/app")
    .withEnvVars({ A: "1" });
}

describe("Image identifier", () => {
  it("is 32 lowercase hex characters and appears in the uri", () => {
    const img = appImage(FIXTURE);
    expect(img.identifier).toMatch(/^[0-9a-f]{32}$/);
    expect(img.uri).toBe(`ghcr.io/acme/etl:${img.identifier}`);
  });

  it("is the same for the same definition at different paths (file contents, not paths, are hashed)", () => {
    expect(appImage(copyProject()).identifier).toBe(appImage(FIXTURE).identifier);
  });

  it("is the same in another process with another working directory", () => {
    const dir = copyProject();
    const scriptDir = mkdtempSync(join(tmpdir(), "flyte-ident-script-"));
    temps.push(scriptDir);
    const script = join(scriptDir, "ident.mts");
    const imageModule = new URL("../src/images/image.ts", import.meta.url).href;
    writeFileSync(
      script,
      `import { Image } from ${JSON.stringify(imageModule)};
const dir = ${JSON.stringify(dir)};
const img = Image.fromDebianBase({ node: "22", flyteVersion: "0.1.0", registry: "ghcr.io/acme", name: "etl" })
  .withAptPackages("git").withPackageJson(dir + "/package.json").withDockerignore(dir + "/.dockerignore")
  .withSourceFolder(dir, "/app").withEnvVars({ A: "1" });
process.stdout.write(img.identifier);`,
    );
    const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));
    const out = execFileSync(tsx, [script], { cwd: tmpdir(), encoding: "utf8" });
    expect(out).toBe(appImage(FIXTURE).identifier);
  });

  it("does not depend on registry or name (the uri does)", () => {
    const a = appImage(FIXTURE);
    const b = a.clone({ registry: "localhost:5000", name: "other" });
    expect(b.identifier).toBe(a.identifier);
    expect(b.uri).toBe(`localhost:5000/other:${a.identifier}`);
  });

  it("changes with any change of the definition", () => {
    const ref = base().withAptPackages("git").withEnvVars({ A: "1" });
    const variants: Record<string, Image> = {
      "node major": Image.fromDebianBase({ node: "20", flyteVersion: "0.1.0", name: "etl" }).withAptPackages("git").withEnvVars({ A: "1" }),
      "flyte version": Image.fromDebianBase({ node: "22", flyteVersion: "0.2.0", name: "etl" }).withAptPackages("git").withEnvVars({ A: "1" }),
      "installFlyte": Image.fromDebianBase({ node: "22", flyteVersion: "0.1.0", installFlyte: false, name: "etl" }).withAptPackages("git").withEnvVars({ A: "1" }),
      "package": base().withAptPackages("curl").withEnvVars({ A: "1" }),
      "env value": base().withAptPackages("git").withEnvVars({ A: "2" }),
      "layer order": base().withEnvVars({ A: "1" }).withAptPackages("git"),
      "extra layer": ref.withWorkdir("/srv"),
      "platform": ref.clone({ platform: ["linux/arm64"] }),
      "other base": Image.fromBaseImage("debian:bookworm").clone({ name: "etl" }).withAptPackages("git").withEnvVars({ A: "1" }),
    };
    const ids = new Set([ref.identifier, ...Object.values(variants).map((v) => v.identifier)]);
    expect(ids.size).toBe(Object.keys(variants).length + 1);
  });

  it("changes when a copied file changes, is added, or changes its execute bit; not for ignored files", () => {
    const dir = copyProject();
    const id = () => appImage(dir).identifier;
    const before = id();
    writeFileSync(join(dir, "logs", "debug.log"), "ignored by .dockerignore\n");
    writeFileSync(join(dir, "scratch.tmp"), "ignored by .dockerignore\n");
    expect(id()).toBe(before);
    writeFileSync(join(dir, "src", "index.ts"), "export const answer = 43;\n");
    const edited = id();
    expect(edited).not.toBe(before);
    writeFileSync(join(dir, "src", "new.ts"), "export {};\n");
    const added = id();
    expect(added).not.toBe(edited);
    chmodSync(join(dir, "src", "new.ts"), 0o755);
    expect(id()).not.toBe(added);
  });

  it("changes when the ignore rules change what is copied", () => {
    const dir = copyProject();
    const before = appImage(dir).identifier;
    writeFileSync(join(dir, ".dockerignore"), "logs\n*.tmp\nsrc/lib\n");
    expect(appImage(dir).identifier).not.toBe(before);
  });

  it("honours a .dockerignore at the copied folder's root", () => {
    const dir = copyProject();
    const img = () => base().withSourceFolder(join(dir, "src"));
    const before = img().identifier;
    writeFileSync(join(dir, "src", ".dockerignore"), "lib\n");
    const ignoring = img().identifier;
    expect(ignoring).not.toBe(before);
    writeFileSync(join(dir, "src", "lib", "helper.ts"), "changed but ignored\n");
    expect(img().identifier).toBe(ignoring);
  });

  it("hashes package.json and its lockfile", () => {
    const dir = copyProject();
    const img = () => base().withPackageJson(join(dir, "package.json"));
    expect(img().layers[0]).toMatchObject({ kind: "packageJson", lockfile: join(dir, "package-lock.json"), production: true });
    const before = img().identifier;
    writeFileSync(join(dir, "package-lock.json"), "{}\n");
    expect(img().identifier).not.toBe(before);
  });

  it("hashes a Dockerfile and its build context", () => {
    const dir = copyProject();
    const img = () => Image.fromDockerfile(join(dir, "Dockerfile"), { registry: "ghcr.io/acme", name: "df" });
    const before = img().identifier;
    writeFileSync(join(dir, "config.json"), '{ "mode": "changed" }\n');
    const ctxChanged = img().identifier;
    expect(ctxChanged).not.toBe(before);
    writeFileSync(join(dir, "Dockerfile"), "FROM scratch\nCOPY config.json /etc/config.json\n");
    expect(img().identifier).not.toBe(ctxChanged);
  });

  it("stays computable when a source is missing; validate() names it with ImageBuildError", () => {
    const img = base().withSourceFolder("/nonexistent/flyte-src", "/app");
    expect(img.identifier).toMatch(/^[0-9a-f]{32}$/);
    expect(() => img.validate()).toThrow(ImageBuildError);
    expect(() => img.validate()).toThrow(/withSourceFolder: source folder \/nonexistent\/flyte-src does not exist/);
    expect(() => base().withSourceFile(FIXTURE).validate()).toThrow(/withSourceFile: source file .* is not a file/);
    expect(() => base().withPackageJson("/nonexistent/package.json").validate()).toThrow(/withPackageJson: package.json \/nonexistent\/package.json does not exist/);
    expect(() => base().withRequirements("/nonexistent/req.txt").validate()).toThrow(ImageBuildError);
    expect(() => base().withUvProject({ pyproject: "/nonexistent/pyproject.toml" }).validate()).toThrow(ImageBuildError);
    expect(() => appImage(FIXTURE).validate()).not.toThrow();
  });
});

describe("Image uri", () => {
  it("is the base uri for a bare base image", () => {
    expect(Image.fromBaseImage("ghcr.io/acme/base:1.0").uri).toBe("ghcr.io/acme/base:1.0");
  });

  it("uses the config's image.registry for images without one", () => {
    const img = Image.fromBaseImage("scratch").clone({ name: "t" }).withEnvVars({ A: "1" });
    expect(img.uri).toBe(`t:${img.identifier}`);
    setImageConfig({ registry: "registry.acme.dev/team" });
    expect(img.uri).toBe(`registry.acme.dev/team/t:${img.identifier}`);
  });

  it("resolves fromRefName from the config, naming the missing key until it is defined", () => {
    const img = Image.fromRefName("trainer");
    expect(img.refName).toBe("trainer");
    expect(() => img.uri).toThrow(ValidationError);
    expect(() => img.uri).toThrow(/images\.trainer/);
    setImageRefs({ trainer: "ghcr.io/acme/trainer:1.2" });
    expect(img.uri).toBe("ghcr.io/acme/trainer:1.2");
    const layered = img.withEnvVars({ A: "1" });
    const first = layered.identifier;
    expect(layered.uri).toBe(`trainer:${first}`);
    setImageRefs({ trainer: "ghcr.io/acme/trainer:1.3" });
    expect(layered.identifier).not.toBe(first);
  });
});
