import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import semver from 'semver';
import { serializeManifest, type ImageManifest } from '../../core/manifest/image-manifest.js';
import { sumsWithManifest } from '../../core/release/release-sums.js';
import { releaseDirName, versionOfReleaseDirName } from '../../core/version/release-version.js';
import { describeFsError } from '../fs/describe-fs-error.js';
import { FileAccessError } from '../../errors/index.js';
import { writeFileAtomically } from './atomic-write.js';
import { settleManifestFile } from './manifest-file.js';
import { currentLinkPath, MANIFEST_FILE, releaseSumsText, type ReleaseLayout } from './release-layout.js';

// The releases built here, in output/<name>/: `v<version>/` directories and the `current` link.

/** A release directory in output/<name>/: `v<version>` with its manifest. */
export type LocalRelease = { readonly version: string; readonly dir: string };

/** Release directories under output/<name>/ (not staging `.partial-` ones), oldest first. */
export async function listLocalReleases(outputRoot: string): Promise<LocalRelease[]> {
  let names: string[];
  try {
    names = await readdir(outputRoot);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names
    .flatMap((n) => {
      const version = versionOfReleaseDirName(n);
      return version !== undefined && existsSync(join(outputRoot, n, MANIFEST_FILE)) ? [{ version, dir: join(outputRoot, n) }] : [];
    })
    .sort((a, b) => semver.compare(a.version, b.version));
}

/** The version output/<name>/current points at, if the link exists. */
export async function readLocalCurrent(outputRoot: string): Promise<string | undefined> {
  try {
    const target = await readlink(currentLinkPath(outputRoot));
    return versionOfReleaseDirName(target);
  } catch {
    return undefined;
  }
}

/** Points output/<name>/current at v<version> (a relative symlink, replaced atomically by rename). */
export async function setLocalCurrent(outputRoot: string, version: string): Promise<string> {
  const link = currentLinkPath(outputRoot);
  const temp = join(outputRoot, `.current.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await symlink(releaseDirName(version), temp);
  try {
    await rename(temp, link);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return link;
}

/** Deletes a release directory: renamed away first, so a crash mid-delete leaves a dot directory nothing reads, never half a release. */
export async function removeLocalRelease(release: ReleaseLayout): Promise<void> {
  const doomed = release.retired(process.pid);
  await rename(release.dir, doomed);
  await rm(doomed, { recursive: true, force: true });
}


/**
 * Rewrites a release's SHA256SUMS (atomically) from its manifest: the image, SBOM, provenance and every
 * exported file, then the manifest itself (as serializeManifest writes it), so one signature over the
 * file covers every byte of the release. Left as it is when that is what it holds already.
 */
export async function writeReleaseSums(release: ReleaseLayout, manifest: ImageManifest): Promise<{ path: string; text: string }> {
  let existing: string | undefined;
  try {
    existing = await readFile(release.sums, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new FileAccessError(`${release.sums}: cannot read it: ${describeFsError(error)}`, { cause: error });
  }
  const text = sumsWithManifest(releaseSumsText(manifest), MANIFEST_FILE, serializeManifest(manifest));
  if (text !== existing) await writeFileAtomically(release.sums, text);
  return { path: release.sums, text };
}

/**
 * The local release's manifest and SHA256SUMS as they are published: the manifest serialized (with an
 * override a publish records), SHA256SUMS listing the image, SBOM, provenance, exports and the
 * manifest; each rewritten (atomically) only when it differs.
 */
export async function settleReleaseFiles(release: ReleaseLayout, manifest: ImageManifest): Promise<{ manifestText: string; sumsText: string }> {
  const manifestText = await settleManifestFile(release.manifest, manifest);
  const { text: sumsText } = await writeReleaseSums(release, manifest);
  return { manifestText, sumsText };
}
