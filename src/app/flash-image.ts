import { dirname, join, resolve } from 'node:path';
import { fileIdentity, prepareFileTarget, readSmallFile } from '../adapters/block-device/flash-files.js';
import { gatherTargetFacts } from '../adapters/block-device/target-facts.js';
import { compareTargetWithImage, flushTarget, measureImageData, writeImageToTarget, type TargetKind } from '../adapters/block-device/write-image.js';
import { pathExists } from '../adapters/fs/directories.js';
import { sha256File } from '../adapters/fs/sha256.js';
import { readImageInfo } from '../adapters/qemu-img/qemu-img.js';
import { writeFileAtomically } from '../adapters/workspace/atomic-write.js';
import { MANIFEST_FILE, releaseLayout, SUMS_FILE } from '../adapters/workspace/release-layout.js';
import { assembleFlashReport, flashReportFileName, type FlashCheck, type FlashReport } from '../core/flash/flash-report.js';
import { confirmationToken, confirmsTarget, describeTarget, FlashTargetRefusedError, judgeFlashTarget, type TargetFacts } from '../core/flash/flash-target.js';
import { parseStoredManifest, type ImageManifest } from '../core/manifest/image-manifest.js';
import type { ImageSpec } from '../core/spec/schema.js';
import { parseVersionArgument } from '../core/version/release-version.js';
import { ChecksumMismatchError, FileAccessError, FlashReadbackFailedError, firstLine, InterruptedError, ManifestInvalidError, ReleaseNotFoundError, ReleaseRefusedError, UsageError } from '../errors/index.js';
import { proveLocalRelease } from './release-proof.js';
import { describeVerdict, type SignatureVerdict } from './release-signing.js';
import { createProgressReporter, loadReleaseSpec, type ReleaseCommandOptions } from './release-store.js';
import { RELEASE_FILE_MAX_BYTES } from '../core/release/release-file-limits.js';

// `imagebuild flash`: a release's qcow2 onto the disk of the machine it is for. The steps, in order:
// find the source and prove its small files (signature over SHA256SUMS, SHA256SUMS against the
// manifest) → gather the target's facts and refuse an unsafe one → confirm (--yes or the serial typed
// back) → hash the image against the manifest → look at the target once more → write the data
// (qemu-img convert -n) → flush → read back and compare over the image's virtual size → hash the image
// again (the bytes written were the verified ones) → the JSON report. No byte reaches the target
// before the image's SHA-256 matched.

export type FlashOptions = ReleaseCommandOptions & {
  /** A version (output/<name>/vX.Y.Z/, else the download directory ./<name>-vX.Y.Z/), a release directory, or a qcow2 with its image-manifest.json beside it. */
  readonly source: string;
  readonly device: string;
  /** --to-file: the target is a plain file (created when missing), not a block device. */
  readonly toFile: boolean;
  /** --yes: no confirmation asked. */
  readonly yes: boolean;
  /** Asks for the confirmation token to be typed back; undefined when nobody can be asked (no terminal). */
  readonly confirm?: (question: { readonly target: string; readonly token: string; readonly tokenIs: 'serial' | 'name' }) => Promise<string>;
  readonly allowedSigners?: string;
  readonly allowUnsigned?: string;
  /** Where the JSON report goes; default ./flash-<serial>-<UTC time>.json in cwd. */
  readonly reportPath?: string;
  readonly onEvent?: (event: FlashEvent) => void;
  readonly signal?: AbortSignal;
  /** The clock, for the report's times (tests pin it). */
  readonly now?: () => Date;
};

/** What flash tells whoever watches: the source and target it found, notices, and progress of each long step. */
export type FlashEvent =
  | { readonly type: 'source'; readonly line: string }
  | { readonly type: 'target'; readonly line: string }
  | { readonly type: 'notice'; readonly message: string }
  | { readonly type: 'progress'; readonly action: FlashAction; readonly bytes: number; readonly total: number; readonly rate: number; readonly etaS: number | null; readonly done: boolean };

export type FlashAction = 'verify' | 'write' | 'compare' | 'recheck';

/** The finished flash: the report as written, and where. */
export type FlashResult = { readonly report: FlashReport; readonly reportPath: string };

/** A verified-so-far source: where its files are and what its manifest and signature said. */
type FlashSource = {
  readonly image: string;
  readonly manifestPath: string;
  readonly manifest: ImageManifest;
  readonly signature: SignatureVerdict;
  readonly sumsCheck: FlashCheck;
};

// A manifest is kilobytes, SHA256SUMS a few lines, a signature under a kilobyte.

/** Flashes the source onto the device after every check; throws (nothing written) on any refusal. */
export async function flashImage(options: FlashOptions): Promise<FlashResult> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const emit = (event: FlashEvent) => options.onEvent?.(event);
  const context = await loadReleaseSpec(options.specArg, options.cwd);
  const device = resolve(options.cwd, options.device);

  const source = await proveSourceFiles(options, context.spec, context.outputRoot);
  emit({ type: 'source', line: `${source.manifest.name} v${source.manifest.version}: ${source.image} (SHA-256 ${source.manifest.checksum_sha256}); ${describeVerdict(source.signature)}` });
  const info = await readImageInfo(source.image, { chain: false });
  if (info.format !== 'qcow2' || info.backingFile !== null) {
    throw new ReleaseRefusedError(`${source.image}: ${info.format !== 'qcow2' ? `a ${info.format} image` : `an overlay on ${info.backingFile}`}, not a standalone qcow2 as a release's image is; nothing was written`);
  }
  const image = await fileIdentity(source.image);
  const intent = { virtualSizeBytes: info.virtualSize, imageFileId: image.fileId, toFile: options.toFile };

  const facts = await gatherTargetFacts(device);
  emit({ type: 'target', line: describeTarget(facts) });
  const refusals = judgeFlashTarget(facts, intent);
  if (refusals.length > 0) throw new FlashTargetRefusedError(device, refusals);
  const token = confirmationToken(facts);
  await confirmTarget(options, facts, device, token);
  stopIfAsked(options, device, false);

  // The image is proved before any byte of it is written.
  const sourceSha256 = await hashImage(source.image, image.sizeBytes, 'verify', emit, options, device);
  if (image.sizeBytes !== source.manifest.size_bytes || sourceSha256 !== source.manifest.checksum_sha256) {
    throw new ChecksumMismatchError(
      `${source.image} does not match its manifest (${image.sizeBytes !== source.manifest.size_bytes ? `${image.sizeBytes} bytes, the manifest says ${source.manifest.size_bytes}` : `SHA-256 ${sourceSha256}, the manifest says ${source.manifest.checksum_sha256}`}); nothing was written to ${device} — download the release again`,
    );
  }
  // The hash took a while: the target is looked at again (an automounter, a new LVM scan) right before writing.
  const before = await gatherTargetFacts(device);
  const late = judgeFlashTarget(before, intent);
  if (late.length > 0) throw new FlashTargetRefusedError(device, late);
  if (confirmationToken(before) !== token) throw new FlashTargetRefusedError(device, [{ check: 'not-confirmed', message: `changed while the image was verified (it was ${token}, now ${confirmationToken(before)})` }]);
  stopIfAsked(options, device, false);

  const kind: TargetKind = before.kind === 'block' ? 'block' : 'file';
  const targetIsZero = before.kind === 'missing' ? (await prepareFileTarget(device, info.virtualSize, false)).zeroed : before.kind === 'file' ? (await prepareFileTarget(device, info.virtualSize, true)).zeroed : false;
  const data = await measureImageData(source.image);
  const writeStarted = Date.now();
  try {
    await writeImageToTarget(source.image, device, { kind, targetIsZero, signal: options.signal, onPercent: percentProgress('write', info.virtualSize, emit) });
    await flushTarget(device, kind);
  } catch (error) {
    if (options.signal?.aborted || error instanceof InterruptedError) throw stopped(device, true, error);
    throw new FileAccessError(`${device}: writing stopped part-way (${firstLine(error)}); the target is partly written and will not boot — fix the cause and run flash again`, { cause: error });
  }
  const writeS = (Date.now() - writeStarted) / 1000;
  const compareStarted = Date.now();
  const compared = await compareTargetWithImage(source.image, device, { kind, rangeBytes: info.virtualSize, signal: options.signal, onPercent: percentProgress('compare', info.virtualSize, emit) }).catch((error: unknown) => {
    if (options.signal?.aborted || error instanceof InterruptedError) throw stopped(device, true, error);
    throw error;
  });
  const compareS = (Date.now() - compareStarted) / 1000;
  // What was written came from the file as it was then; hashing it again proves that was the verified image.
  const afterSha256 = await hashImage(source.image, image.sizeBytes, 'recheck', emit, options, device);

  const finishedAt = now();
  const after = before.kind === 'missing' ? await gatherTargetFacts(device) : before;
  const checks: FlashCheck[] = [
    { check: 'source_sha256', status: 'pass', measured: sourceSha256, expected: `${source.manifest.checksum_sha256} (${MANIFEST_FILE})` },
    source.sumsCheck,
    signatureCheck(source.signature),
    compared.identical
      ? { check: 'readback_compare', status: 'pass', measured: 'identical', expected: `identical over the first ${info.virtualSize} bytes` }
      : { check: 'readback_compare', status: 'fail', measured: compared.detail, expected: `identical over the first ${info.virtualSize} bytes` },
    afterSha256 === sourceSha256
      ? { check: 'source_unchanged', status: 'pass', measured: afterSha256, expected: sourceSha256 }
      : { check: 'source_unchanged', status: 'fail', measured: afterSha256, expected: sourceSha256, reason: 'the image changed while it was written' },
  ];
  const report = assembleFlashReport({
    started_at: startedAt.toISOString(),
    finished_at: finishedAt.toISOString(),
    duration_s: round((finishedAt.getTime() - startedAt.getTime()) / 1000),
    source: { image: source.image, manifest: source.manifestPath, name: source.manifest.name, version: source.manifest.version, sha256: sourceSha256, virtual_size_bytes: info.virtualSize },
    signature: source.signature,
    device: deviceRecord(device, after),
    write: { bytes_written: data.dataBytes, bytes_zeroed: data.zeroBytes, target_was_zero: targetIsZero, duration_s: round(writeS) },
    compare: { result: compared.identical ? 'identical' : 'mismatch', range_bytes: info.virtualSize, mismatch_offset: compared.identical ? null : compared.offset, duration_s: round(compareS) },
    checks,
  });
  const reportPath = options.reportPath === undefined ? join(options.cwd, flashReportFileName(token, finishedAt)) : resolve(options.cwd, options.reportPath);
  await writeFileAtomically(reportPath, `${JSON.stringify(report, null, 2)}\n`);
  if (report.status === 'failed') throw new FlashReadbackFailedError(`${report.summary}; the target is not a good copy — do not boot it; report: ${reportPath}`);
  return { report, reportPath };
}

export { FlashReadbackFailedError } from '../errors/index.js';

/**
 * Finds the source and proves its small files before anything else: the manifest, SHA256SUMS (which
 * must give the image the manifest's SHA-256, and the manifest its own where it lists it) and the
 * signature over SHA256SUMS (checkReleaseSignature: allowed_signers, or --allow-unsigned REASON).
 */
async function proveSourceFiles(options: FlashOptions, spec: ImageSpec, outputRoot: string): Promise<FlashSource> {
  const located = await locateSource(options.source, options.cwd, spec.name, outputRoot);
  const manifestPath = join(located.dir, MANIFEST_FILE);
  const manifestBytes = await readSmallFile(manifestPath, RELEASE_FILE_MAX_BYTES.manifest);
  if (manifestBytes === undefined) throw new ReleaseNotFoundError(`${manifestPath}: missing; flash needs the image's manifest beside it (download the release with imagebuild download)`);
  let json: unknown;
  try {
    json = JSON.parse(manifestBytes.toString('utf8'));
  } catch (error) {
    throw new ManifestInvalidError(`${manifestPath}: not JSON (${firstLine(error)})`, { cause: error, located: true });
  }
  const manifest = parseStoredManifest(json, manifestPath);
  const image = located.image ?? join(located.dir, manifest.artifact);
  if (!pathExists(image)) throw new ReleaseNotFoundError(`${image}: missing; the manifest beside it names ${manifest.artifact}`);

  const proof = await proveLocalRelease(located.dir, manifest, manifestBytes, { signing: spec.artifacts.signing, allowedSigners: options.allowedSigners, allowUnsigned: options.allowUnsigned, cwd: options.cwd });
  const sumsCheck: FlashCheck =
    proof.sums === 'absent'
      ? { check: 'sha256sums', status: 'skipped', measured: null, expected: `${SUMS_FILE} listing ${manifest.artifact}`, reason: `no ${SUMS_FILE} beside the image` }
      : { check: 'sha256sums', status: 'pass', measured: `${manifest.artifact} listed as the manifest says`, expected: `${SUMS_FILE} agrees with ${MANIFEST_FILE}` };
  return { image, manifestPath, manifest, signature: proof.signature, sumsCheck };
}

/** The directory holding the source's files, and the image when it was named as a file. */
async function locateSource(source: string, cwd: string, name: string, outputRoot: string): Promise<{ dir: string; image?: string }> {
  const path = resolve(cwd, source);
  const version = parseVersionArgument(source);
  if (!pathExists(path) && version.ok) {
    const candidates = [releaseLayout(outputRoot, name, version.version).dir, resolve(cwd, `${name}-v${version.version}`)];
    const found = candidates.find((dir) => pathExists(join(dir, MANIFEST_FILE)));
    if (found === undefined) {
      throw new ReleaseNotFoundError(`v${version.version} of ${name} is neither built here (${candidates[0]}) nor downloaded here (${candidates[1]}); run imagebuild download v${version.version}, or name the image file`);
    }
    return { dir: found };
  }
  if (!pathExists(path)) throw new UsageError(`flash: ${source} is neither a version (vX.Y.Z) nor an existing image file or release directory`);
  if (pathExists(join(path, MANIFEST_FILE))) return { dir: path };
  return { dir: dirname(path), image: path };
}

async function confirmTarget(options: FlashOptions, facts: TargetFacts, device: string, token: string): Promise<void> {
  if (options.yes) return;
  if (options.confirm === undefined) {
    throw new UsageError(`flash: ${device}: confirm with --yes, or run flash on a terminal to type ${facts.kind === 'block' && facts.serial !== null ? 'the serial' : 'the name'} (${token}) back; nothing was written`);
  }
  const typed = await options.confirm({ target: describeTarget(facts), token, tokenIs: facts.kind === 'block' && facts.serial !== null ? 'serial' : 'name' });
  if (!confirmsTarget(typed, token)) {
    throw new FlashTargetRefusedError(device, [{ check: 'not-confirmed', message: `was not confirmed: ${JSON.stringify(typed.trim().slice(0, 80))} was typed, not ${token}` }]);
  }
}

async function hashImage(path: string, size: number, action: FlashAction, emit: (event: FlashEvent) => void, options: FlashOptions, device: string): Promise<string> {
  const reporter = createProgressReporter('hash', path, size, (p) => emit({ type: 'progress', action, bytes: p.bytes, total: p.total, rate: p.rate, etaS: p.etaS, done: p.done }));
  const sha256 = await sha256File(path, { onProgress: (bytes) => reporter.update(bytes) });
  reporter.finish(size);
  stopIfAsked(options, device, action === 'recheck');
  return sha256;
}

function percentProgress(action: FlashAction, total: number, emit: (event: FlashEvent) => void): (percent: number) => void {
  const reporter = createProgressReporter('hash', action, total, (p) => emit({ type: 'progress', action, bytes: p.bytes, total: p.total, rate: p.rate, etaS: p.etaS, done: p.done }));
  return (percent) => (percent >= 100 ? reporter.finish(total) : reporter.update(Math.floor((percent / 100) * total)));
}

function signatureCheck(verdict: SignatureVerdict): FlashCheck {
  return verdict.status === 'verified'
    ? { check: 'signature', status: 'pass', measured: `${verdict.principal} (${verdict.fingerprint})`, expected: `a signer ${verdict.allowed_signers} allows, namespace ${verdict.namespace}` }
    : { check: 'signature', status: 'skipped', measured: null, expected: 'a signature by an allowed signer', reason: `--allow-unsigned: ${verdict.reason}` };
}

function deviceRecord(path: string, facts: TargetFacts): FlashReport['device'] {
  if (facts.kind === 'block') {
    return { path, kind: 'block', name: facts.device.name, model: facts.model, vendor: facts.vendor, serial: facts.serial, size_bytes: facts.sizeBytes ?? 0 };
  }
  const size = facts.kind === 'file' ? facts.sizeBytes : 0;
  return { path, kind: 'file', name: confirmationToken(facts), model: null, vendor: null, serial: null, size_bytes: size };
}

function stopIfAsked(options: FlashOptions, device: string, written: boolean): void {
  if (options.signal?.aborted) throw stopped(device, written);
}

function stopped(device: string, written: boolean, cause?: unknown): InterruptedError {
  return new InterruptedError(
    written ? `flash interrupted: ${device} is partly written and will not boot; run the same command again` : `flash interrupted before writing: nothing was written to ${device}`,
    cause === undefined ? undefined : { cause },
  );
}

function round(seconds: number): number {
  return Math.round(seconds * 10) / 10;
}
