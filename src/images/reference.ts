/**
 * Image references (`[registry/]name[:tag][@digest]`), validated with the grammar of the OCI distribution
 * reference (the one `docker` and `buildah` use), so a bad name fails where it is written instead of deep
 * inside a build.
 * @module
 */
import { ValidationError } from "../errors.ts";
import { show } from "../internal/validate.ts";

const DOMAIN_COMPONENT = String.raw`(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`;
const DOMAIN = String.raw`(?:${DOMAIN_COMPONENT}(?:\.${DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?`;
const PATH_COMPONENT = String.raw`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`;
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const NAME_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;

export interface ImageReference {
  /** Registry host (with port), e.g. `ghcr.io` or `localhost:5000`; undefined for Docker Hub short names. */
  readonly registry?: string;
  /** Repository path inside the registry, e.g. `acme/etl`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** A registry reached over plain HTTP: loopback addresses, as docker and buildah treat them. */
export function isLocalRegistry(registry: string): boolean {
  const host = registry.split("/")[0]!.replace(/:[0-9]+$/, "");
  return host === "localhost" || host === "[::1]" || host === "::1" || /^127(?:\.[0-9]{1,3}){3}$/.test(host);
}

/** Validates a registry option: a host (optionally `:port`) followed by optional path components. */
export function validateRegistry(v: unknown, owner: string, field = "registry"): string {
  const bad = (why: string): never => {
    throw new ValidationError(`${owner}: ${field} ${show(v)} ${why}`, { field });
  };
  if (typeof v !== "string" || v === "") return bad(`must be a non-empty string, e.g. "ghcr.io/acme" or "localhost:5000".`);
  const scheme = /^[a-z]+:\/\//i.exec(v);
  if (scheme) return bad(`must not include a scheme. Use ${show(v.slice(scheme[0].length).replace(/\/+$/, ""))}.`);
  if (v.endsWith("/")) return bad(`must not end with "/". Use ${show(v.replace(/\/+$/, ""))}.`);
  const [domain, ...path] = v.split("/");
  if (!DOMAIN_RE.test(domain!)) return bad(`has an invalid host ${show(domain)}. Use a host name with an optional port, e.g. "ghcr.io/acme" or "localhost:5000".`);
  const port = /:([0-9]+)$/.exec(domain!);
  if (port && Number(port[1]) > 65535) return bad(`has port ${port[1]}, which is above 65535.`);
  if (path.length > 0 && !NAME_RE.test(path.join("/"))) {
    return bad(`has an invalid path ${show(path.join("/"))}. Path parts use lowercase letters, digits and single ".", "_" or "-" separators, e.g. "ghcr.io/acme".`);
  }
  return v;
}

/** Validates an image name (repository path): lowercase components separated by "/". */
export function validateImageName(v: unknown, owner: string, field = "name"): string {
  if (typeof v !== "string" || !NAME_RE.test(v) || v.length > 255) {
    throw new ValidationError(
      `${owner}: ${field} ${show(v)} is not a valid image name. Use lowercase letters and digits separated by ".", "_", "-" or "/", at most 255 characters, e.g. "etl" or "team/etl".`,
      { field },
    );
  }
  return v;
}

/** Validates an image tag. */
export function validateTag(v: unknown, owner: string, field = "tag"): string {
  if (typeof v !== "string" || !TAG_RE.test(v)) {
    throw new ValidationError(
      `${owner}: ${field} ${show(v)} is not a valid image tag. Use 1-128 letters, digits, "_", "." or "-", not starting with "." or "-", e.g. "1.2.0".`,
      { field },
    );
  }
  return v;
}

/**
 * Parses `[registry/]name[:tag][@digest]`. The first path part is the registry when it contains "." or ":"
 * or is `localhost` (the rule docker uses), so `acme/etl:1` is a Docker Hub name and `ghcr.io/acme/etl:1` is not.
 */
export function parseImageReference(ref: unknown, owner: string, field = "uri"): ImageReference {
  if (typeof ref !== "string" || ref === "") {
    throw new ValidationError(`${owner}: ${field} must be a non-empty image reference such as "node:22-bookworm-slim", got ${show(ref)}.`, { field });
  }
  if (/^[a-z]+:\/\//i.test(ref)) {
    throw new ValidationError(`${owner}: ${field} ${show(ref)} must not include a scheme. Use ${show(ref.replace(/^[a-z]+:\/\//i, ""))}.`, { field });
  }
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) {
      throw new ValidationError(`${owner}: ${field} ${show(ref)} has an invalid digest ${show(digest)}. Use "@sha256:" followed by 64 hex characters.`, { field });
    }
  }
  let registry: string | undefined;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost") {
      registry = validateRegistry(first, owner, `${field} registry`);
      rest = rest.slice(slash + 1);
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    tag = validateTag(rest.slice(colon + 1), owner, `${field} tag`);
    rest = rest.slice(0, colon);
  }
  validateImageName(rest, owner, `${field} name`);
  return { ...(registry ? { registry } : {}), repository: rest, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}
