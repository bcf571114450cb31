import type { CacheLayout, BuildDirLayout } from '../../adapters/workspace/cache-layout.js';
import type { ReleaseLayout } from '../../adapters/workspace/release-layout.js';
import type { BuildKey } from '../../adapters/ssh/build-key.js';
import type { ProjectFiles, ToolVersions } from '../../core/plan/plan-build.js';
import type { ImageSpec } from '../../core/spec/schema.js';
import type { LoadedSpec } from '../load-spec.js';

/** What one build run is made of and where it works: fixed once the run holds the cache lock. */
export type BuildRun = {
  readonly loaded: LoadedSpec;
  /** The spec with the host profile applied. */
  readonly spec: ImageSpec;
  readonly version: string;
  readonly specHash: string;
  readonly projectDir: string;
  readonly project: ProjectFiles;
  readonly tools: ToolVersions;
  readonly cache: CacheLayout;
  /** This run's directory under the cache's builds/. */
  readonly dir: BuildDirLayout;
  /** Where the release lands in output/<name>/. */
  readonly release: ReleaseLayout;
  readonly outputRoot: string;
  /** `YYYYMMDDTHHMMSS` of the run's start, naming its build and failed-layer directories. */
  readonly stamp: string;
  readonly buildKey: BuildKey;
  /** The cache's verification key, when a spec user has verify_login: Packer passes its public half to the users role. */
  readonly verifyKey: BuildKey | undefined;
  readonly signal: AbortSignal;
};
