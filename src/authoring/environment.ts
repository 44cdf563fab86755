/**
 * The base of every environment: the options shared by task environments (and clustered ones), and the
 * global registry `listLoadedEnvironments()` that `flyte deploy`/`build` walk.
 */
import { ValidationError } from "../errors.ts";
import { Image } from "../images/image.ts";
import { Resources } from "./resources.ts";
import { Secret, type SecretRequest } from "../secrets/secret.ts";
import { PodTemplate } from "./pod-template.ts";
import { show, truncateDescription, validateEnvName, validateStringRecord } from "../internal/validate.ts";

export interface EnvironmentOptions {
  /** Environment name: snake_case or kebab-case. */
  name: string;
  /** Container image: an `Image`, an image URI, or `"auto"` (the default Debian/Node base). @default "auto" */
  image?: string | Image | "auto";
  /** Resources requested by every task of the environment. @default undefined (backend default) */
  resources?: Resources;
  /** Environment variables set for every attempt. */
  envVars?: Record<string, string>;
  /** Secrets injected into every attempt. */
  secrets?: SecretRequest;
  /** A cluster-side PodTemplate name or a `PodTemplate`. */
  podTemplate?: string | PodTemplate;
  /** At most 255 characters; longer strings are truncated. */
  description?: string;
  /** Whether tasks may run on preemptible capacity. @default false */
  interruptible?: boolean;
  /** Environments deployed/built together with this one. @default [] */
  dependsOn?: Environment[];
  /** Extra files/globs bundled with the code, relative to the file that created the env. @default [] */
  include?: string[];
}

export const ENVIRONMENT_OPTION_KEYS = [
  "name", "image", "resources", "envVars", "secrets", "podTemplate", "description", "interruptible", "dependsOn", "include",
] as const;

const REGISTRY_KEY = Symbol.for("flyte-ts.environments");
type Registry = Environment[];
const globalRegistry = globalThis as unknown as { [REGISTRY_KEY]?: Registry };
const registry: Registry = (globalRegistry[REGISTRY_KEY] ??= []);

/** Every environment constructed in this process, in creation order. */
export function listLoadedEnvironments(): Environment[] {
  return [...registry];
}

/** Base class of environments; not instantiated directly. */
export abstract class Environment {
  readonly name: string;
  readonly image: string | Image | "auto";
  readonly resources?: Resources;
  readonly envVars?: Readonly<Record<string, string>>;
  readonly secrets?: SecretRequest;
  readonly podTemplate?: string | PodTemplate;
  readonly description?: string;
  readonly interruptible: boolean;
  readonly dependsOn: readonly Environment[];
  readonly include: readonly string[];
  #dependsOn: Environment[];

  protected constructor(o: EnvironmentOptions, owner: string) {
    this.name = validateEnvName(o.name, owner);
    const at = `${owner} "${this.name}"`;
    const image = o.image ?? "auto";
    if (typeof image !== "string" && !(image instanceof Image)) {
      throw new ValidationError(`${at}: image must be an Image, an image URI string or "auto", got ${show(image)}.`, { field: "image" });
    }
    this.image = image;
    if (o.resources !== undefined && !(o.resources instanceof Resources)) {
      throw new ValidationError(`${at}: resources must be a Resources, got ${show(o.resources)}. Use new Resources({ cpu: 2, memory: "4Gi" }).`, {
        field: "resources",
      });
    }
    if (o.resources) this.resources = o.resources;
    const envVars = validateStringRecord(o.envVars, at, "envVars");
    if (envVars) this.envVars = envVars;
    if (o.secrets !== undefined) {
      const ok = (s: unknown) => typeof s === "string" || s instanceof Secret;
      if (!(ok(o.secrets) || (Array.isArray(o.secrets) && o.secrets.every(ok)))) {
        throw new ValidationError(`${at}: secrets must be a string, a Secret or an array of them, got ${show(o.secrets)}.`, { field: "secrets" });
      }
      this.secrets = o.secrets;
    }
    if (o.podTemplate !== undefined) {
      if (typeof o.podTemplate !== "string" && !(o.podTemplate instanceof PodTemplate)) {
        throw new ValidationError(`${at}: podTemplate must be a PodTemplate name or a PodTemplate, got ${show(o.podTemplate)}.`, {
          field: "podTemplate",
        });
      }
      this.podTemplate = o.podTemplate;
    }
    const description = truncateDescription(o.description, at);
    if (description !== undefined) this.description = description;
    if (o.interruptible !== undefined && typeof o.interruptible !== "boolean") {
      throw new ValidationError(`${at}: interruptible must be true or false, got ${show(o.interruptible)}.`, { field: "interruptible" });
    }
    this.interruptible = o.interruptible ?? false;
    const deps = o.dependsOn ?? [];
    if (!Array.isArray(deps) || deps.some((d) => !(d instanceof Environment))) {
      throw new ValidationError(`${at}: dependsOn must be an array of environments, got ${show(deps)}.`, { field: "dependsOn" });
    }
    this.#dependsOn = [...deps];
    this.dependsOn = this.#dependsOn;
    const include = o.include ?? [];
    if (!Array.isArray(include) || include.some((p) => typeof p !== "string")) {
      throw new ValidationError(`${at}: include must be an array of file paths or globs, got ${show(include)}. Example: include: ["data/*.json"].`, {
        field: "include",
      });
    }
    this.include = Object.freeze([...include]);
  }

  /** Adds registry entry; called by concrete constructors once fully built. */
  protected register(): void {
    registry.push(this);
  }

  /** Adds dependencies; ones already present are skipped, adding itself is an error. */
  addDependency(...envs: Environment[]): this {
    for (const env of envs) {
      if (!(env instanceof Environment)) {
        throw new ValidationError(`Environment "${this.name}": addDependency expects environments, got ${show(env)}.`);
      }
      if (env.name === this.name) {
        throw new ValidationError(`Cannot add self as a dependency: environment "${this.name}" cannot depend on itself.`);
      }
      if (!this.#dependsOn.includes(env)) this.#dependsOn.push(env);
    }
    return this;
  }

  abstract cloneWith(options: { name: string } & Partial<EnvironmentOptions>): Environment;
}
