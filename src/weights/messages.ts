/** How the weights readers and the matcher show shapes, keys and values from a file in a one-line message. */

export const fmtShape = (shape: readonly number[]) =>
  shape.length > 16 ? `[${shape.slice(0, 16).join(', ')}, … (${shape.length} dims)]` : `[${shape.join(', ')}]`;

/** A key or name from the file, cut short for a message: a damaged file's key can be megabytes. */
export const cut = (s: string, max = 120) => (s.length > max ? `${s.slice(0, max)}…` : s);

/** A value as JSON for a message, cut short: a shape of a million numbers is not a message. */
export function preview(v: unknown, max = 80): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** `a, b, c` in the order given, at most `limit` of them, each cut short. */
export function listKeys(keys: readonly string[], limit = 8): string {
  const shown = keys
    .slice(0, limit)
    .map((k) => cut(k))
    .join(', ');
  return keys.length > limit ? `${shown}, ... (${keys.length - limit} more)` : shown;
}
