import { describe, it, expect } from "vitest";
import { ValidationError } from "../errors.ts";
import { PodTemplate, type K8sPodSpec } from "./pod-template.ts";

const bad = (f: () => unknown, re: RegExp) => {
  expect(f).toThrow(ValidationError);
  expect(f).toThrow(re);
};
const spec = (...names: string[]): K8sPodSpec => ({ containers: names.map((name) => ({ name })) });
type C = { name: string; securityContext?: Record<string, unknown>; resources?: Record<string, Record<string, string>>; volumeMounts?: unknown[] };
const primary = (pt: PodTemplate): C => (pt.toK8sPod().podSpec.containers as C[]).find((c) => c.name === pt.primaryContainerName)!;

describe("PodTemplate construction", () => {
  it("defaults to an empty spec and the \"primary\" container", () => {
    const pt = new PodTemplate();
    expect(pt.primaryContainerName).toBe("primary");
    expect(pt.podSpec).toEqual({});
    expect(pt.labels).toBeUndefined();
    expect(Object.isFrozen(pt)).toBe(true);
  });
  it("deep-copies the spec", () => {
    const s = { containers: [{ name: "primary", env: [{ name: "A", value: "1" }] }] };
    const pt = PodTemplate({ podSpec: s, labels: { team: "ml" }, annotations: { a: "b" } });
    expect(pt).toBeInstanceOf(PodTemplate);
    s.containers[0]!.env[0]!.value = "changed";
    expect((pt.podSpec.containers as { env: { value: string }[] }[])[0]!.env[0]!.value).toBe("1");
    expect(pt.labels).toEqual({ team: "ml" });
  });
  it("rejects a non-object spec", () => bad(() => new PodTemplate({ podSpec: [] as never }), /PodTemplate: podSpec must be a Kubernetes PodSpec object, got \[\]/));
  it("rejects unnamed containers", () => bad(() => new PodTemplate({ podSpec: { containers: [{ image: "x" }] } }), /PodTemplate: podSpec.containers must be an array of containers that each have a name/));
  it("rejects non-string labels", () => bad(() => new PodTemplate({ labels: { a: 1 } as never }), /PodTemplate: labels must be an object of string values/));
  it("rejects an empty primaryContainerName", () => bad(() => new PodTemplate({ primaryContainerName: "" }), /PodTemplate: primaryContainerName must be a non-empty string/));
  it("rejects unknown options", () => bad(() => new PodTemplate({ pod_spec: {} } as never), /Unknown option "pod_spec" for PodTemplate. Did you mean "podSpec"\?/));
});

describe("PodTemplate.fromSpec primary container resolution", () => {
  it("uses an explicit name that exists", () => expect(PodTemplate.fromSpec(spec("a", "b"), { primaryContainerName: "b" }).primaryContainerName).toBe("b"));
  it("rejects an explicit name that does not exist, listing the containers", () =>
    bad(() => PodTemplate.fromSpec(spec("a", "b"), { primaryContainerName: "c" }), /primaryContainerName "c" is not a container of the pod spec; containers: \["a","b"\]/));
  it("prefers the container named primary", () => expect(PodTemplate.fromSpec(spec("sidecar", "primary")).primaryContainerName).toBe("primary"));
  it("adopts the only container", () => expect(PodTemplate.fromSpec(spec("worker")).primaryContainerName).toBe("worker"));
  it("rejects an ambiguous spec", () => bad(() => PodTemplate.fromSpec(spec("a", "b")), /PodTemplate.fromSpec: cannot determine the primary container/));
  it("rejects a spec without containers", () => bad(() => PodTemplate.fromSpec({}), /cannot determine the primary container/));
  it("passes labels and annotations through", () => {
    const pt = PodTemplate.fromSpec(spec("primary"), { labels: { team: "ml" }, annotations: { a: "b" } });
    expect(pt.toK8sPod().metadata).toEqual({ labels: { team: "ml" }, annotations: { a: "b" } });
  });
});

describe("PodTemplate copies", () => {
  it("synthesises the primary container in toK8sPod", () => {
    const pod = new PodTemplate({ podSpec: spec("sidecar") }).toK8sPod();
    expect(pod.podSpec.containers).toEqual([{ name: "sidecar" }, { name: "primary" }]);
    expect(pod.primaryContainerName).toBe("primary");
    expect(pod.metadata).toEqual({});
  });
  it("sets the termination grace period on a copy", () => {
    const pt = new PodTemplate();
    const g = pt.withTerminationGracePeriod("10m");
    expect(g.podSpec.terminationGracePeriodSeconds).toBe(600);
    expect(g.podSpec.containers).toEqual([{ name: "primary" }]);
    expect(pt.podSpec).toEqual({});
    expect(new PodTemplate().withTerminationGracePeriod(1.2).podSpec.terminationGracePeriodSeconds).toBe(2);
  });
  it("rejects a negative grace period", () => bad(() => new PodTemplate().withTerminationGracePeriod(-5), /PodTemplate.withTerminationGracePeriod: terminationGracePeriod -5 is negative/));

  it("allowFuse() requests the device plugin and SYS_ADMIN without privilege", () => {
    const pt = new PodTemplate({ podSpec: { containers: [{ name: "primary", resources: { limits: { cpu: "1" } } }] } });
    const f = pt.allowFuse();
    const c = primary(f);
    expect(c.resources).toEqual({ limits: { cpu: "1", "smarter-devices/fuse": "1" }, requests: { "smarter-devices/fuse": "1" } });
    expect(c.securityContext).toEqual({ capabilities: { add: ["SYS_ADMIN"] } });
    expect(f.annotations).toEqual({ "flyte.org/capability-fuse": "true" });
    expect(primary(f.allowFuse())).toEqual(c); // idempotent
    expect(primary(pt).securityContext).toBeUndefined(); // original untouched
  });
  it("allowFuse({ privileged: true }) mounts /dev/fuse and sets privileged", () => {
    const f = new PodTemplate().allowFuse({ privileged: true });
    const c = primary(f);
    expect(c.securityContext).toEqual({ privileged: true, capabilities: { add: ["SYS_ADMIN"] } });
    expect(c.volumeMounts).toEqual([{ name: "fuse-device", mountPath: "/dev/fuse" }]);
    expect(f.podSpec.volumes).toEqual([{ name: "fuse-device", hostPath: { path: "/dev/fuse", type: "CharDevice" } }]);
  });
  it("rejects allowFuse({ privileged: true }) when the container sets privileged: false", () =>
    bad(() => new PodTemplate({ podSpec: { containers: [{ name: "primary", securityContext: { privileged: false } }] } }).allowFuse({ privileged: true }),
      /PodTemplate.allowFuse: \{ privileged: true \} needs a privileged primary container, but container "primary" sets privileged: false/));
  it("rejects allowFuse({ privileged: true }) after allowNestedSandboxing()", () =>
    bad(() => new PodTemplate().allowNestedSandboxing().allowFuse({ privileged: true }), /conflicts with allowPrivilegeEscalation: false/));
  it("rejects unknown allowFuse options", () => bad(() => new PodTemplate().allowFuse({ priv: true } as never), /Unknown option "priv" for PodTemplate.allowFuse/));

  it("allowNestedSandboxing() grants SYS_ADMIN, no escalation and unconfined AppArmor", () => {
    const s = new PodTemplate({ primaryContainerName: "main" }).allowNestedSandboxing();
    expect(primary(s).securityContext).toEqual({ capabilities: { add: ["SYS_ADMIN"] }, allowPrivilegeEscalation: false });
    expect(s.annotations).toEqual({
      "container.apparmor.security.beta.kubernetes.io/main": "unconfined",
      "flyte.org/capability-nested-sandboxing": "true",
    });
    expect(primary(s.allowFuse()).securityContext!.capabilities).toEqual({ add: ["SYS_ADMIN"] }); // composes
  });
  it("rejects allowNestedSandboxing() on a privileged container", () =>
    bad(() => new PodTemplate().allowFuse({ privileged: true }).allowNestedSandboxing(), /PodTemplate.allowNestedSandboxing: container "primary" sets privileged: true/));
  it("rejects allowNestedSandboxing() with allowPrivilegeEscalation: true", () =>
    bad(() => new PodTemplate({ podSpec: { containers: [{ name: "primary", securityContext: { allowPrivilegeEscalation: true } }] } }).allowNestedSandboxing(),
      /container "primary" sets allowPrivilegeEscalation: true/));
  it("rejects allowNestedSandboxing() when another AppArmor profile is pinned", () =>
    bad(() => new PodTemplate({ annotations: { "container.apparmor.security.beta.kubernetes.io/primary": "runtime/default" } }).allowNestedSandboxing(),
      /needs the AppArmor profile of container "primary" to be "unconfined"/));
});
