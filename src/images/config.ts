/**
 * The image part of the configuration (API.md §17: `image.builder`, `image.registry`, `images:`), pushed in by
 * the config loader so this module never reads files itself. Kept on `globalThis` under a `Symbol.for` key so
 * two copies of flyte-ts loaded in one process (e.g. the CLI's and the user file's) see the same settings.
 *
 * @example
 * ```ts
 * setImageConfig({ builder: "buildah", registry: "ghcr.io/acme", images: { trainer: "ghcr.io/acme/trainer:1.2" } });
 * Image.fromRefName("trainer").uri; // "ghcr.io/acme/trainer:1.2"
 * ```
 * @module
 */
import { ValidationError } from "../errors.ts";
import { show } from "../internal/validate.ts";
import { parseImageReference, validateRegistry } from "./reference.ts";

export type BuilderName = "docker" | "buildah";
export const BUILDER_NAMES: readonly BuilderName[] = ["docker", "buildah"];

export interface ImageConfig {
  /** `image.builder`: which builder `build()` uses when none is passed. @default docker when its daemon answers, else buildah */
  readonly builder?: BuilderName;
  /** `image.registry`: registry for images that name none. @default undefined (local image store) */
  readonly registry?: string;
  /** `images:` — names for `Image.fromRefName`. @default {} */
  readonly images: Readonly<Record<string, string>>;
}

const KEY = Symbol.for("flyte-ts.images.config");
const holder = globalThis as unknown as { [KEY]?: ImageConfig };

/** The current image settings. */
export function getImageConfig(): ImageConfig {
  return (holder[KEY] ??= Object.freeze({ images: Object.freeze({}) }));
}

/** Replaces the image settings (the config loader calls this; tests call it with `{}` to reset). */
export function setImageConfig(o: { builder?: string; registry?: string; images?: Record<string, string> }): void {
  const owner = "image config";
  if (o.builder !== undefined && !BUILDER_NAMES.includes(o.builder as BuilderName)) {
    throw new ValidationError(`${owner}: image.builder ${show(o.builder)} is not a builder. Use "docker" or "buildah".`, { field: "image.builder" });
  }
  const registry = o.registry === undefined ? undefined : validateRegistry(o.registry, owner, "image.registry");
  holder[KEY] = Object.freeze({
    ...(o.builder ? { builder: o.builder as BuilderName } : {}),
    ...(registry ? { registry } : {}),
    images: checkRefs(o.images ?? {}),
  });
}

/** Sets only the `images:` names, keeping `image.builder` and `image.registry`. */
export function setImageRefs(refs: Record<string, string>): void {
  holder[KEY] = Object.freeze({ ...getImageConfig(), images: checkRefs(refs) });
}

function checkRefs(refs: Record<string, string>): Readonly<Record<string, string>> {
  if (typeof refs !== "object" || refs === null || Array.isArray(refs)) {
    throw new ValidationError(`image config: images must map names to image URIs, got ${show(refs)}. Example: { trainer: "ghcr.io/acme/trainer:1.2" }.`, {
      field: "images",
    });
  }
  for (const [name, uri] of Object.entries(refs)) parseImageReference(uri, "image config", `images.${name}`);
  return Object.freeze({ ...refs });
}

/** The URI configured for `images.<name>`, or a `ValidationError` naming the missing key. */
export function resolveImageRef(name: string): string {
  const uri = getImageConfig().images[name];
  if (uri === undefined) {
    const known = Object.keys(getImageConfig().images);
    throw new ValidationError(
      `Image.fromRefName(${show(name)}): the config has no images.${name}. Add \`images: { ${name}: <image uri> }\` to .flyte/config.yaml` +
        (known.length ? ` (defined: ${known.join(", ")}).` : "."),
      { field: `images.${name}` },
    );
  }
  return uri;
}
