import { effects } from './effects.js';

/** The package version, read once from package.json (dist/src/version.js → ../../package.json). */
export const VERSION: string = (JSON.parse(effects.fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
