import { dirname, join, resolve } from 'node:path';
import { ensureDirectory, makeTempDirectory, pathExists, removeTree, writeTextFile } from '../adapters/fs/directories.js';
import { findPackageRoot } from '../adapters/fs/project-root.js';
import { sha256File } from '../adapters/fs/sha256.js';
import { bootVm } from '../adapters/qemu/boot-vm.js';
import { createOverlay } from '../adapters/qemu-img/qemu-img.js';
import { connectSsh, waitForSsh } from '../adapters/ssh/ssh-session.js';
import { evaluateGate, type GateVerdict } from '../core/gate/evaluate-gate.js';
import { parseGuestGateReport } from '../core/gate/gate-report.js';
import type { ArtifactVerification } from '../core/manifest/image-manifest.js';
import { chooseAccelerator } from '../core/preflight/check-preflight.js';
import { cacheLayout } from '../adapters/workspace/cache-layout.js';
import { MANIFEST_FILE } from '../adapters/workspace/release-layout.js';
import { readManifestFile } from '../adapters/workspace/manifest-file.js';
import { checkParams } from '../core/render/render-image.js';
import { verifyLoginUser, type ImageSpec } from '../core/spec/schema.js';
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
  readonly onLine?: (line: string) => void;
};

/** Checks run on the booted artifact: the base gate (boots, SSH, partitioning) and the validation layer's gate. */
const VERIFY_LAYERS = ['base', 'validation'] as const;

/**
 * Boots the finished artifact through a throwaway overlay, as a machine would (its own bootloader,
 * first-boot unit), and checks it: SSH answers, the build account is refused, and — when a spec
 * user's key is given — the base and validation gates pass inside it. Then re-hashes the artifact.
 */
export async function verifyArtifact(input: VerifyInput): Promise<ArtifactVerification> {
  const started = Date.now();
  const problems: string[] = [];
  await ensureDirectory(input.workDir);
  const overlay = join(input.workDir, 'verify-overlay.qcow2');
  await removeTree(overlay);
  await createOverlay(overlay, input.artifact, { backingFormat: 'qcow2' });
  const log = (line: string) => input.onLine?.(line);

  let booted: boolean;
  let hostKey: string | null;
  let buildAccountRefused = input.buildKey === undefined;
  let gate: ArtifactVerification['gate'] = { status: 'skipped', summary: 'no spec user key given (--verify-user/--verify-key, or a users[].verify_login user): in-guest checks not run', checks: [] };
  log(`booting ${input.artifact} through a throwaway overlay (${input.accelerator})`);
  const vm = await bootVm({ image: overlay, workDir: input.workDir, accelerator: input.accelerator, memoryMiB: Math.min(input.spec.hardware.build_vm.memory_mib, 4096), cpus: Math.min(input.spec.hardware.build_vm.cpus, 4) });
  try {
    const deadline = Date.now() + (input.accelerator === 'tcg' ? 300_000 : 120_000);
    const probe = await waitForSsh({ host: '127.0.0.1', port: vm.sshPort, username: 'imagebuild', privateKey: input.buildKey }, deadline);
    hostKey = probe.ok ? probe.session.hostKeySha256 : probe.hostKeySha256;
    booted = hostKey !== null;
    if (!booted) problems.push(`no SSH server answered within ${Math.round((deadline - started) / 1000)} s (serial log: ${vm.serialLog})`);
    if (probe.ok) {
      probe.session.close();
      buildAccountRefused = false;
      problems.push('the build account "imagebuild" can still log in with the build key: the image was not sealed');
    } else if (input.buildKey) {
      buildAccountRefused = booted;
    }
    log(booted ? `SSH answers (host key ${hostKey}); build account ${buildAccountRefused ? 'refused' : 'accepted'}` : 'SSH did not answer');

    if (booted && input.login) {
      const attempt = await connectSsh({ host: '127.0.0.1', port: vm.sshPort, username: input.login.user, privateKey: input.login.privateKey });
      if (!attempt.ok) {
        problems.push(`spec user ${input.login.user} could not log in: ${attempt.reason}`);
        gate = { status: 'failed', summary: `login as ${input.login.user} failed`, checks: [] };
      } else {
        const verdicts: GateVerdict[] = [];
        try {
          await attempt.session.exec('rm -rf /tmp/imagebuild-verify && mkdir -p /tmp/imagebuild-verify');
          // run_checks.py imports guest_files.py from its own folder.
          for (const program of ['run_checks.py', 'guest_files.py']) await attempt.session.upload(join(input.projectDir, 'guest', program), `/tmp/imagebuild-verify/${program}`);
          for (const layer of VERIFY_LAYERS) {
            const paramsFile = join(input.workDir, `${layer}-checks.json`);
            await writeTextFile(paramsFile, JSON.stringify(checkParams(input.spec, layer)));
            await attempt.session.upload(paramsFile, `/tmp/imagebuild-verify/${layer}.json`);
            log(`running the ${layer} gate checks as ${input.login.user}`);
            const run = await attempt.session.exec(
              `sudo -n python3 /tmp/imagebuild-verify/run_checks.py --params /tmp/imagebuild-verify/${layer}.json --out /tmp/imagebuild-verify/${layer}-gate.json && cat /tmp/imagebuild-verify/${layer}-gate.json`,
            );
            if (run.code !== 0) throw new Error(`run_checks.py for ${layer} exited ${run.code}: ${firstLine(run.stderr)}`);
            verdicts.push(evaluateGate({ layer, spec: input.spec, report: parseGuestGateReport(JSON.parse(run.stdout), `${layer} gate of the verify boot`), imageChecksOnly: true }));
          }
          await attempt.session.exec('rm -rf /tmp/imagebuild-verify');
          const failed = verdicts.filter((v) => v.status === 'failed');
          for (const verdict of failed) problems.push(verdict.summary);
          gate = { status: failed.length > 0 ? 'failed' : 'passed', summary: verdicts.map((v) => v.summary).join('; '), checks: verdicts.flatMap((v) => v.checks) };
        } catch (error) {
          problems.push(`in-guest checks could not run: ${error instanceof Error ? error.message : String(error)}`);
          gate = { status: 'failed', summary: 'in-guest checks could not run', checks: [] };
        } finally {
          attempt.session.close();
        }
      }
    }
  } finally {
    await vm.stop();
    await removeTree(overlay);
  }

  let sha256Unchanged = true;
  if (input.expectedSha256) {
    const actual = await sha256File(input.artifact);
    sha256Unchanged = actual === input.expectedSha256;
    if (!sha256Unchanged) problems.push(`the artifact's SHA-256 changed during verification: ${actual}, expected ${input.expectedSha256}`);
  }
  const status = problems.length === 0 && booted && buildAccountRefused && gate.status !== 'failed' && sha256Unchanged ? 'passed' : 'failed';
  return {
    status,
    booted,
    ssh_host_key_sha256: hostKey,
    build_account_refused: buildAccountRefused,
    checked_as: input.login?.user ?? null,
    gate,
    sha256_unchanged: sha256Unchanged,
    duration_s: Math.round((Date.now() - started) / 100) / 10,
    problems,
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
    });
    return { ...verification, signature };
  } finally {
    await removeTree(workDir);
  }
}
