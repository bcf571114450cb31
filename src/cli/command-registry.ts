import type { Command } from './command.js';
import { buildCommand } from './commands/build.js';
import { cacheCommand } from './commands/cache.js';
import { compatCommand } from './commands/compat.js';
import { diffCommand } from './commands/diff.js';
import { downloadCommand } from './commands/download.js';
import { exportCommand } from './commands/export.js';
import { flashCommand } from './commands/flash.js';
import { listCommand } from './commands/list.js';
import { planCommand } from './commands/plan.js';
import { publishCommand } from './commands/publish.js';
import { pruneCommand } from './commands/prune.js';
import { reindexCommand } from './commands/reindex.js';
import { renderCommand } from './commands/render.js';
import { rollbackCommand } from './commands/rollback.js';
import { schemaCommand } from './commands/schema.js';
import { validateCommand } from './commands/validate.js';
import { verifyCommand } from './commands/verify.js';

// Every command module imports its app modules (and through them the AWS SDK) inside run(), so
// `--help`, `validate` and `plan` load only what they use.

/** The release commands: what is published, in the store's order of work. */
export const RELEASE_COMMANDS: readonly Command[] = [publishCommand, listCommand, downloadCommand, diffCommand, pruneCommand, reindexCommand];

/** Every command, in the order `imagebuild --help` lists them. */
export const COMMANDS: readonly Command[] = [validateCommand, compatCommand, renderCommand, planCommand, buildCommand, verifyCommand, exportCommand, flashCommand, ...RELEASE_COMMANDS, rollbackCommand, cacheCommand, schemaCommand];
