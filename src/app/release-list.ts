import { readLocalCurrent } from '../adapters/workspace/local-releases.js';
import { readManifestFile } from '../adapters/workspace/manifest-file.js';
import { currentLinkPath, releaseLayout } from '../adapters/workspace/release-layout.js';
import { printableText } from '../core/printable-text.js';
import { diffReleases, type ReleaseDiff } from '../core/release/diff-releases.js';
import { ReleaseNotFoundError } from '../errors/index.js';
import { resolveRelease, type CurrentChange, type CurrentPointer } from '../core/release/release-index.js';
import { localSbomPackages, storedSbomPackages } from './release-sbom.js';
import { loadReleaseSpec, localReleaseNotFound, openSpecStore, readReleaseIndex, readStoredManifest, type ReleaseCommandOptions } from './release-store.js';

/** One release as `imagebuild list` shows it. */
export type ListedRelease = {
  readonly version: string;
  readonly current: boolean;
  readonly published_at: string;
  readonly published_by: string;
  readonly build_date: string | null;
  readonly size_bytes: number;
  readonly sha256: string;
  readonly gate_status: 'passed' | 'failed';
  readonly gpu_validated: boolean;
  readonly os: string | null;
  readonly kernel: string | null;
  readonly nvidia_driver: string | null;
  readonly cuda_version: string | null;
  readonly frameworks: { readonly pytorch: string | null; readonly tensorflow: string | null; readonly vllm: string | null } | null;
  readonly version_override: string | null;
  /** Why the manifest could not be shown (missing or invalid in the store). */
  readonly problem: string | null;
};

export type ReleaseListing = {
  readonly name: string;
  readonly store: string;
  readonly current: CurrentPointer | null;
  /** Newest first. */
  readonly releases: readonly ListedRelease[];
  readonly history: readonly CurrentChange[];
};

/** `imagebuild list`: the store's releases, newest first, each with its manifest's facts (validated on read). */
export async function listReleases(options: ReleaseCommandOptions): Promise<ReleaseListing> {
  const context = await loadReleaseSpec(options.specArg, options.cwd);
  const store = await openSpecStore(context, options.cwd, options.env);
  try {
    const { index } = await readReleaseIndex(store, context.spec.name);
    const manifests = await Promise.all(
      index.releases.map((r) =>
        readStoredManifest(store, r.manifest_key).then(
          (m) => ({ manifest: m, problem: null }),
          (error: unknown) => ({ manifest: undefined, problem: printableText(error instanceof Error ? error.message : String(error)) }),
        ),
      ),
    );
    const releases = index.releases
      .map((r, i): ListedRelease => {
        const { manifest: m, problem } = manifests[i]!;
        return {
          version: r.version,
          current: index.current?.version === r.version,
          published_at: r.published_at,
          published_by: r.published_by,
          build_date: m?.build_date ?? null,
          size_bytes: r.size_bytes,
          sha256: r.sha256,
          gate_status: r.gate_status,
          gpu_validated: r.gpu_validated,
          os: m?.os ?? null,
          kernel: m?.kernel ?? null,
          nvidia_driver: m?.nvidia_driver ?? null,
          cuda_version: m?.cuda_version ?? null,
          frameworks: m ? { ...m.frameworks } : null,
          version_override: m?.version_override ?? r.bump.override,
          problem,
        };
      })
      .reverse();
    // Only the fields this imagebuild knows: a newer one's additions stay in the store, not in this output.
    const pointer = ({ version, set_at, set_by, reason }: CurrentPointer): CurrentPointer => ({ version, set_at, set_by, reason });
    const current = index.current === null ? null : pointer(index.current);
    const history = index.history.map((h): CurrentChange => ({ ...pointer(h), previous: h.previous }));
    return { name: context.spec.name, store: store.location, current, releases, history };
  } finally {
    store.close();
  }
}

/** `imagebuild diff A B`: compares two releases' manifests, from the store when the spec names one, else from the output directory. */
export async function diffStoredReleases(options: ReleaseCommandOptions & { from: string; to: string }): Promise<ReleaseDiff> {
  const context = await loadReleaseSpec(options.specArg, options.cwd);
  if (context.spec.artifacts.store === undefined) {
    const read = async (ref: string) => {
      const version = ref === 'current' ? await readLocalCurrent(context.outputRoot) : ref;
      if (version === undefined) throw new ReleaseNotFoundError(`${currentLinkPath(context.outputRoot)}: no current release here; name versions instead`);
      const layout = releaseLayout(context.outputRoot, context.spec.name, version);
      const manifest = await readManifestFile(layout.manifest);
      if (!manifest) throw await localReleaseNotFound(context.outputRoot, version);
      return { manifest, packages: await localSbomPackages(layout.dir, manifest) };
    };
    const [a, b] = [await read(options.from), await read(options.to)];
    return diffReleases(a.manifest, b.manifest, { from: a.packages, to: b.packages });
  }
  const store = await openSpecStore(context, options.cwd, options.env);
  try {
    const { index } = await readReleaseIndex(store, context.spec.name);
    const read = async (ref: string) => {
      const key = resolveRelease(index, ref, store.location).manifest_key;
      const manifest = await readStoredManifest(store, key);
      return { manifest, packages: await storedSbomPackages(store, key, manifest) };
    };
    const [a, b] = await Promise.all([read(options.from), read(options.to)]);
    return diffReleases(a.manifest, b.manifest, { from: a.packages, to: b.packages });
  } finally {
    store.close();
  }
}
