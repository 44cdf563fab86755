/**
 * Kubernetes pod customisation for a task: extra containers, volumes, security settings, labels.
 * Only Kubernetes execution looks at it; local and worker modes record it.
 *
 * @example
 * ```ts
 * const pt = new PodTemplate({ podSpec: { containers: [{ name: "primary", env: [{ name: "CUSTOM_VAR", value: "x" }] }] } })
 *   .withTerminationGracePeriod("10m");
 * ```
 * @module
 */
import { ValidationError } from "../errors.ts";
import { callable } from "../internal/callable.ts";
import { checkKeys, isPlainObject, show, validateStringRecord } from "../internal/validate.ts";
import { durationSeconds, type Duration } from "../internal/duration.ts";

/** Kubernetes PodSpec JSON (camelCase). */
export type K8sPodSpec = Record<string, unknown>;

export interface PodTemplateOptions {
  /** Deep-copied. @default {} */
  podSpec?: K8sPodSpec;
  /** The container the task runs in; synthesised when the spec lacks it. @default "primary" */
  primaryContainerName?: string;
  /** @default undefined */
  labels?: Record<string, string>;
  /** @default undefined */
  annotations?: Record<string, string>;
}

export interface K8sPod {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  podSpec: K8sPodSpec;
  primaryContainerName: string;
}

type Container = Record<string, unknown> & { name: string };

const DEFAULT_PRIMARY = "primary";
const CAPABILITY_ANNOTATION = "flyte.org/capability-";
const APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/";
/** Advertised by a FUSE device plugin; requesting it lets an unprivileged container open /dev/fuse. */
const FUSE_RESOURCE = "smarter-devices/fuse";
const FUSE_VOLUME = "fuse-device";

function containerNames(spec: K8sPodSpec): string[] {
  const cs = spec.containers;
  return Array.isArray(cs) ? cs.map((c) => (c as Container).name) : [];
}

function checkSpec(spec: unknown): K8sPodSpec {
  if (!isPlainObject(spec)) {
    throw new ValidationError(`PodTemplate: podSpec must be a Kubernetes PodSpec object, got ${show(spec)}. Use e.g. podSpec: { containers: [{ name: "primary" }] }.`, {
      field: "podSpec",
    });
  }
  const cs = spec.containers;
  if (cs !== undefined && (!Array.isArray(cs) || cs.some((c) => !isPlainObject(c) || typeof c.name !== "string" || c.name === ""))) {
    throw new ValidationError(`PodTemplate: podSpec.containers must be an array of containers that each have a name, got ${show(cs)}.`, {
      field: "podSpec",
    });
  }
  try {
    return structuredClone(spec);
  } catch (cause) {
    throw new ValidationError(`PodTemplate: podSpec must be plain JSON data (no functions or class instances): ${String(cause)}.`, { cause, field: "podSpec" });
  }
}

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

function securityContextOf(c: Container): Record<string, unknown> {
  if (!isPlainObject(c.securityContext)) c.securityContext = {};
  return c.securityContext as Record<string, unknown>;
}

function addSysAdmin(c: Container): void {
  const sc = securityContextOf(c);
  const caps = isPlainObject(sc.capabilities) ? sc.capabilities : (sc.capabilities = {});
  const add = Array.isArray(caps.add) ? (caps.add as string[]) : (caps.add = []);
  if (!add.includes("SYS_ADMIN")) add.push("SYS_ADMIN");
}

class PodTemplateImpl {
  readonly podSpec: Readonly<K8sPodSpec>;
  readonly primaryContainerName: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;

  constructor(o: PodTemplateOptions = {}) {
    checkKeys(o, ["podSpec", "primaryContainerName", "labels", "annotations"], "PodTemplate");
    this.podSpec = deepFreeze(o.podSpec === undefined ? {} : checkSpec(o.podSpec));
    const primary = o.primaryContainerName ?? DEFAULT_PRIMARY;
    if (typeof primary !== "string" || primary === "") {
      throw new ValidationError(`PodTemplate: primaryContainerName must be a non-empty string, got ${show(primary)}. Use e.g. "primary".`, {
        field: "primaryContainerName",
      });
    }
    this.primaryContainerName = primary;
    const labels = validateStringRecord(o.labels, "PodTemplate", "labels");
    const annotations = validateStringRecord(o.annotations, "PodTemplate", "annotations");
    if (labels) this.labels = labels;
    if (annotations) this.annotations = annotations;
    Object.freeze(this);
  }

  /**
   * Wraps an existing PodSpec. The primary container is the one named `primaryContainerName` (which must exist),
   * else the one named "primary", else the only container.
   */
  static fromSpec(podSpec: K8sPodSpec, o: Omit<PodTemplateOptions, "podSpec"> = {}): PodTemplate {
    checkKeys(o, ["primaryContainerName", "labels", "annotations"], "PodTemplate.fromSpec");
    const names = containerNames(checkSpec(podSpec));
    let primary: string;
    if (o.primaryContainerName !== undefined) {
      if (!names.includes(o.primaryContainerName)) {
        throw new ValidationError(
          `PodTemplate.fromSpec: primaryContainerName ${show(o.primaryContainerName)} is not a container of the pod spec; containers: ${show(names)}. Use one of those names.`,
          { field: "primaryContainerName" },
        );
      }
      primary = o.primaryContainerName;
    } else if (names.includes(DEFAULT_PRIMARY)) primary = DEFAULT_PRIMARY;
    else if (names.length === 1) primary = names[0]!;
    else {
      throw new ValidationError(
        `PodTemplate.fromSpec: cannot determine the primary container: the pod spec has containers ${show(names)} and none is named "primary". Pass { primaryContainerName } to pick one.`,
        { field: "primaryContainerName" },
      );
    }
    return new PodTemplate({ ...o, podSpec, primaryContainerName: primary });
  }

  /** A copy with `terminationGracePeriodSeconds` set: how long Kubernetes waits after SIGTERM before SIGKILL. */
  withTerminationGracePeriod(d: Duration): PodTemplate {
    // Rounded up: a grace period shorter than asked for could cut a checkpoint short.
    const seconds = Math.ceil(durationSeconds(d, "PodTemplate.withTerminationGracePeriod", "terminationGracePeriod"));
    return this.derive((spec) => {
      spec.terminationGracePeriodSeconds = seconds;
    });
  }

  /**
   * A copy allowed to mount FUSE filesystems. By default it requests the FUSE device-plugin resource and
   * `CAP_SYS_ADMIN` (no privilege); `privileged: true` is the fallback for clusters without the plugin.
   */
  allowFuse(o: { privileged?: boolean } = {}): PodTemplate {
    checkKeys(o, ["privileged"], "PodTemplate.allowFuse");
    const privileged = o.privileged ?? false;
    if (typeof privileged !== "boolean") {
      throw new ValidationError(`PodTemplate.allowFuse: privileged must be true or false, got ${show(o.privileged)}.`, { field: "privileged" });
    }
    return this.derive((spec, c, annotations) => {
      if (privileged) {
        const sc = securityContextOf(c);
        if (sc.privileged === false) {
          throw new ValidationError(
            `PodTemplate.allowFuse: { privileged: true } needs a privileged primary container, but container "${c.name}" sets privileged: false. Use allowFuse() (unprivileged) on clusters with a FUSE device plugin.`,
            { field: "privileged" },
          );
        }
        if (sc.allowPrivilegeEscalation === false) {
          throw new ValidationError(
            `PodTemplate.allowFuse: { privileged: true } conflicts with allowPrivilegeEscalation: false on container "${c.name}" (e.g. from allowNestedSandboxing()); Kubernetes rejects that pair. Use allowFuse() (unprivileged).`,
            { field: "privileged" },
          );
        }
        const volumes = Array.isArray(spec.volumes) ? (spec.volumes as Container[]) : (spec.volumes = []);
        if (!volumes.some((v) => v.name === FUSE_VOLUME)) volumes.push({ name: FUSE_VOLUME, hostPath: { path: "/dev/fuse", type: "CharDevice" } });
        const mounts = Array.isArray(c.volumeMounts) ? (c.volumeMounts as Container[]) : (c.volumeMounts = []);
        if (!mounts.some((m) => m.name === FUSE_VOLUME)) mounts.push({ name: FUSE_VOLUME, mountPath: "/dev/fuse" });
        sc.privileged = true;
      } else {
        const res = isPlainObject(c.resources) ? c.resources : (c.resources = {});
        // Extended resources must have request == limit.
        res.requests = { ...(isPlainObject(res.requests) ? res.requests : {}), [FUSE_RESOURCE]: "1" };
        res.limits = { ...(isPlainObject(res.limits) ? res.limits : {}), [FUSE_RESOURCE]: "1" };
      }
      addSysAdmin(c); // mount(2) needs it on both paths
      annotations[`${CAPABILITY_ANNOTATION}fuse`] = "true";
    });
  }

  /**
   * A copy allowed to create nested sandboxes (e.g. bubblewrap): `CAP_SYS_ADMIN`, `allowPrivilegeEscalation: false`
   * and an unconfined AppArmor profile, and nothing more.
   */
  allowNestedSandboxing(): PodTemplate {
    return this.derive((_spec, c, annotations) => {
      const sc = securityContextOf(c);
      if (sc.privileged === true) {
        throw new ValidationError(
          `PodTemplate.allowNestedSandboxing: container "${c.name}" sets privileged: true, which Kubernetes rejects together with the allowPrivilegeEscalation: false this grant needs. Remove privileged (or use allowFuse() without privileged).`,
        );
      }
      if (sc.allowPrivilegeEscalation === true) {
        throw new ValidationError(
          `PodTemplate.allowNestedSandboxing: container "${c.name}" sets allowPrivilegeEscalation: true, but nested sandboxing sets it to false. Remove allowPrivilegeEscalation from the pod spec.`,
        );
      }
      const apparmorKey = `${APPARMOR_ANNOTATION}${c.name}`;
      const existing = annotations[apparmorKey];
      if (existing !== undefined && existing !== "unconfined") {
        throw new ValidationError(
          `PodTemplate.allowNestedSandboxing: needs the AppArmor profile of container "${c.name}" to be "unconfined", but annotation ${apparmorKey} is ${show(existing)}. Remove that annotation.`,
        );
      }
      annotations[apparmorKey] = "unconfined";
      addSysAdmin(c);
      sc.allowPrivilegeEscalation = false;
      annotations[`${CAPABILITY_ANNOTATION}nested-sandboxing`] = "true";
    });
  }

  /** The K8sPod wire form, with the primary container present. */
  toK8sPod(): K8sPod {
    const { podSpec } = this.withPrimary();
    const metadata: K8sPod["metadata"] = {};
    if (this.labels) metadata.labels = { ...this.labels };
    if (this.annotations) metadata.annotations = { ...this.annotations };
    return { metadata, podSpec, primaryContainerName: this.primaryContainerName };
  }

  /** A mutable deep copy of the spec in which the primary container exists. */
  private withPrimary(): { podSpec: K8sPodSpec; primary: Container } {
    const podSpec = structuredClone(this.podSpec) as K8sPodSpec;
    const containers = Array.isArray(podSpec.containers) ? (podSpec.containers as Container[]) : (podSpec.containers = []);
    let primary = containers.find((c) => c.name === this.primaryContainerName);
    if (!primary) containers.push((primary = { name: this.primaryContainerName }));
    return { podSpec, primary };
  }

  private derive(edit: (spec: K8sPodSpec, primary: Container, annotations: Record<string, string>) => void): PodTemplate {
    const { podSpec, primary } = this.withPrimary();
    const annotations: Record<string, string> = { ...this.annotations };
    edit(podSpec, primary, annotations);
    return new PodTemplate({
      podSpec,
      primaryContainerName: this.primaryContainerName,
      ...(this.labels ? { labels: { ...this.labels } } : {}),
      ...(Object.keys(annotations).length ? { annotations } : {}),
    });
  }
}

/** A Kubernetes pod template for a task; every `with*`/`allow*` method returns a new template. */
export const PodTemplate = callable(PodTemplateImpl);
export type PodTemplate = PodTemplateImpl;
