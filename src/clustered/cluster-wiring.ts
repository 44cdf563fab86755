/**
 * What every flyte-ts process of a Kubernetes installation gets (workers, scheduler, UI, and the pods of a
 * clustered task's JobSet): the config file from ConfigMap `flyte-config`, the database URL from Secret
 * `flyte-db`, S3 credentials from the optional Secret `flyte-storage`, and a writable state dir below /app where
 * deployed bundles unpack (so their `import "flyte-ts"` and dependencies resolve to /app/node_modules: Node's
 * ESM resolution only walks up from the importing file).
 */
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import type { IVolume } from "kubernetes-models/v1/Volume";
import type { IVolumeMount } from "kubernetes-models/v1/VolumeMount";

export const CONFIG_MAP = "flyte-config";
export const CONFIG_DIR = "/etc/flyte";
export const STATE_DIR = "/app/.flyte";
export const DB_SECRET = "flyte-db";
export const STORAGE_SECRET = "flyte-storage";

export interface RuntimeWiring {
  env: IEnvVar[];
  envFrom: NonNullable<IContainer["envFrom"]>;
  volumes: IVolume[];
  volumeMounts: IVolumeMount[];
}

export function runtimeWiring(): RuntimeWiring {
  return {
    env: [{ name: "FLYTE_CONFIG", value: `${CONFIG_DIR}/config.yaml` }, { name: "FLYTE_DATABASE_URL", valueFrom: { secretKeyRef: { name: DB_SECRET, key: "url" } } }],
    envFrom: [{ secretRef: { name: STORAGE_SECRET, optional: true } }],
    volumes: [{ name: "flyte-config", configMap: { name: CONFIG_MAP } }, { name: "flyte-state", emptyDir: {} }],
    volumeMounts: [{ name: "flyte-config", mountPath: CONFIG_DIR, readOnly: true }, { name: "flyte-state", mountPath: STATE_DIR }],
  };
}
