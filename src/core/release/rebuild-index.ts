import semver from 'semver';
import type { ImageManifest } from '../manifest/image-manifest.js';
import { bumpOf } from './bump-policy.js';
import { addRelease, emptyReleaseIndex, isPrerelease, parseReleaseIndex, setCurrent, type ReleaseIndex, type ReleaseKeys, type Stamp } from './release-index.js';

// `imagebuild reindex`: a release index rebuilt from what the store holds, when releases.json is
// missing or unreadable. What the manifests do not say (who published, the bump's verdict, the
// history of `current`) is not invented: the record says it was rebuilt, and `current` goes to the
// highest stable release whose gates passed — the release a plain publish would have made current.

/** One complete release found in the store: its keys, its manifest, whether spec.json is there, and when its publish started (from the publish id), if known. */
export type FoundRelease = { readonly keys: ReleaseKeys; readonly manifest: ImageManifest; readonly specStored: boolean; readonly publishedAt: string | null };

/** The reason `current` records when reindex chose it. */
export const REINDEX_CURRENT_REASON = 'reindex: the highest stable release; move it with imagebuild rollback --to';

/** An index listing `found` (one per version), with `current` at the highest stable release whose gates passed; `stamp` is who rebuilt it and when. */
export function rebuildReleaseIndex(name: string, found: readonly FoundRelease[], stamp: Stamp): ReleaseIndex {
  const sorted = [...found].sort((a, b) => semver.compare(a.manifest.version, b.manifest.version));
  let index = emptyReleaseIndex(name);
  let previous: string | null = null;
  for (const { keys, manifest, specStored, publishedAt } of sorted) {
    index = addRelease(index, {
      version: manifest.version,
      published_at: publishedAt ?? manifest.build_date,
      published_by: `unknown (index rebuilt by ${stamp.by})`.slice(0, 200),
      manifest_key: keys.manifest,
      artifact_key: keys.artifact,
      sums_key: keys.sums,
      spec_key: specStored ? keys.spec : null,
      size_bytes: manifest.size_bytes,
      sha256: manifest.checksum_sha256,
      gate_status: manifest.verify?.status === 'failed' ? 'failed' : 'passed',
      gpu_validated: manifest.gpu_validated,
      bump: { from: previous, actual: previous === null ? 'initial' : bumpOf(previous, manifest.version), required: null, override: manifest.version_override ?? null },
    });
    previous = manifest.version;
  }
  const current = [...index.releases].reverse().find((r) => r.gate_status === 'passed' && !isPrerelease(r.version));
  if (current) index = setCurrent(index, current.version, stamp, REINDEX_CURRENT_REASON);
  return parseReleaseIndex(index, `the rebuilt release index of ${name}`);
}
