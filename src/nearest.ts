/**
 * "Did you mean": the one edit distance behind every nearest-name suggestion (scopes and tensors in locate, plan
 * keys in plan/schema, state_dict keys in weights). Callers keep their own cut-offs; the distance is shared.
 */

/** Levenshtein distance between `a` and `b` (insert, delete, substitute each cost 1), in O(|a|·|b|) time, O(|b|) memory. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** `names` sorted nearest to `target` first (ties in code-unit order), each distance computed once by `distanceOf`. */
export function nearestFirst(target: string, names: readonly string[], distanceOf: (target: string, name: string) => number = editDistance): string[] {
  const distance = new Map(names.map((n) => [n, distanceOf(target, n)]));
  return [...names].sort((x, y) => distance.get(x)! - distance.get(y)! || (x < y ? -1 : x > y ? 1 : 0));
}
