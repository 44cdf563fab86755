/**
 * The protocol by which File, Dir and DataFrame turn themselves into literals, so the type engine
 * (src/types/literal.ts) can convert them without this folder depending on it.
 * @module
 * @internal
 */

/** Method key: `value[TO_LITERAL]()` uploads the value if it is still local and returns its tagged literal. */
export const TO_LITERAL: unique symbol = Symbol.for("flyte-ts.io.toLiteral");

/** Tagged literal of an I/O value: `{"$flyte":"file"|"dir"|"dataframe", uri, ...}`. */
export type IoLiteral = { $flyte: "file" | "dir" | "dataframe"; uri: string } & Record<string, string | number>;

export interface IoLiteralSource {
  [TO_LITERAL](): Promise<IoLiteral>;
}

export function isIoValue(v: object): v is IoLiteralSource {
  return typeof (v as Partial<IoLiteralSource>)[TO_LITERAL] === "function";
}

/** A short random path segment, so concurrent uploads never collide. */
export function randomSegment(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 20);
}
