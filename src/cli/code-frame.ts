/**
 * Syntax errors in a user's file, as reported by the TypeScript transform (esbuild via tsx): its message
 * lists `file:line:col: ERROR: text` lines; each becomes one sentence plus the offending line with a caret.
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";

const LOCATION = /^(.+?):(\d+):(\d+): ERROR: (.*)$/;

/** The syntax errors of a transform failure with code frames, or undefined if `message` is not one. */
export function describeSyntaxErrors(message: string): string | undefined {
  const found = message.split("\n").map((l) => LOCATION.exec(l.trim())).filter((m): m is RegExpExecArray => m !== null);
  if (found.length === 0) return undefined;
  return found.map(([, file, line, col, text]) => {
    // esbuild counts columns from 0; editors and `file:line:col` links count from 1.
    const at = `${relative(process.cwd(), file!) || file}:${line}:${Number(col) + 1}`;
    return `${text} at ${at}${frame(file!, Number(line), Number(col))}`;
  }).join("\n");
}

function frame(file: string, line: number, col: number): string {
  let source: string[];
  try {
    source = readFileSync(file, "utf8").split("\n");
  } catch {
    return "";
  }
  const text = source[line - 1];
  if (text === undefined) return "";
  const gutter = String(line).length;
  return `\n  ${String(line).padStart(gutter)} | ${text}\n  ${" ".repeat(gutter)} | ${" ".repeat(col)}^`;
}
