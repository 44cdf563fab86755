/**
 * Task code for workers from deployments (`flyte deploy`): the bundle of the version an action names is unpacked
 * once per version into `<stateDir>/bundles/<version>/` and the task's module imported from there. A task a
 * version does not hold, or a module that fails to load, fails the action with a `ModuleLoadError` naming the
 * task, file and version (the worker goes on).
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { listLoadedEnvironments } from "../authoring/environment.ts";
import { TaskTemplate } from "../authoring/task-template.ts";
import { unpackBundle } from "../deploy/bundle.ts";
import { ModuleLoadError } from "../errors.ts";
import { recordDeployedFile } from "../internal/deployed-versions.ts";
import type { BlobStore } from "../io/blob-store.ts";
import type { TaskResolver } from "../queue/worker.ts";
import type { RunStore } from "../store/store.ts";

export function deployedCode(o: { store: RunStore; blobStore: BlobStore; project: string; domain: string; cacheDir: string }): TaskResolver {
  const scope = { project: o.project, domain: o.domain };
  /** version → fqn → task, per loaded version (a version's modules are imported once). */
  const loaded = new Map<string, Promise<Map<string, TaskTemplate>>>();
  const unpacked = new Map<string, Promise<string>>();

  async function unpack(version: string): Promise<string> {
    const d = await o.store.getDeployment(scope, version);
    if (!d) throw new ModuleLoadError(`Version "${version}" is not deployed in ${o.project}/${o.domain}. Deploy the code with: flyte deploy <file.ts>`);
    if (!d.bundleUri) {
      throw new ModuleLoadError(`Version "${version}" was deployed with copy style "none": its code must be in the worker's image. Start the worker from that code with: flyte worker <file.ts> --env ...`);
    }
    const dest = join(o.cacheDir, version);
    if (existsSync(join(dest, ".flyte-complete"))) return dest;
    // Unpacked beside, then renamed: two workers (or a kill mid-way) never leave a half-written version in use.
    const tmp = `${dest}.tmp-${process.pid}-${Date.now()}`;
    mkdirSync(tmp, { recursive: true });
    try {
      await unpackBundle(o.blobStore, d.bundleUri, tmp, d.bundleDigest ?? undefined);
      writeFileSync(join(tmp, ".flyte-complete"), "");
      rmSync(dest, { recursive: true, force: true });
      renameSync(tmp, dest);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      if (existsSync(join(dest, ".flyte-complete"))) return dest;
      throw e;
    }
    return dest;
  }

  return async (fqn, version) => {
    const spec = await o.store.getTask(scope, fqn, version);
    if (!spec) {
      const latest = await o.store.getTask(scope, fqn);
      throw new ModuleLoadError(
        latest
          ? `Task "${fqn}" is not deployed at version "${version}" (its latest version is "${latest.version}"). Deploy this code with: flyte deploy <file.ts>`
          : `Task "${fqn}" is not deployed in ${o.project}/${o.domain}. Deploy it with: flyte deploy <file.ts>`,
      );
    }
    const module = spec.spec.module;
    if (typeof module !== "string") throw new ModuleLoadError(`Task "${fqn}" at version "${version}" records no module to load. Deploy it again with: flyte deploy <file.ts>`);
    let byName = loaded.get(version);
    if (!byName) {
      byName = (async () => {
        if (!unpacked.has(version)) unpacked.set(version, unpack(version));
        const dir = await unpacked.get(version)!;
        const file = resolve(dir, module);
        recordDeployedFile(file, version);
        const before = new Set(listLoadedEnvironments());
        let mod: Record<string, unknown>;
        try {
          mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
        } catch (e) {
          throw new ModuleLoadError(`Cannot load ${module} of version "${version}" (unpacked at ${file}): ${(e as Error).message.split("\n")[0]}`, { cause: e });
        }
        const tasks = new Map<string, TaskTemplate>();
        for (const v of Object.values(mod)) if (v instanceof TaskTemplate) tasks.set(v.name, v);
        for (const env of listLoadedEnvironments()) {
          if (before.has(env)) continue;
          const own = (env as { tasks?: ReadonlyMap<string, TaskTemplate> }).tasks;
          for (const t of own?.values() ?? []) if (!tasks.has(t.name)) tasks.set(t.name, t);
        }
        return tasks;
      })();
      loaded.set(version, byName);
      byName.catch(() => {
        loaded.delete(version);
        unpacked.delete(version);
      });
    }
    const task = (await byName).get(fqn);
    if (!task) throw new ModuleLoadError(`${module} of version "${version}" does not define task "${fqn}" (it was loaded, but no environment in it declares that task).`);
    return task;
  };
}
