/**
 * Build-context staging: copies exactly the files a rendered Dockerfile refers to into a fresh folder, using
 * the same ignore matcher as the identifier, so the image holds what was hashed and nothing else (no stray
 * `node_modules`, no `.git`).
 * @module
 */
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createIgnoreMatcher, walkFolder } from "./dockerignore.ts";
import type { RenderedDockerfile } from "./dockerfile.ts";
import { folderIgnorePatterns } from "./identifier.ts";

/** Writes `Dockerfile` and the context items into `dir` (which must exist and be empty). */
export function stageContext(dir: string, rendered: RenderedDockerfile): void {
  writeFileSync(join(dir, "Dockerfile"), rendered.dockerfile);
  for (const item of rendered.context) {
    const dest = join(dir, ...item.dest.split("/"));
    if (item.type === "file") {
      mkdirSync(dirname(dest), { recursive: true });
      copyFileSync(item.src, dest);
      continue;
    }
    mkdirSync(dest, { recursive: true });
    const ignored = createIgnoreMatcher(folderIgnorePatterns(item.src, item.ignoreFiles ?? []));
    for (const e of walkFolder(item.src, ignored)) {
      const to = join(dest, ...e.rel.split("/"));
      if (e.type === "dir") mkdirSync(to, { recursive: true });
      else if (e.type === "symlink") symlinkSync(e.target!, to);
      else copyFileSync(join(item.src, e.rel), to); // copyFile keeps the mode, so executables stay executable
    }
  }
}
