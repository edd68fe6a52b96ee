import { effects } from './effects.js';
import { packageFile } from './package-files.js';

/** The package version, read once from package.json. */
export const VERSION: string = (JSON.parse(effects.fs.readFileSync(packageFile('package.json'), 'utf8')) as { version: string }).version;
