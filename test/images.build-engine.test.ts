/**
 * The build engine's decisions (what to build, in which order, when to skip, which builder, which secrets),
 * driven through an in-memory ImageBuilder, and the registry check against small HTTP servers that answer
 * like registries (auth challenge, index manifests, errors).
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { Secret } from "../src/secrets/secret.ts";
import { ImageBuildError, ValidationError } from "../src/errors.ts";
import { build, buildEnvironments, selectBuilder, setBuildSecretResolver, type BuildableEnvironment } from "../src/images/build-engine.ts";
import type { BuilderProbe, BuildRequest, ImageBuilder } from "../src/images/builder.ts";
import { setImageConfig } from "../src/images/config.ts";
import { Image } from "../src/images/image.ts";
import { MANIFEST_ACCEPT, manifestExists } from "../src/images/registry-check.ts";
import { freePort } from "../src/images/testing/registry.ts";

/** An ImageBuilder whose "image store" is a set of URIs; it records what it was asked to build. */
class MemoryBuilder implements ImageBuilder {
  readonly name = "memory";
  readonly store = new Set<string>();
  readonly requests: (BuildRequest & { dockerfileText: string; secretValues: string[] })[] = [];
  constructor(private readonly usable: BuilderProbe = { ok: true, version: "1" }) {}
  async probe(): Promise<BuilderProbe> {
    return this.usable;
  }
  async build(req: BuildRequest): Promise<void> {
    this.requests.push({ ...req, dockerfileText: readFileSync(req.dockerfile, "utf8"), secretValues: req.secrets.map((s) => readFileSync(s.src, "utf8")) });
    await new Promise((r) => setTimeout(r, 10));
    this.store.add(req.uri);
  }
  async existsLocally(uri: string): Promise<boolean> {
    return this.store.has(uri);
  }
}

const img = (tag: string) => Image.fromBaseImage("scratch").clone({ name: "engine" }).withEnvVars({ TAG: tag });
const env = (name: string, image: string | Image, dependsOn: BuildableEnvironment[] = []): BuildableEnvironment => ({ name, image, dependsOn });

const servers: Server[] = [];
async function serve(handler: (req: IncomingMessage, port: number) => { status: number; headers?: Record<string, string>; body?: string }): Promise<number> {
  const port = await freePort();
  const server = createServer((req, res) => {
    const r = handler(req, port);
    res.writeHead(r.status, r.headers ?? {});
    res.end(r.body ?? "");
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return port;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  setImageConfig({});
  setBuildSecretResolver(undefined);
  delete process.env.ENGINE_TOKEN;
});

describe("build()", () => {
  it("builds an environment's dependsOn first, once per image, and returns the environment's own result", async () => {
    const builder = new MemoryBuilder();
    const shared = img("shared");
    const a = env("a", shared);
    const b = env("b", img("b"), [a]);
    const c = env("c", shared, [a, b]);
    expect(await build(c, { builder })).toEqual({ uri: shared.uri, built: true });
    expect(builder.requests.map((r) => r.uri)).toEqual([shared.uri, img("b").uri]);
    const all = await buildEnvironments([c, b], { builder });
    expect(all).toEqual([
      { uri: shared.uri, built: false, environments: ["a", "c"] },
      { uri: img("b").uri, built: false, environments: ["b"] },
    ]);
  });

  it("does not build plain image URIs or bare base images, and builds the default image for \"auto\"", async () => {
    const builder = new MemoryBuilder();
    expect(await build(env("plain", "ghcr.io/acme/x:1"), { builder })).toEqual({ uri: "ghcr.io/acme/x:1", built: false });
    expect(await build(Image.fromBaseImage("node:22"), { builder })).toEqual({ uri: "node:22", built: false });
    const auto = await build(env("auto", "auto"), { builder });
    expect(auto).toEqual({ uri: Image.fromDebianBase().uri, built: true });
    expect(builder.requests[0]!.dockerfileText).toContain("npm install --global");
    expect(builder.requests).toHaveLength(1);
  });

  it("shares one build between concurrent calls for the same image", async () => {
    const builder = new MemoryBuilder();
    const results = await Promise.all([build(img("x"), { builder }), build(img("x"), { builder }), build(img("x"), { builder })]);
    expect(results.every((r) => r.built)).toBe(true);
    expect(builder.requests).toHaveLength(1);
  });

  it("validates local files before building", async () => {
    const builder = new MemoryBuilder();
    const missing = img("m").withSourceFolder("/nonexistent/flyte-src");
    await expect(build(missing, { builder })).rejects.toThrow(/source folder \/nonexistent\/flyte-src does not exist/);
    expect(builder.requests).toHaveLength(0);
  });

  it("passes build secrets as files from the environment, and names the variable when one is missing", async () => {
    const builder = new MemoryBuilder();
    const token = new Secret({ key: "engine-token", asEnvVar: "ENGINE_TOKEN" });
    const image = img("s").withCommands(["true"], { secretMounts: [token] });
    await expect(build(image, { builder })).rejects.toThrow(/Build secret "engine-token" .* has no value. Set the environment variable ENGINE_TOKEN or FLYTE_SECRET_ENGINE_TOKEN/);
    await expect(build(image, { builder })).rejects.toBeInstanceOf(ImageBuildError);
    process.env.ENGINE_TOKEN = "from-env";
    await build(image, { builder });
    expect(builder.requests[0]!.secrets.map((s) => s.id)).toEqual(["engine-token"]);
    expect(builder.requests[0]!.secretValues).toEqual(["from-env"]);
    delete process.env.ENGINE_TOKEN;
    setBuildSecretResolver((s) => (s.key === "engine-token" ? "from-store" : undefined));
    await build(image, { builder, force: true });
    expect(builder.requests[1]!.secretValues).toEqual(["from-store"]);
  });

  it("fails with what to check when the registry is unreachable, and builds nothing", async () => {
    const builder = new MemoryBuilder();
    const port = await freePort();
    const image = img("r").clone({ registry: `localhost:${port}` });
    const err = await build(image, { builder }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageBuildError);
    expect((err as Error).message).toMatch(new RegExp(`Registry localhost:${port} is unreachable \\(ECONNREFUSED\\).*Check that the registry is running.*--no-push`));
    expect(builder.requests).toHaveLength(0);
    expect(await build(image, { builder, push: false })).toEqual({ uri: image.uri, built: true });
    expect(builder.requests[0]!.push).toBe(false);
  });
});

describe("builder selection", () => {
  it("rejects unknown builder names and explains unusable ones", async () => {
    await expect(selectBuilder("podman" as never)).rejects.toThrow(ValidationError);
    const broken = new MemoryBuilder({ ok: false, reason: "memory is not installed", fix: "Install memory." });
    await expect(selectBuilder(broken)).rejects.toThrow("The memory image builder is not usable here: memory is not installed. Install memory.");
    await expect(build(img("u"), { builder: broken, push: false })).rejects.toBeInstanceOf(ImageBuildError);
  });

  it("uses config image.builder when no builder is passed", async () => {
    // Either the configured builder is picked, or the error names it: never the other backend.
    for (const name of ["buildah", "docker"] as const) {
      setImageConfig({ builder: name });
      const outcome = await selectBuilder().then((b) => b.name, (e: Error) => e.message);
      expect(outcome === name || outcome.startsWith(`The ${name} image builder is not usable here`), outcome).toBe(true);
    }
  });
});

describe("registry check", () => {
  it("asks with every manifest media type and follows a Bearer challenge", async () => {
    const seen: { accept?: string; auth?: string }[] = [];
    const port = await serve((req, p) => {
      if (req.url?.startsWith("/token")) {
        expect(req.url).toContain("scope=repository%3Aacme%2Fetl%3Apull");
        return { status: 200, body: JSON.stringify({ token: "t0k" }) };
      }
      seen.push({ accept: req.headers.accept, auth: req.headers.authorization });
      if (req.headers.authorization !== "Bearer t0k") {
        return { status: 401, headers: { "WWW-Authenticate": `Bearer realm="http://127.0.0.1:${p}/token",service="test",scope="repository:acme/etl:pull"` } };
      }
      return { status: req.url === "/v2/acme/etl/manifests/present" ? 200 : 404 };
    });
    expect(await manifestExists(`127.0.0.1:${port}/acme/etl:present`)).toBe(true);
    expect(await manifestExists(`127.0.0.1:${port}/acme/etl:absent`)).toBe(false);
    expect(seen[0]!.accept).toBe(MANIFEST_ACCEPT);
    expect(seen[0]!.accept).toContain("application/vnd.oci.image.index.v1+json");
  });

  it("checks the platforms of an index when several are required", async () => {
    const port = await serve(() => ({
      status: 200,
      headers: { "Content-Type": "application/vnd.oci.image.index.v1+json" },
      body: JSON.stringify({ manifests: [{ platform: { os: "linux", architecture: "amd64" } }] }),
    }));
    expect(await manifestExists(`localhost:${port}/x:1`, { platforms: ["linux/amd64"] })).toBe(true);
    expect(await manifestExists(`localhost:${port}/x:1`, { platforms: ["linux/amd64", "linux/arm64"] })).toBe(false);
  });

  it("turns refusals and server errors into ImageBuildErrors that say what to do", async () => {
    const port = await serve((req) => ({ status: req.url?.includes("denied") ? 403 : 500 }));
    await expect(manifestExists(`localhost:${port}/denied:1`)).rejects.toThrow(/refused to show denied:1 \(HTTP 403\). Log in with `docker login localhost:\d+` or `buildah login/);
    await expect(manifestExists(`localhost:${port}/x:1`)).rejects.toThrow(/answered HTTP 500/);
  });
});

describe("context staging", () => {
  it("names the Dockerfile and context paths the builder receives", async () => {
    const builder = new MemoryBuilder();
    const fixture = fileURLToPath(new URL("./fixtures/images/project/", import.meta.url));
    await build(img("ctx").withSourceFile(join(fixture, "config.json"), "/etc/"), { builder, push: false });
    const req = builder.requests[0]!;
    expect(req.dockerfile).toBe(join(req.contextDir, "Dockerfile"));
    expect(req.dockerfileText).toContain("COPY layer-1/config.json /etc/");
  });
});
