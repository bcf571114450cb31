import { join, resolve } from 'node:path';
import { exportedFilesOf, type ImageManifest } from '../../core/manifest/image-manifest.js';
import { releaseDirName } from '../../core/version/release-version.js';

/** The manifest beside every release's image. */
export const MANIFEST_FILE = 'image-manifest.json';
/** `sha256sum -c` input beside every release's image. */
export const SUMS_FILE = 'SHA256SUMS';
/** The CycloneDX SBOM beside a release's manifest. */
export const SBOM_FILE = 'sbom.cdx.json';
/** The in-toto/SLSA provenance statement beside a release's manifest. */
export const PROVENANCE_FILE = 'provenance.intoto.json';
/** What the seal role's inventory.py listed in the sealed image, under the unit's (and the release's) reports/seal/. */
export const INVENTORY_FILE = 'inventory.json';
/** The link in output/<name>/ to the version customers get. */
export const CURRENT_LINK = 'current';

/** The content of a SHA256SUMS file for one image, as `sha256sum -c` reads it. */
export function sumsFileText(sha256: string, artifactName: string): string {
  return `${sha256}  ${artifactName}\n`;
}

/** One file of a release and its SHA-256, as SHA256SUMS lists it. */
export type ReleaseFileSum = { readonly name: string; readonly sha256: string };

/** What releaseFilesOf reads of a manifest. */
type SummedManifest = Pick<ImageManifest, 'artifact' | 'checksum_sha256' | 'sbom' | 'provenance' | 'exports'>;

/**
 * The files a release's SHA256SUMS covers, from its manifest: the image, then the SBOM and the provenance
 * statement when the manifest names them, then each exported image and its block map (`imagebuild export`).
 */
export function releaseFilesOf(manifest: SummedManifest): ReleaseFileSum[] {
  return [
    { name: manifest.artifact, sha256: manifest.checksum_sha256 },
    ...[manifest.sbom, manifest.provenance, ...exportedFilesOf(manifest)].flatMap((f) => (f === undefined ? [] : [{ name: f.file, sha256: f.sha256 }])),
  ];
}

/** A release's SHA256SUMS, as `sha256sum -c` reads it: one line per file of releaseFilesOf. */
export function releaseSumsText(manifest: SummedManifest): string {
  return releaseFilesOf(manifest)
    .map((f) => sumsFileText(f.sha256, f.name))
    .join('');
}

/** output/<name>/current: the link to the version customers get. */
export function currentLinkPath(outputRoot: string): string {
  return join(outputRoot, CURRENT_LINK);
}

/** `<name>-v<version>.qcow2`: the file name of a release's image. */
export function artifactFileName(name: string, version: string): string {
  return `${name}-v${version}.qcow2`;
}

/** `<name>-v<version>.<format>` (raw, raw.xz, vmdk): the file `imagebuild export` writes the release's image to, beside the qcow2. */
export function exportFileName(artifactName: string, format: string): string {
  return `${artifactName.replace(/\.qcow2$/, '')}.${format}`;
}

/** `<export file>.bmap`: an exported raw image's block map, where `bmaptool copy` looks for it first. */
export function blockMapFileName(exportFile: string): string {
  return `${exportFile}.bmap`;
}

/** `output/<name>/` of a spec, absolute: the releases built here live below it. */
export function outputRootOf(cwd: string, spec: { readonly name: string; readonly output: { readonly dir: string } }): string {
  return resolve(cwd, spec.output.dir, spec.name);
}

/** Where one release lives in output/<name>/: `v<version>/` with its image, manifest, SBOM, provenance, sums, logs and reports. */
export type ReleaseLayout = {
  readonly dir: string;
  readonly manifest: string;
  readonly sums: string;
  readonly logs: string;
  readonly reports: string;
  readonly sbom: string;
  readonly provenance: string;
  /** The seal's inventory kept with the release (reports/seal/inventory.json): an identical later release's SBOM is made from it. */
  readonly inventory: string;
  readonly artifactName: string;
  readonly artifact: string;
  /** The directory a build fills before one rename publishes it (pid-named: one owner). */
  staging(pid: number): string;
  /** What every staging directory of this version starts with, for removing leftovers of killed runs. */
  readonly stagingPrefix: string;
  /** A dot-named sibling a release is renamed to before it is deleted (pid-named: one owner). */
  retired(pid: number): string;
};

/** The layout of release `version` of image `name` under `outputRoot` (output/<name>/). */
export function releaseLayout(outputRoot: string, name: string, version: string): ReleaseLayout {
  const dirName = releaseDirName(version);
  const dir = join(outputRoot, dirName);
  const artifactName = artifactFileName(name, version);
  return {
    dir,
    manifest: join(dir, MANIFEST_FILE),
    sums: join(dir, SUMS_FILE),
    logs: join(dir, 'logs'),
    reports: join(dir, 'reports'),
    sbom: join(dir, SBOM_FILE),
    provenance: join(dir, PROVENANCE_FILE),
    inventory: join(dir, 'reports', 'seal', INVENTORY_FILE),
    artifactName,
    artifact: join(dir, artifactName),
    staging: (pid) => `${dir}.partial-${pid}`,
    stagingPrefix: `${dirName}.partial-`,
    retired: (pid) => join(outputRoot, `.prune-${dirName}-${pid}`),
  };
}
