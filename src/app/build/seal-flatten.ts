import { join } from 'node:path';
import { keepFailedLayer } from '../../adapters/cache/layer-cache.js';
import { cloneFile, ensureDirectory, fileSize, fileSizeAndMtime, listDirectory, pathExists, recreateDirectory, removeEntriesStartingWith, removeTree } from '../../adapters/fs/directories.js';
import { flattenImage } from '../../adapters/qemu-img/qemu-img.js';
import { readManifestFile } from '../../adapters/workspace/manifest-file.js';
import { releaseLayout } from '../../adapters/workspace/release-layout.js';
import { ManifestInvalidError } from '../../errors/index.js';
import type { ArtifactVerification, ImageManifest } from '../../core/manifest/image-manifest.js';
import { versionOfReleaseDirName } from '../../core/version/release-version.js';
import { ImagebuildError } from '../../errors/index.js';
import type { BuildRun } from './build-run.js';
import { runPackerUnit, type UnitBase } from './packer-unit.js';

/** The finished image in the release's staging directory, with what is known of it. */
export type StagedArtifact = {
  readonly path: string;
  readonly sizeBytes: number;
  /** Known when the bytes came from an earlier release; hashed by the checksum step otherwise. */
  readonly sha256?: string;
  readonly verification?: ArtifactVerification;
};

/** The staging directory this run fills before one rename publishes the release. */
export function stagingDirOf(run: BuildRun): string {
  return run.release.staging(process.pid);
}

/**
 * Seals the top layer (Packer's seal unit: machine-id, host keys, build account, logs) and flattens
 * it into one standalone qcow2 in the release's staging directory. A failed seal is kept under
 * failed/ for debugging; a half-written artifact (a full disk, say) is removed for the re-run.
 */
export async function sealAndFlatten(run: BuildRun, base: UnitBase, onLine: (line: string) => void): Promise<StagedArtifact> {
  if (!base.parentImage) throw new ImagebuildError('NO_LAYERS', 'no layer was built or reused; nothing to seal');
  const { image } = await runPackerUnit(run, 'seal', base, onLine).catch(async (error: unknown) => {
    if (!run.signal.aborted) await keepFailedLayer(run.cache.root, { layer: 'seal', key: '0'.repeat(12), stamp: run.stamp, workDir: run.dir.outputOf('seal'), logFile: run.dir.log('seal'), reason: String(error) });
    throw error;
  });
  const staging = stagingDirOf(run);
  // Leftovers of interrupted or failed finalisations of this version (we hold the cache lock).
  await removeEntriesStartingWith(run.outputRoot, run.release.stagingPrefix);
  const path = join(staging, run.release.artifactName);
  try {
    await ensureDirectory(staging);
    const flat = await flattenImage(image, path, { compress: run.spec.output.compress, onProgress: (p) => onLine(`flatten ${p.toFixed(0)}%`) });
    return { path, sizeBytes: await fileSize(flat.path) };
  } catch (error) {
    await removeTree(staging).catch(() => undefined);
    throw error;
  } finally {
    await removeTree(run.dir.outputOf('seal')).catch(() => undefined);
  }
}

/** An earlier release whose sealed image has this seal key (so holds the same bytes) and whose artifact is still there. */
export type IdenticalRelease = { readonly version: string; readonly artifact: string; readonly manifest: ImageManifest };

/** A release of this image (any version) with the seal key `sealKey`, whose artifact is still there and did not fail verification. */
export async function findIdenticalRelease(outputRoot: string, imageName: string, sealKey: string): Promise<IdenticalRelease | undefined> {
  const versions = (await listDirectory(outputRoot)).flatMap((name) => versionOfReleaseDirName(name) ?? []);
  for (const version of versions.sort().reverse()) {
    const layout = releaseLayout(outputRoot, imageName, version);
    // An unreadable manifest (truncated, say) disqualifies its release from reuse, nothing more.
    const manifest = await readManifestFile(layout.manifest).catch((error: unknown) => {
      if (error instanceof ManifestInvalidError) return undefined;
      throw error;
    });
    if (manifest?.seal_key !== sealKey) continue;
    const artifact = join(layout.dir, manifest.artifact);
    if (pathExists(artifact) && manifest.verify?.status !== 'failed' && (await unchangedSinceBuilt(artifact, manifest))) return { version: manifest.version, artifact, manifest };
  }
  return undefined;
}

/**
 * Whether a release's image still looks as its build left it, without reading it: its size is the
 * manifest's and it was last written before the manifest (a VM booted on it, or an edit, writes later).
 * One that fails this is not copied as a new release's image with the old digest; the seal runs instead.
 */
async function unchangedSinceBuilt(artifact: string, manifest: ImageManifest): Promise<boolean> {
  const { size, mtimeMs } = await fileSizeAndMtime(artifact);
  // build_date is to the second, truncated: the image may have been written in the second it names.
  return size === manifest.size_bytes && mtimeMs < Date.parse(manifest.build_date) + 1000;
}

/** Puts the identical earlier release's image into this release's staging directory: no Packer run, no re-hash. */
export async function stageIdenticalRelease(run: BuildRun, reuse: IdenticalRelease): Promise<StagedArtifact> {
  const staging = stagingDirOf(run);
  await recreateDirectory(staging);
  const path = join(staging, run.release.artifactName);
  // A clone, never a hard link: one release's image changed in place (booted, edited) must not change another's.
  await cloneFile(reuse.artifact, path);
  return { path, sizeBytes: reuse.manifest.size_bytes, sha256: reuse.manifest.checksum_sha256, verification: reuse.manifest.verify };
}
