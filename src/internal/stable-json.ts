/**
 * JSON with object keys sorted and `undefined` members dropped (`undefined` array items become null), so
 * the text, and any hash of it, does not depend on key order. `identity` may give an object's whole text
 * itself (e.g. a content-addressed value as its hash alone); it returns undefined for the usual treatment.
 */
export function stableJson(v: unknown, identity?: (o: Record<string, unknown>) => string | undefined): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) {
    const items: string[] = new Array<string>(v.length);
    for (let i = 0; i < v.length; i++) items[i] = stableJson(v[i] === undefined ? null : v[i], identity);
    return `[${items.join(",")}]`;
  }
  const o = v as Record<string, unknown>;
  const own = identity?.(o);
  if (own !== undefined) return own;
  const parts: string[] = [];
  for (const k of Object.keys(o).sort()) {
    const x = o[k];
    if (x !== undefined) parts.push(`${JSON.stringify(k)}:${stableJson(x, identity)}`);
  }
  return `{${parts.join(",")}}`;
}
