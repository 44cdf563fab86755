/**
 * Registry existence check (← flyte-sdk `ImageChecker`): a `HEAD /v2/<repo>/manifests/<tag>` against the
 * registry's HTTP API, so deciding "already built" needs no builder and no pull. Loopback registries are
 * spoken to over plain HTTP (as docker and buildah do); anonymous and `docker login`/`buildah login`
 * credentials are used for the token dance of registries like ghcr.io and Docker Hub.
 * @module
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ImageBuildError } from "../errors.ts";
import { isLocalRegistry, parseImageReference } from "./reference.ts";

/** Every manifest type a tag may point at; without the index types, multi-platform tags answer 404. */
export const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export interface RegistryCheckOptions {
  /** Platforms the tag must provide (checked when it points at an index). @default [] (any) */
  platforms?: readonly string[];
  /** @default 15000 */
  timeoutMs?: number;
}

interface Target {
  readonly host: string;
  readonly apiBase: string;
  readonly repository: string;
  readonly reference: string;
}

function target(uri: string): Target {
  const ref = parseImageReference(uri, "registry check", "uri");
  let host = ref.registry ?? "docker.io";
  let repository = ref.repository;
  if (host === "docker.io" || host === "index.docker.io") {
    host = "registry-1.docker.io";
    if (!repository.includes("/")) repository = `library/${repository}`;
  }
  const scheme = isLocalRegistry(host) ? "http" : "https";
  return { host, apiBase: `${scheme}://${host}/v2`, repository, reference: ref.digest ?? ref.tag ?? "latest" };
}

/** `user:password` from the docker/podman auth files for a registry host, if logged in. */
export function registryCredentials(host: string): string | undefined {
  const files = [
    process.env.REGISTRY_AUTH_FILE,
    process.env.XDG_RUNTIME_DIR && join(process.env.XDG_RUNTIME_DIR, "containers", "auth.json"),
    join(homedir(), ".config", "containers", "auth.json"),
    join(process.env.DOCKER_CONFIG ?? join(homedir(), ".docker"), "config.json"),
  ].filter((f): f is string => !!f);
  const keys = host === "registry-1.docker.io" ? ["docker.io", "https://index.docker.io/v1/", "index.docker.io"] : [host, `https://${host}`];
  for (const file of files) {
    let auths: Record<string, { auth?: string }> | undefined;
    try {
      auths = (JSON.parse(readFileSync(file, "utf8")) as { auths?: Record<string, { auth?: string }> }).auths;
    } catch {
      continue;
    }
    for (const k of keys) {
      const auth = auths?.[k]?.auth;
      if (auth) return Buffer.from(auth, "base64").toString("utf8");
    }
  }
  return undefined;
}

function unreachable(t: Target, e: unknown): ImageBuildError {
  const cause = e as { cause?: { code?: string; message?: string }; message?: string; name?: string };
  const why = cause?.name === "TimeoutError" ? "timed out" : cause?.cause?.code ?? cause?.cause?.message ?? cause?.message ?? String(e);
  return new ImageBuildError(
    `Registry ${t.host} is unreachable (${why}) while checking whether ${t.repository}:${t.reference} exists. ` +
      `Check that the registry is running and that the image's registry (or config image.registry) is right, ` +
      `or build without pushing (--no-push / push: false).`,
    { cause: e },
  );
}

/** Parses `Bearer realm="...",service="...",scope="..."`. */
function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const scheme = header.split(" ", 1)[0]!.toLowerCase();
  const params: Record<string, string> = {};
  for (const m of header.slice(scheme.length).matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return { scheme, params };
}

async function request(url: string, method: string, headers: Record<string, string>, timeoutMs: number): Promise<Response> {
  return fetch(url, { method, headers, redirect: "follow", signal: AbortSignal.timeout(timeoutMs) });
}

/** Turns a 401 challenge into an Authorization header (anonymous token, or one bought with stored credentials). */
async function authorize(t: Target, challenge: string, timeoutMs: number): Promise<string | undefined> {
  const creds = registryCredentials(t.host);
  const basic = creds ? `Basic ${Buffer.from(creds).toString("base64")}` : undefined;
  const { scheme, params } = parseChallenge(challenge);
  if (scheme === "basic") return basic;
  if (scheme !== "bearer" || !params.realm) return undefined;
  const url = new URL(params.realm);
  if (params.service) url.searchParams.set("service", params.service);
  url.searchParams.set("scope", params.scope ?? `repository:${t.repository}:pull`);
  const res = await request(url.href, "GET", basic ? { Authorization: basic } : {}, timeoutMs);
  if (!res.ok) return undefined;
  const body = (await res.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  return token ? `Bearer ${token}` : undefined;
}

/**
 * Whether the registry has `uri` (a full `registry/name:tag`). 404 → false; any other failure is an
 * `ImageBuildError` saying what to check, never a silent "exists" (which would skip a needed build).
 */
export async function manifestExists(uri: string, o: RegistryCheckOptions = {}): Promise<boolean> {
  const t = target(uri);
  const timeoutMs = o.timeoutMs ?? 15_000;
  const url = `${t.apiBase}/${t.repository}/manifests/${t.reference}`;
  const headers: Record<string, string> = { Accept: MANIFEST_ACCEPT };
  const platforms = o.platforms ?? [];
  // A GET is only needed to compare the platforms of an index; a HEAD answers plain existence.
  const method = platforms.length > 1 ? "GET" : "HEAD";
  let res: Response;
  try {
    res = await request(url, method, headers, timeoutMs);
    if (res.status === 401) {
      const auth = await authorize(t, res.headers.get("www-authenticate") ?? "", timeoutMs);
      if (auth) res = await request(url, method, { ...headers, Authorization: auth }, timeoutMs);
    }
  } catch (e) {
    throw unreachable(t, e);
  }
  if (res.status === 404) return false;
  if (res.status === 401 || res.status === 403) {
    throw new ImageBuildError(
      `Registry ${t.host} refused to show ${t.repository}:${t.reference} (HTTP ${res.status}). Log in with \`docker login ${t.host}\` or \`buildah login ${t.host}\`, or check that the repository name is right.`,
    );
  }
  if (!res.ok) {
    throw new ImageBuildError(`Registry ${t.host} answered HTTP ${res.status} for ${t.repository}:${t.reference}. Check the registry's health and address.`);
  }
  if (method === "HEAD") return true;
  const body = (await res.json()) as { manifests?: { platform?: { os?: string; architecture?: string } }[] };
  if (!body.manifests) return platforms.length <= 1;
  const have = new Set(body.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}`));
  return platforms.every((p) => have.has(p));
}
