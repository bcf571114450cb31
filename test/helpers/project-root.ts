import { join } from 'node:path';

export const PROJECT_ROOT = join(import.meta.dirname, '../..');

/** The built CLI (dist/ behind bin/imagebuild.js), for tests that run imagebuild as a child process. */
export const BUILT_CLI = join(PROJECT_ROOT, 'bin/imagebuild.js');
