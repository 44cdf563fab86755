/**
 * `.dockerignore` semantics (moby/patternmatcher): patterns are relative to the copied folder, `*` and `?` stay
 * inside one path part, `**` crosses parts, `!pattern` re-includes, the last matching pattern wins, and a
 * pattern that matches a directory excludes everything under it. The same matcher drives both the content hash
 * (identifier) and the staging of the build context, so what is hashed is exactly what is copied.
 * @module
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";

interface Pattern {
  readonly re: RegExp;
  readonly exclusion: boolean;
  /** Number of path parts, to test the pattern against the same-depth prefix of deeper paths. */
  readonly depth: number;
}

/** Reads an ignore file's patterns (blank lines and `#` comments dropped); a missing file gives none. */
export function readIgnoreFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

function cleanPattern(p: string): string {
  const parts: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}

function toRegExp(p: string): RegExp {
  let re = "";
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === "*") {
      if (p[i + 1] === "*") {
        i++;
        if (p[i + 1] === "/") {
          i++;
          re += "(?:.*/)?"; // "**/" matches zero or more whole directories
        } else {
          re += ".*";
        }
      } else {
        re += "[^/]*";
      }
    } else if (c === "?") {
      re += "[^/]";
    } else if (c === "[") {
      const end = p.indexOf("]", i + 1);
      if (end < 0) {
        re += "\\[";
        continue;
      }
      let cls = p.slice(i + 1, end).replace(/\\/g, "\\\\");
      if (cls.startsWith("!") || cls.startsWith("^")) cls = `^${cls.slice(1)}`;
      re += `[${cls}]`;
      i = end;
    } else if (c === "\\" && i + 1 < p.length) {
      i++;
      re += p[i]!.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else {
      re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    }
  }
  return new RegExp(`^${re}$`);
}

/** A predicate over `/`-separated paths relative to the copied folder: true when the path is ignored. */
export type IgnoreMatcher = (relPath: string) => boolean;

export function createIgnoreMatcher(patterns: readonly string[]): IgnoreMatcher & { hasExclusions: boolean } {
  const compiled: Pattern[] = [];
  for (const raw of patterns) {
    const exclusion = raw.startsWith("!");
    const p = cleanPattern(exclusion ? raw.slice(1).trim() : raw);
    if (p === "") continue;
    compiled.push({ re: toRegExp(p), exclusion, depth: p.split("/").length });
  }
  const matcher = (relPath: string): boolean => {
    const parts = relPath.split("/");
    let ignored = false;
    for (const pat of compiled) {
      let match = pat.re.test(relPath);
      if (!match && pat.depth < parts.length) match = pat.re.test(parts.slice(0, pat.depth).join("/"));
      if (match) ignored = !pat.exclusion;
    }
    return ignored;
  };
  return Object.assign(matcher, { hasExclusions: compiled.some((p) => p.exclusion) });
}

export interface FolderEntry {
  /** `/`-separated path relative to the folder. */
  readonly rel: string;
  readonly type: "file" | "dir" | "symlink";
  /** For symlinks: the link text (copied as a link, never followed). */
  readonly target?: string;
  /** Whether any execute bit is set (part of what the image gets). */
  readonly executable: boolean;
}

/**
 * Lists a folder recursively in a stable order (sorted by name at each level), skipping ignored paths. An
 * ignored directory is still walked when some `!` pattern might re-include something below it.
 */
export function walkFolder(root: string, ignored: IgnoreMatcher & { hasExclusions: boolean }): FolderEntry[] {
  const out: FolderEntry[] = [];
  const visit = (rel: string): boolean => {
    let kept = false;
    const names = readdirSync(rel === "" ? root : join(root, rel)).sort();
    for (const name of names) {
      const childRel = rel === "" ? name : `${rel}/${name}`;
      const abs = join(root, childRel);
      const st = lstatSync(abs);
      const skip = ignored(childRel);
      if (st.isDirectory()) {
        if (skip && !ignored.hasExclusions) continue;
        const at = out.length;
        const hasKeptChildren = visit(childRel);
        if (!skip || hasKeptChildren) {
          out.splice(at, 0, { rel: childRel, type: "dir", executable: true });
          kept = true;
        }
      } else if (!skip) {
        if (st.isSymbolicLink()) out.push({ rel: childRel, type: "symlink", target: readlinkSync(abs), executable: false });
        else if (st.isFile()) out.push({ rel: childRel, type: "file", executable: (st.mode & 0o111) !== 0 });
        else continue; // sockets, fifos and devices cannot go into an image layer
        kept = true;
      }
    }
    return kept;
  };
  visit("");
  return out;
}
