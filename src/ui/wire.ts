/** JSON for the browser: dates as ISO strings, bigints as strings, bytes summarised, cycles cut. */
export function toWire(value: unknown): unknown {
  const seen = new WeakSet<object>();
  const text = JSON.stringify(value, function (_k, v: unknown) {
    if (typeof v === "bigint") return `${v}n`;
    if (v instanceof Uint8Array) return `<${v.byteLength} bytes>`;
    if (v instanceof Map) return Object.fromEntries(v);
    if (v instanceof Set) return [...v];
    if (v && typeof v === "object") {
      if (seen.has(v)) return "<cycle>";
      seen.add(v);
    }
    return v;
  });
  return text === undefined ? null : JSON.parse(text);
}
