import { join } from 'node:path';
import { readTextFile } from '../adapters/fs/read-files.js';
import type { ArtifactStore } from '../adapters/store/types.js';
import { sha256Hex } from '../core/digest.js';
import type { ImageManifest } from '../core/manifest/image-manifest.js';
import type { ReleasePackages } from '../core/release/diff-releases.js';
import { readSbomPackages } from '../core/sbom/sbom-packages.js';
import { firstLine } from '../errors/index.js';
import { readStoredBytes } from './release-store.js';
import { RELEASE_FILE_MAX_BYTES } from '../core/release/release-file-limits.js';

// A release's SBOM packages, for diff and for publish's bump check: the SBOM its manifest names, proved
// by the SHA-256 the manifest records before a package of it is believed.

/** A built release's SBOM packages, from output/<name>/vX.Y.Z/. */
export async function localSbomPackages(dir: string, manifest: ImageManifest): Promise<ReleasePackages> {
  if (manifest.sbom === undefined) return { problem: 'built before releases carried an SBOM' };
  const path = join(dir, manifest.sbom.file);
  let text: string;
  try {
    text = await readTextFile(path, 'SBOM');
  } catch (error) {
    return { problem: firstLine(error) };
  }
  return provedPackages(Buffer.from(text), manifest.sbom.sha256, path);
}

/** A published release's SBOM packages: the file its manifest names, stored beside the manifest by publish. */
export async function storedSbomPackages(store: ArtifactStore, manifestKey: string, manifest: ImageManifest): Promise<ReleasePackages> {
  if (manifest.sbom === undefined) return { problem: 'built before releases carried an SBOM' };
  const key = `${manifestKey.slice(0, manifestKey.lastIndexOf('/') + 1)}${manifest.sbom.file}`;
  let bytes: Buffer | undefined;
  try {
    bytes = await readStoredBytes(store, key, RELEASE_FILE_MAX_BYTES.document);
  } catch (error) {
    return { problem: firstLine(error) };
  }
  if (bytes === undefined) return { problem: `${store.describe(key)} is not in the store (published without its SBOM)` };
  return provedPackages(bytes, manifest.sbom.sha256, store.describe(key));
}

function provedPackages(bytes: Buffer, sha256: string, where: string): ReleasePackages {
  if (sha256Hex(bytes) !== sha256) return { problem: `${where} does not match the SHA-256 its manifest records` };
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { problem: `${where}: not JSON (truncated or damaged)` };
  }
  const read = readSbomPackages(json);
  return 'problem' in read ? { problem: `${where}: ${read.problem}` } : read;
}
