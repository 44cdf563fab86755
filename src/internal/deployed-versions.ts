/**
 * Which deployed version a module file was loaded from: a worker imports each version's bundle from a folder of its
 * own, and code running a task of it (a clustered task submitting a JobSet whose pods load the same version) asks
 * by the task's source file. Filled by worker/deployed-code.ts.
 */
const versions = new Map<string, string>();

export function recordDeployedFile(file: string, version: string): void {
  versions.set(file, version);
}

/** The deployed version `file` was loaded from, if it came from a deployed bundle. */
export function deployedVersionOf(file: string | undefined): string | undefined {
  return file === undefined ? undefined : versions.get(file);
}
