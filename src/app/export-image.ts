import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { createBlockMap, requireBmaptool } from '../adapters/bmap/bmaptool.js';
import { fileSize, listDirectory, makeReadOnly, moveIntoPlace, pathExists, removeTree } from '../adapters/fs/directories.js';
import { readTextFile } from '../adapters/fs/read-files.js';
import { acquireLock } from '../adapters/fs/lock.js';
import { sha256File } from '../adapters/fs/sha256.js';
import { convertImage, readImageInfo } from '../adapters/qemu-img/qemu-img.js';
import { writeFileAtomically } from '../adapters/workspace/atomic-write.js';
import { writeReleaseSums } from '../adapters/workspace/local-releases.js';
import { readManifestFile, writeManifestFile } from '../adapters/workspace/manifest-file.js';
import { blockMapFileName, exportFileName, releaseLayout, type ReleaseLayout } from '../adapters/workspace/release-layout.js';
import { compressXz, requireXz } from '../adapters/xz/compress-xz.js';
import { EXPORT_FORMATS, type ExportedImage, type ExportFormat, type ImageManifest, type ReleaseFile } from '../core/manifest/image-manifest.js';
import { restateProvenanceSubjects } from '../core/provenance/image-provenance.js';
import { ChecksumMismatchError, FileAccessError, InterruptedError, ReleaseNotFoundError, ReleaseRefusedError } from '../errors/index.js';
import { createProgressReporter, loadReleaseSpec, type ProgressReporter, type ReleaseCommandOptions } from './release-store.js';

// `imagebuild export`: the release's qcow2 in the formats bare-metal provisioners and other
// hypervisors take, beside it in output/<name>/vX.Y.Z/, each recorded in the manifest, SHA256SUMS
// and the provenance statement's subjects. Every file is made under a temporary dot name and renamed
// into place read-only, so a killed export leaves no half file under a final name.

export type ExportOptions = ReleaseCommandOptions & {
  /** Canonical version without the leading v. */
  readonly version: string;
  readonly formats: readonly ExportFormat[];
  /** Also write a block map (bmaptool) of each raw and raw.xz export. */
  readonly bmap: boolean;
  readonly onProgress?: (progress: ExportProgress) => void;
  readonly signal?: AbortSignal;
};

/** What an export step is doing to which file, with bytes, rate and ETA like a transfer. */
export type ExportProgress = {
  readonly action: 'verify' | 'convert' | 'compress' | 'hash' | 'map';
  readonly file: string;
  readonly bytes: number;
  readonly total: number;
  readonly rate: number;
  readonly etaS: number | null;
  readonly done: boolean;
};

/** One format of the release after the export: written now, or already there and verified. */
export type ExportedFileReport = {
  readonly format: ExportFormat;
  readonly path: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  /** written: made now; mapped: the image was there (verified), its block map made now; unchanged: both verified, nothing written. */
  readonly status: 'written' | 'mapped' | 'unchanged';
  readonly bmap?: { readonly path: string; readonly sha256: string };
};

export type ExportReport = {
  readonly name: string;
  readonly version: string;
  readonly dir: string;
  readonly exports: readonly ExportedFileReport[];
  readonly manifest: string;
  readonly sums: string;
  readonly durationS: number;
  readonly notices: readonly string[];
};

/** The formats that are a raw disk (raw.xz once decompressed): the ones a block map describes. */
const RAW_FORMATS: readonly ExportFormat[] = ['raw', 'raw.xz'];

/** What a format needs: nothing (verified as recorded), only its block map, or the whole file. */
type FormatWork = { readonly format: ExportFormat; readonly file: string; readonly bmap: boolean; readonly work: 'none' | 'bmap' | 'file'; readonly recorded: ExportedImage | undefined };

/**
 * Writes release `version` (output/<name>/vX.Y.Z/) in each of `formats` — raw (sparse), raw.xz, vmdk —
 * with a bmaptool block map for the raw ones when asked, and records each in the manifest (`exports`),
 * SHA256SUMS and the provenance statement's subjects. An export already recorded whose file still
 * matches its SHA-256 is left as it is (re-running is a no-op); one missing or changed is made again.
 * The qcow2 is checked against its manifest before anything is made from it. Memory stays constant.
 */
export async function exportRelease(options: ExportOptions): Promise<ExportReport> {
  const started = Date.now();
  const { spec, outputRoot } = await loadReleaseSpec(options.specArg, options.cwd);
  const release = releaseLayout(outputRoot, spec.name, options.version);
  const readRelease = async () => {
    const found = await readManifestFile(release.manifest, 'restore it or rebuild the release under a new version');
    if (!found) throw new ReleaseNotFoundError(`v${options.version} is not built: ${release.manifest} does not exist; run imagebuild build v${options.version} first`);
    if (found.version !== options.version || found.name !== spec.name) {
      throw new ReleaseRefusedError(`${release.manifest} describes ${found.name} v${found.version}, not ${spec.name} v${options.version}`);
    }
    return found;
  };
  const formats = EXPORT_FORMATS.filter((f) => options.formats.includes(f));
  const unlocked = await readRelease();
  // Missing tools are refused before anything is read or written.
  if (formats.includes('raw.xz')) await requireXz();
  const bmapWanted = options.bmap || formats.some((f) => unlocked.exports?.find((e) => e.format === f)?.bmap !== undefined);
  if (bmapWanted && formats.some((f) => RAW_FORMATS.includes(f))) await requireBmaptool();

  const lock = await acquireLock(join(release.dir, EXPORT_LOCK), `imagebuild export v${options.version}`);
  const temps = new TempFiles(release.dir);
  // Read again under the lock: an export that finished meanwhile recorded formats this one must keep.
  let manifest = unlocked;
  try {
    manifest = await readRelease();
    // Holding the lock, every temporary export file is a killed run's.
    await temps.removeLeftovers();
    const notices: string[] = [];
    const plans: FormatWork[] = [];
    for (const format of formats) plans.push(await judgeFormat(release, manifest, format, options, notices));

    const made = new Map<ExportFormat, ExportedImage>();
    if (plans.some((p) => p.work !== 'none')) {
      // The statement that will name the exports is proved before anything is made.
      const provenance = manifest.provenance === undefined ? undefined : await provenanceText(join(release.dir, manifest.provenance.file), manifest);
      const rawSource = await makeExports(release, manifest, plans, temps, options, made);
      await rawSource.discard();
      const recorded = [...(manifest.exports ?? []).filter((e) => !made.has(e.format)), ...made.values()];
      const exports = EXPORT_FORMATS.flatMap((f) => recorded.filter((e) => e.format === f));
      await recordExports(release, manifest, exports, provenance);
    } else {
      // An export killed between the manifest and SHA256SUMS left the sums behind: bring them level.
      await writeReleaseSums(release, manifest);
    }

    const current = (format: ExportFormat) => made.get(format) ?? manifest.exports!.find((e) => e.format === format)!;
    return {
      name: manifest.name,
      version: manifest.version,
      dir: release.dir,
      exports: plans.map((p) => {
        const entry = current(p.format);
        const status = p.work === 'file' ? 'written' : p.work === 'bmap' ? 'mapped' : 'unchanged';
        return {
          format: p.format,
          path: join(release.dir, entry.file),
          sha256: entry.sha256,
          sizeBytes: entry.size_bytes,
          status,
          ...(entry.bmap === undefined ? {} : { bmap: { path: join(release.dir, entry.bmap.file), sha256: entry.bmap.sha256 } }),
        };
      }),
      manifest: release.manifest,
      sums: release.sums,
      durationS: (Date.now() - started) / 1000,
      notices,
    };
  } catch (error) {
    // Ctrl-C reaches qemu-img and xz too: their deaths are the interruption, not failures of their own.
    if (options.signal?.aborted && !(error instanceof InterruptedError)) throw interrupted(manifest.version, error);
    throw error;
  } finally {
    await temps.removeAll();
    await lock.release();
  }
}

function interrupted(version: string, cause?: unknown): InterruptedError {
  return new InterruptedError(`export of v${version} interrupted; nothing half-written is left under a final name — run the same command again`, { cause });
}

// A dot name in the release directory: one export of a release at a time.
const EXPORT_LOCK = '.export.lock';
// Every temporary file an export makes starts so (and qemu-img's `.partial` beside it).
const TEMP_PREFIX = '.export-';

/** The temporary files of this export in the release directory: removed on the way out, whatever happened. */
class TempFiles {
  private readonly paths = new Set<string>();

  constructor(private readonly dir: string) {}

  /** A fresh temporary path for `file`. */
  path(file: string): string {
    const path = join(this.dir, `${TEMP_PREFIX}${process.pid}-${file}`);
    this.paths.add(path);
    this.paths.add(`${path}.partial`);
    return path;
  }

  async removeLeftovers(): Promise<void> {
    for (const name of await listDirectory(this.dir)) {
      if (name.startsWith(TEMP_PREFIX)) await removeTree(join(this.dir, name));
    }
  }

  async removeAll(): Promise<void> {
    for (const path of this.paths) await removeTree(path);
  }
}

/** Decides what `format` needs: a recorded export whose file (and block map) still match is left alone. */
async function judgeFormat(release: ReleaseLayout, manifest: ImageManifest, format: ExportFormat, options: ExportOptions, notices: string[]): Promise<FormatWork> {
  const recorded = manifest.exports?.find((e) => e.format === format);
  const file = recorded?.file ?? exportFileName(manifest.artifact, format);
  // A block map once made stays: a later export without --bmap does not drop it.
  const bmap = RAW_FORMATS.includes(format) && (options.bmap || recorded?.bmap !== undefined);
  const plan = (work: FormatWork['work']): FormatWork => ({ format, file, bmap, work, recorded });
  if (recorded === undefined) {
    if (pathExists(join(release.dir, file))) notices.push(`${join(release.dir, file)} was there but not recorded in the manifest (an export stopped before it finished); made again`);
    return plan('file');
  }
  const problem = await checkRecordedFile(release, recorded, 'verify', options.onProgress);
  if (problem !== undefined) {
    notices.push(`${join(release.dir, recorded.file)} ${problem}; made again`);
    return plan('file');
  }
  if (!bmap) return plan('none');
  const bmapProblem = recorded.bmap === undefined ? 'missing' : await checkRecordedFile(release, recorded.bmap, 'verify');
  if (bmapProblem !== undefined && recorded.bmap !== undefined) notices.push(`${join(release.dir, recorded.bmap.file)} ${bmapProblem}; made again`);
  return plan(bmapProblem === undefined ? 'none' : 'bmap');
}

/** Why a recorded file no longer is what the manifest says (missing, another size, another SHA-256), or undefined when it is. */
async function checkRecordedFile(
  release: ReleaseLayout,
  recorded: ReleaseFile & { readonly size_bytes?: number },
  action: ExportProgress['action'],
  onProgress?: (progress: ExportProgress) => void,
): Promise<string | undefined> {
  const path = join(release.dir, recorded.file);
  const size = await fileSize(path).catch(() => undefined);
  if (size === undefined) return 'is missing';
  if (recorded.size_bytes !== undefined && size !== recorded.size_bytes) return `is ${size} bytes, the manifest says ${recorded.size_bytes}`;
  const sha256 = await hashWithProgress(path, size, action, recorded.file, onProgress);
  return sha256 === recorded.sha256 ? undefined : `no longer matches the manifest (SHA-256 ${sha256}, the manifest says ${recorded.sha256})`;
}

/** The raw disk the raw-based formats are made from: an export's final raw file, or a temporary one that goes when done. */
type RawSource = { readonly path: string; readonly bytes: number; discard(): Promise<void> };

/** Makes what `plans` need, each under a temporary name renamed into place read-only; records what it made in `made`. */
async function makeExports(release: ReleaseLayout, manifest: ImageManifest, plans: readonly FormatWork[], temps: TempFiles, options: ExportOptions, made: Map<ExportFormat, ExportedImage>): Promise<RawSource> {
  const artifact = join(release.dir, manifest.artifact);
  const progress = (action: ExportProgress['action'], file: string, total: number) => stepReporter(action, file, total, options.onProgress);
  const stopIfAsked = () => {
    if (options.signal?.aborted) throw interrupted(manifest.version);
  };
  let verified = false;
  // Nothing is made from a qcow2 that is not the one the manifest describes.
  const verifyArtifact = async () => {
    if (verified) return;
    const size = await fileSize(artifact).catch(() => undefined);
    if (size !== manifest.size_bytes) {
      throw new FileAccessError(`${artifact}: ${size === undefined ? 'missing' : `${size} bytes, but the manifest says ${manifest.size_bytes}`}; the release directory is damaged — rebuild it under a new version`);
    }
    const sha256 = await hashWithProgress(artifact, size, 'verify', manifest.artifact, options.onProgress);
    if (sha256 !== manifest.checksum_sha256) {
      throw new ChecksumMismatchError(`${artifact} no longer matches its manifest (SHA-256 ${sha256}, the manifest says ${manifest.checksum_sha256}); nothing was exported — rebuild it under a new version`);
    }
    verified = true;
    stopIfAsked();
  };
  const virtualSize = async () => (await readImageInfo(artifact, { chain: false })).virtualSize;
  const convert = async (format: 'raw' | 'vmdk', dest: string, label: string) => {
    await verifyArtifact();
    const total = await virtualSize();
    const reporter = progress('convert', label, total);
    await convertImage(artifact, dest, { format, onProgress: (percent) => reporter.update(Math.round((percent / 100) * total)) });
    reporter.finish(total);
    stopIfAsked();
  };
  const finish = async (temp: string, file: string) => {
    await makeReadOnly(temp);
    await moveIntoPlace(temp, join(release.dir, file));
  };
  const blockMap = async (raw: string, file: string): Promise<ReleaseFile> => {
    const bmapFile = blockMapFileName(file);
    const temp = temps.path(bmapFile);
    const reporter = progress('map', bmapFile, 1);
    reporter.update(0);
    await createBlockMap(raw, temp);
    reporter.finish(1);
    const sha256 = await sha256File(temp);
    await finish(temp, bmapFile);
    return { file: bmapFile, sha256 };
  };

  // The raw disk: the raw export as recorded (verified by judgeFormat), else made once for all raw-based work.
  const rawPlan = plans.find((p) => p.format === 'raw');
  let raw: RawSource | undefined = rawPlan?.work === 'none' || rawPlan?.work === 'bmap' ? { path: join(release.dir, rawPlan.file), bytes: rawPlan.recorded!.size_bytes, discard: async () => {} } : undefined;
  const rawDisk = async (): Promise<RawSource> => {
    if (raw) return raw;
    const temp = temps.path(exportFileName(manifest.artifact, 'raw'));
    await convert('raw', temp, exportFileName(manifest.artifact, 'raw'));
    raw = { path: temp, bytes: await fileSize(temp), discard: () => removeTree(temp) };
    return raw;
  };

  for (const plan of plans) {
    if (plan.work === 'none') continue;
    const entry = (sha256: string, sizeBytes: number, bmap: ReleaseFile | undefined): ExportedImage => ({ format: plan.format, file: plan.file, sha256, size_bytes: sizeBytes, ...(bmap === undefined ? {} : { bmap }) });
    if (plan.work === 'bmap') {
      const source = await rawDisk();
      made.set(plan.format, entry(plan.recorded!.sha256, plan.recorded!.size_bytes, await blockMap(source.path, plan.file)));
      continue;
    }
    if (plan.format === 'raw') {
      const source = await rawDisk();
      const sha256 = await hashWithProgress(source.path, source.bytes, 'hash', plan.file, options.onProgress);
      stopIfAsked();
      const bmap = plan.bmap ? await blockMap(source.path, plan.file) : undefined;
      await finish(source.path, plan.file);
      // From here on the raw export is the raw disk of the other formats.
      raw = { path: join(release.dir, plan.file), bytes: source.bytes, discard: async () => {} };
      made.set('raw', entry(sha256, source.bytes, bmap));
    } else if (plan.format === 'raw.xz') {
      const source = await rawDisk();
      const temp = temps.path(plan.file);
      const reporter = progress('compress', plan.file, source.bytes);
      const compressed = await compressXz(source.path, temp, { onBytes: (bytes) => reporter.update(bytes), signal: options.signal });
      reporter.finish(source.bytes);
      stopIfAsked();
      // The block map of a raw.xz is the raw disk's: bmaptool copy maps the decompressed bytes.
      const bmap = plan.bmap ? await blockMap(source.path, plan.file) : undefined;
      await finish(temp, plan.file);
      made.set('raw.xz', entry(compressed.sha256, compressed.bytes, bmap));
    } else {
      const temp = temps.path(plan.file);
      await convert('vmdk', temp, plan.file);
      const size = await fileSize(temp);
      const sha256 = await hashWithProgress(temp, size, 'hash', plan.file, options.onProgress);
      await finish(temp, plan.file);
      made.set('vmdk', entry(sha256, size, undefined));
    }
    stopIfAsked();
  }
  return raw ?? { path: '', bytes: 0, discard: async () => {} };
}

/**
 * Records `exports` in the release: the provenance statement's subjects first (`provenance`: its text as
 * provenanceText proved it), then the manifest (which
 * names the statement's new SHA-256), then SHA256SUMS — each written atomically. A run killed between
 * the statement and the manifest is recognised by the next (see provenanceText).
 */
async function recordExports(release: ReleaseLayout, manifest: ImageManifest, exports: readonly ExportedImage[], provenance: string | undefined): Promise<void> {
  let updated: ImageManifest = { ...manifest, exports: [...exports] };
  if (manifest.provenance !== undefined && provenance !== undefined) {
    const path = join(release.dir, manifest.provenance.file);
    const restated = restateProvenanceSubjects(provenance, updated, path);
    await writeFileAtomically(path, restated);
    updated = { ...updated, provenance: { file: manifest.provenance.file, sha256: sha256Text(restated) } };
  }
  await writeManifestFile(release.manifest, updated);
  await writeReleaseSums(release, updated);
}

/**
 * The release's provenance statement, proved against the manifest: its SHA-256 is the manifest's, or it
 * is what an export killed before its manifest write left (the statement restated for the exports the
 * manifest records then has the manifest's SHA-256). Anything else was changed by hand: refused.
 */
async function provenanceText(path: string, manifest: ImageManifest): Promise<string> {
  const recorded = manifest.provenance!.sha256;
  const text = await readTextFile(path, 'provenance statement the manifest names');
  if (sha256Text(text) === recorded) return text;
  let asRecorded: string | undefined;
  try {
    asRecorded = restateProvenanceSubjects(text, manifest, path);
  } catch {
    asRecorded = undefined;
  }
  if (asRecorded !== undefined && sha256Text(asRecorded) === recorded) return asRecorded;
  throw new ChecksumMismatchError(`${path} no longer matches its manifest (SHA-256 ${sha256Text(text)}, the manifest says ${recorded}): it changed after the build; nothing was recorded — rebuild the release under a new version`);
}

/** Progress events of one step, with rate and ETA as for a transfer (createProgressReporter's, at most every 250 ms and always the last). */
function stepReporter(action: ExportProgress['action'], file: string, total: number, onProgress: ((progress: ExportProgress) => void) | undefined): ProgressReporter {
  return createProgressReporter('hash', file, total, onProgress && ((p) => onProgress({ action, file, bytes: p.bytes, total: p.total, rate: p.rate, etaS: p.etaS, done: p.done })));
}

/** Streams a file through SHA-256, reporting it as `action` on `file`. */
async function hashWithProgress(path: string, total: number, action: ExportProgress['action'], file: string, onProgress?: (progress: ExportProgress) => void): Promise<string> {
  const reporter = stepReporter(action, file, total, onProgress);
  const sha256 = await sha256File(path, { onProgress: (bytes) => reporter.update(bytes) });
  reporter.finish(total);
  return sha256;
}

function sha256Text(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

