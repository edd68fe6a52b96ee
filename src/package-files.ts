/**
 * Files the package ships beside its code (package.json, schema/), by their path from the package root. This file
 * and the bundled CLI (dist/bin/, see scripts/bundle.ts) both sit two folders below the root, so one relative URL
 * serves both; no other module spells the package's layout.
 */
export function packageFile(relativePath: string): URL {
  return new URL(`../../${relativePath}`, import.meta.url);
}
