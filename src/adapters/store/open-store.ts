import type { StoreSpec } from '../../core/spec/schema.js';
import { StoreNotConfiguredError } from '../../errors/index.js';
import type { ArtifactStore } from './types.js';

export type OpenStoreOptions = {
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * For commands that write a store's first objects (publish, a shared-cache push): a filesystem store's
   * missing directory is then an empty store, created by the first write. Without it, reading a
   * missing directory fails naming it (an unmounted disk must not read as "no releases").
   */
  readonly createMissing?: boolean;
};

/** Opens the store a spec names; the S3 back-end (and the AWS SDK with it) is loaded only here, on first use. */
export async function openStore(spec: StoreSpec | undefined, options: OpenStoreOptions): Promise<ArtifactStore> {
  if (spec === undefined) {
    throw new StoreNotConfiguredError(
      'the spec names no artifacts.store; add `artifacts: { store: { kind: s3, bucket: …, endpoint: … } }` or `{ kind: filesystem, dir: … }` to publish, list or download releases',
    );
  }
  if (spec.kind === 'filesystem') {
    const [{ createFilesystemStore }, { resolveFilesystemSettings }] = await Promise.all([import('./filesystem/index.js'), import('./filesystem/config.js')]);
    return createFilesystemStore(resolveFilesystemSettings(spec, options.cwd, options.createMissing === true));
  }
  const [{ createS3Store }, { resolveS3Settings }] = await Promise.all([import('./s3/index.js'), import('./s3/config.js')]);
  const env = options.env ?? process.env;
  return createS3Store(resolveS3Settings(spec, env), env);
}
