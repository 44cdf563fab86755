/**
 * Option objects of the `Image` factories and layers (API.md §4), with their defaults.
 * @module
 */
import type { Secret, SecretRequest } from "../secrets/secret.ts";
import type { Platform } from "./validate.ts";

export interface DebianBaseOptions {
  /** Node major. @default the major of the Node running this process */
  node?: string;
  /** flyte-ts version installed in the image. @default the installed flyte-ts version */
  flyteVersion?: string;
  /** npm-install flyte-ts globally and make `import "flyte-ts"` resolve in /app. @default true */
  installFlyte?: boolean;
  /** @default undefined (config `image.registry`, else the local image store) */
  registry?: string;
  /** @default "flyte-ts" */
  name?: string;
  /** Credentials the cluster uses to pull the image. @default undefined */
  registrySecret?: string | Secret;
  /** @default ["linux/amd64"] */
  platform?: Platform[];
}
export interface NpmPackagesOptions { registry?: string; extraArgs?: string[]; secretMounts?: SecretRequest }
export interface PackageJsonOptions {
  /** @default package-lock.json or npm-shrinkwrap.json next to the package.json, when present */
  lockfile?: string | URL;
  /** @default true */
  production?: boolean;
  secretMounts?: SecretRequest;
}
export interface PipPackagesOptions {
  indexUrl?: string; extraIndexUrls?: string[]; pre?: boolean; extraArgs?: string[]; secretMounts?: SecretRequest;
}
export interface CloneOptions {
  registry?: string; name?: string; registrySecret?: string | Secret; platform?: Platform[];
  /** false forbids adding layers to the clone. @default true */
  extendable?: boolean;
}
