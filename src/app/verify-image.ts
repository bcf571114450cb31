import { dirname, join, resolve } from 'node:path';
import { ensureDirectory, makeTempDirectory, pathExists, removeTree, writeTextFile } from '../adapters/fs/directories.js';
import { findPackageRoot } from '../adapters/fs/project-root.js';
import { sha256File } from '../adapters/fs/sha256.js';
import { bootVm } from '../adapters/qemu/boot-vm.js';
import { FIRMWARE_NAMES } from '../adapters/qemu/firmware.js';
import { createOverlay, readImageInfo } from '../adapters/qemu-img/qemu-img.js';
import { connectSsh, waitForSsh } from '../adapters/ssh/ssh-session.js';
import { evaluateGate, type GateVerdict } from '../core/gate/evaluate-gate.js';
import { parseGuestGateReport } from '../core/gate/gate-report.js';
import type { ArtifactVerification } from '../core/manifest/image-manifest.js';
import { chooseAccelerator } from '../core/preflight/check-preflight.js';
import { cacheLayout } from '../adapters/workspace/cache-layout.js';
import { MANIFEST_FILE } from '../adapters/workspace/release-layout.js';
import { readManifestFile } from '../adapters/workspace/manifest-file.js';
import { checkParams } from '../core/render/render-image.js';
import { verifyLoginUser, type Firmware, type ImageSpec } from '../core/spec/schema.js';
import { FileAccessError, firstLine, ReleaseUnsignedError } from '../errors/index.js';
import { readSmallFile } from '../adapters/block-device/flash-files.js';
import { proveLocalRelease } from './release-proof.js';
import type { SignatureVerdict } from './release-signing.js';
import { loadSpec } from './load-spec.js';
import { RELEASE_FILE_MAX_BYTES } from '../core/release/release-file-limits.js';

export type VerifyInput = {
  readonly artifact: string;
  readonly spec: ImageSpec;
  readonly accelerator: 'kvm' | 'tcg';
  readonly workDir: string;
  readonly projectDir: string;
  /** The artifact's recorded SHA-256: re-checked after the boot, which must not have changed it. */
  readonly expectedSha256?: string;
  /** The build account's private key: the sealed image must refuse it. */
  readonly buildKey?: string;
  /** A spec user and their private key, to run the in-guest gate checks. */
  readonly login?: { readonly user: string; readonly privateKey: string };
  /** The firmware to boot under; the spec's os.firmware when absent. */
  readonly firmware?: readonly Firmware[];
  readonly onLine?: (line: string) => void;
};

/** Checks run on the booted artifact: the base gate (boots, SSH, partitioning, boot loaders, grow) and the validation layer's gate. */
const VERIFY_LAYERS = ['base', 'validation'] as const;

/** How much bigger than the image each verification boot's disk is: the first-boot grow must fill it, as on a workstation's disk. */
export const VERIFY_DISK_GROWTH_BYTES = 1024 ** 3;

type GateSummary = ArtifactVerification['gate'];
type BootRecord = NonNullable<ArtifactVerification['boots']>[number];

/** What one boot under one firmware found. */
type BootCheck = {
  readonly record: BootRecord;
  readonly hostKey: string | null;
  readonly buildAccountRefused: boolean;
  readonly gate: GateSummary;
  readonly problems: readonly string[];
};

const NO_LOGIN_GATE: GateSummary = {
  status: 'skipped',
  summary: 'no spec user key given (--verify-user/--verify-key, or a users[].verify_login user): in-guest checks not run',
  checks: [],
};

/** The firmware the guest says it booted under: the base gate's boot_loaders check reads /sys/firmware/efi. */
function guestFirmwareOf(report: ReturnType<typeof parseGuestGateReport>): Firmware | null {
  const detail = report.checks.find((c) => c.check === 'boot_loaders')?.detail;
  const booted = detail?.['booted_firmware'];
  return booted === 'bios' || booted === 'uefi' ? booted : null;
}

/** Runs the VERIFY_LAYERS gates inside the booted guest as the spec user; the guest's own firmware report comes back too. */
async function runGuestGates(input: VerifyInput, sshPort: number, workDir: string, log: (line: string) => void): Promise<{ gate: GateSummary; guestFirmware: Firmware | null; problems: string[] }> {
  const login = input.login!;
  const attempt = await connectSsh({ host: '127.0.0.1', port: sshPort, username: login.user, privateKey: login.privateKey });
  if (!attempt.ok) return { gate: { status: 'failed', summary: `login as ${login.user} failed`, checks: [] }, guestFirmware: null, problems: [`spec user ${login.user} could not log in: ${attempt.reason}`] };
  const verdicts: GateVerdict[] = [];
  let guestFirmware: Firmware | null = null;
  try {
    await attempt.session.exec('rm -rf /tmp/imagebuild-verify && mkdir -p /tmp/imagebuild-verify');
    // run_checks.py imports guest_files.py from its own folder.
    for (const program of ['run_checks.py', 'guest_files.py']) await attempt.session.upload(join(input.projectDir, 'guest', program), `/tmp/imagebuild-verify/${program}`);
    for (const layer of VERIFY_LAYERS) {
      const paramsFile = join(workDir, `${layer}-checks.json`);
      await writeTextFile(paramsFile, JSON.stringify(checkParams(input.spec, layer)));
      await attempt.session.upload(paramsFile, `/tmp/imagebuild-verify/${layer}.json`);
      log(`running the ${layer} gate checks as ${login.user}`);
      const run = await attempt.session.exec(
        `sudo -n python3 /tmp/imagebuild-verify/run_checks.py --params /tmp/imagebuild-verify/${layer}.json --out /tmp/imagebuild-verify/${layer}-gate.json && cat /tmp/imagebuild-verify/${layer}-gate.json`,
      );
      if (run.code !== 0) throw new Error(`run_checks.py for ${layer} exited ${run.code}: ${firstLine(run.stderr)}`);
      const report = parseGuestGateReport(JSON.parse(run.stdout), `${layer} gate of the verify boot`);
      if (layer === 'base') guestFirmware = guestFirmwareOf(report);
      verdicts.push(evaluateGate({ layer, spec: input.spec, report, imageChecksOnly: true }));
    }
    await attempt.session.exec('rm -rf /tmp/imagebuild-verify');
    const failed = verdicts.filter((v) => v.status === 'failed');
    return {
      gate: { status: failed.length > 0 ? 'failed' : 'passed', summary: verdicts.map((v) => v.summary).join('; '), checks: verdicts.flatMap((v) => v.checks) },
      guestFirmware,
      problems: failed.map((v) => v.summary),
    };
  } catch (error) {
    return { gate: { status: 'failed', summary: 'in-guest checks could not run', checks: [] }, guestFirmware, problems: [`in-guest checks could not run: ${error instanceof Error ? error.message : String(error)}`] };
  } finally {
    attempt.session.close();
  }
}

/** Boots the artifact once under `firmware` on a throwaway overlay VERIFY_DISK_GROWTH_BYTES bigger than it, and checks it. */
async function bootAndCheck(input: VerifyInput, firmware: Firmware, imageBytes: number, log: (line: string) => void): Promise<BootCheck> {
  const started = Date.now();
  const workDir = join(input.workDir, firmware);
  await ensureDirectory(workDir);
  const overlay = join(workDir, 'verify-overlay.qcow2');
  await removeTree(overlay);
  await createOverlay(overlay, input.artifact, { backingFormat: 'qcow2', sizeBytes: imageBytes + VERIFY_DISK_GROWTH_BYTES });
  const problems: string[] = [];
  let buildAccountRefused = input.buildKey === undefined;
  let gate = NO_LOGIN_GATE;
  let guestFirmware: Firmware | null = null;
  let hostKey: string | null;
  log(`booting ${input.artifact} under ${FIRMWARE_NAMES[firmware]} through a throwaway overlay 1 GiB bigger than the image (${input.accelerator})`);
  const vm = await bootVm({ image: overlay, workDir, accelerator: input.accelerator, firmware, memoryMiB: Math.min(input.spec.hardware.build_vm.memory_mib, 4096), cpus: Math.min(input.spec.hardware.build_vm.cpus, 4) });
  try {
    const deadline = Date.now() + (input.accelerator === 'tcg' ? 300_000 : 120_000);
    const probe = await waitForSsh({ host: '127.0.0.1', port: vm.sshPort, username: 'imagebuild', privateKey: input.buildKey }, deadline);
    hostKey = probe.ok ? probe.session.hostKeySha256 : probe.hostKeySha256;
    if (hostKey === null) problems.push(`no SSH server answered within ${Math.round((deadline - started) / 1000)} s (serial log: ${vm.serialLog})`);
    if (probe.ok) {
      probe.session.close();
      buildAccountRefused = false;
      problems.push('the build account "imagebuild" can still log in with the build key: the image was not sealed');
    } else if (input.buildKey) {
      buildAccountRefused = hostKey !== null;
    }
    log(hostKey !== null ? `SSH answers (host key ${hostKey}); build account ${buildAccountRefused ? 'refused' : 'accepted'}` : 'SSH did not answer');
    if (hostKey !== null && input.login) {
      const guest = await runGuestGates(input, vm.sshPort, workDir, log);
      ({ gate, guestFirmware } = guest);
      problems.push(...guest.problems);
      if (guestFirmware !== null && guestFirmware !== firmware) problems.push(`booted under ${FIRMWARE_NAMES[firmware]} but the guest reports ${guestFirmware} firmware`);
    }
  } finally {
    await vm.stop();
    await removeTree(overlay);
  }
  const record: BootRecord = {
    firmware,
    booted: hostKey !== null,
    ssh_host_key_sha256: hostKey,
    guest_firmware: guestFirmware,
    gate_status: gate.status,
    disk_grown_bytes: VERIFY_DISK_GROWTH_BYTES,
    duration_s: Math.round((Date.now() - started) / 100) / 10,
  };
  return { record, hostKey, buildAccountRefused, gate, problems };
}

/** One gate summary for all boots: failed if any failed, skipped only if all were. */
function combinedGate(boots: readonly BootCheck[]): GateSummary {
  const statuses = boots.map((b) => b.gate.status);
  const status = statuses.includes('failed') ? 'failed' : statuses.every((s) => s === 'skipped') ? 'skipped' : 'passed';
  if (boots.length === 1) return boots[0]!.gate;
  return {
    status,
    summary: boots.map((b) => `${b.record.firmware}: ${b.gate.summary}`).join('; '),
    checks: boots.flatMap((b) => b.gate.checks.map((check) => ({ firmware: b.record.firmware, ...(check as object) }))),
  };
}

/**
 * Boots the finished artifact as a machine would (its own bootloader, first-boot units) once per firmware it must
 * support (the manifest's, else the spec's os.firmware: SeaBIOS and/or OVMF), each time through a throwaway overlay
 * 1 GiB bigger than the image, and checks it: SSH answers, the build account is refused, and — when a spec user's key
 * is given — the base gate (boot loaders, root grown to the disk) and the validation gate pass inside it. Two first
 * boots must show different SSH host keys (the seal removed the image's). Then re-hashes the artifact.
 */
export async function verifyArtifact(input: VerifyInput): Promise<ArtifactVerification> {
  const started = Date.now();
  await ensureDirectory(input.workDir);
  const log = (line: string) => input.onLine?.(line);
  const firmwares = input.firmware ?? input.spec.os.firmware;
  const imageBytes = (await readImageInfo(input.artifact, { chain: false })).virtualSize;
  const boots: BootCheck[] = [];
  // UEFI first: the workstation's boards boot that way.
  for (const firmware of [...firmwares].sort((a, b) => (a === 'uefi' ? -1 : b === 'uefi' ? 1 : 0))) boots.push(await bootAndCheck(input, firmware, imageBytes, log));
  const label = (boot: BootCheck, problem: string) => (boots.length > 1 ? `${FIRMWARE_NAMES[boot.record.firmware]}: ${problem}` : problem);
  const problems = boots.flatMap((boot) => boot.problems.map((problem) => label(boot, problem)));
  const keys = boots.map((b) => b.hostKey).filter((key): key is string => key !== null);
  if (keys.length > 1 && new Set(keys).size < keys.length) problems.push('two first boots of the image showed the same SSH host key: the image carries host keys (the seal must remove them)');

  let sha256Unchanged = true;
  if (input.expectedSha256) {
    const actual = await sha256File(input.artifact);
    sha256Unchanged = actual === input.expectedSha256;
    if (!sha256Unchanged) problems.push(`the artifact's SHA-256 changed during verification: ${actual}, expected ${input.expectedSha256}`);
  }
  const booted = boots.every((b) => b.record.booted);
  const buildAccountRefused = boots.every((b) => b.buildAccountRefused);
  const gate = combinedGate(boots);
  const status = problems.length === 0 && booted && buildAccountRefused && gate.status !== 'failed' && sha256Unchanged ? 'passed' : 'failed';
  return {
    status,
    booted,
    ssh_host_key_sha256: keys[0] ?? null,
    build_account_refused: buildAccountRefused,
    checked_as: input.login?.user ?? null,
    gate,
    sha256_unchanged: sha256Unchanged,
    duration_s: Math.round((Date.now() - started) / 100) / 10,
    problems,
    boots: boots.map((b) => b.record),
  };
}

/** The spec's verify_login user with the cache's verification key, when the spec has one and the key exists. */
export function cacheVerifyLogin(spec: ImageSpec, privateKey: string | undefined): { user: string; privateKey: string } | undefined {
  const user = verifyLoginUser(spec);
  return user === undefined || privateKey === undefined ? undefined : { user, privateKey };
}

/** `imagebuild verify`: verifies an image file, taking the expected SHA-256 from the image-manifest.json beside it and the build key from the spec's cache. */
export async function verifyImageFile(options: {
  image: string;
  specArg?: string;
  cwd: string;
  login?: { user: string; privateKey: string };
  accelerator?: 'kvm' | 'tcg';
  /** --allowed-signers: check SHA256SUMS.sig against this file instead of the spec's. */
  allowedSigners?: string;
  /** --allow-unsigned REASON: verify a release without a signature (a build not yet published). */
  allowUnsigned?: string;
  /** --firmware: boot under these only, instead of every firmware the manifest records. */
  firmware?: readonly Firmware[];
}): Promise<ArtifactVerification & { signature: SignatureVerdict }> {
  if (!pathExists(options.image)) throw new FileAccessError(`${options.image}: image not found; give the path of a built <name>-vX.Y.Z.qcow2`);
  const { spec } = await loadSpec(options.specArg, options.cwd);
  const manifestPath = join(dirname(options.image), MANIFEST_FILE);
  const manifest = await readManifestFile(manifestPath, 'cannot check the SHA-256');
  // Before the boot: who signed the release, and whether SHA256SUMS agrees with the manifest beside the image.
  const trust = { signing: spec.artifacts.signing, allowedSigners: options.allowedSigners, allowUnsigned: options.allowUnsigned, cwd: options.cwd };
  let signature: SignatureVerdict;
  if (manifest === undefined) {
    if (options.allowUnsigned === undefined) throw new ReleaseUnsignedError(`${options.image}: no ${MANIFEST_FILE} beside it, so nothing proves what it is; accept it with --allow-unsigned REASON`);
    signature = { status: 'unsigned-allowed', signed: false, reason: options.allowUnsigned };
  } else {
    signature = (await proveLocalRelease(dirname(options.image), manifest, (await readSmallFile(manifestPath, RELEASE_FILE_MAX_BYTES.manifest)) ?? Buffer.alloc(0), trust)).signature;
  }
  const { buildKey, verifyKey } = cacheLayout(resolve(options.cwd, spec.cache.dir));
  const workDir = await makeTempDirectory('imagebuild-verify-');
  try {
    const verification = await verifyArtifact({
      artifact: options.image,
      spec,
      // Not probed: `auto` verifies under TCG unless --accel says kvm.
      accelerator: chooseAccelerator(options.accelerator ?? spec.hardware.build_vm.accelerator, undefined).accelerator,
      workDir,
      projectDir: findPackageRoot(),
      expectedSha256: manifest?.checksum_sha256,
      buildKey: pathExists(buildKey) ? buildKey : undefined,
      login: options.login ?? cacheVerifyLogin(spec, pathExists(verifyKey) ? verifyKey : undefined),
      // What the image was made for, as its manifest records it; the spec's when an older manifest does not say.
      firmware: options.firmware ?? manifest?.firmware,
    });
    return { ...verification, signature };
  } finally {
    await removeTree(workDir);
  }
}
