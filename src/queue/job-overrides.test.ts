/** A call site's `task.override()` travels in the job (JSON) and is applied by the worker to the task as declared. */
import { describe, expect, it } from "vitest";
import { GPU, Resources, Secret, TaskEnvironment } from "../index.ts";
import { jobOverrides, withOverrides } from "../authoring/task-overrides.ts";

const env = new TaskEnvironment({ name: "ovr", secrets: ["declared-key"] });
const t = env.task(async function t() {
  return 1;
});

describe("job overrides", () => {
  it("carry secrets and resources through JSON: the worker's task asks for what the call site asked for", () => {
    const called = t.override({
      secrets: [new Secret({ key: "tok", group: "g", asEnvVar: "TOK" }), new Secret({ key: "file", mount: "/etc/flyte/secrets" })],
      resources: new Resources({ cpu: [1, 2], memory: "1Gi", gpu: GPU({ device: "A100", quantity: 1, partition: "1g.5gb" }), shm: "auto" }),
    });
    const carried = JSON.parse(JSON.stringify(jobOverrides(called)));
    const onWorker = withOverrides(t, carried);
    expect(onWorker.secrets).toEqual(called.secrets);
    expect(onWorker.secrets.map((s) => s.asEnvVar)).toEqual(["TOK", undefined]);
    expect(onWorker.resources).toEqual(called.resources);
    expect(onWorker.resources!.getDevice()).toMatchObject({ device: "A100", quantity: 1, partition: "1g.5gb", deviceClass: "GPU" });
  });

  it("leave the declared secrets and resources alone when the call site did not change them", () => {
    const onWorker = withOverrides(t, JSON.parse(JSON.stringify(jobOverrides(t.override({ shortName: "renamed" })))));
    expect(onWorker.secrets.map((s) => s.key)).toEqual(["declared-key"]);
    expect(onWorker.resources).toBeUndefined();
    expect(onWorker.shortName).toBe("renamed");
  });
});
