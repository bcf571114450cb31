import { VerifyFailedError } from '../../errors/index.js';
import type { ArtifactVerification } from '../../core/manifest/image-manifest.js';
import { cacheVerifyLogin, verifyArtifact } from '../verify-image.js';
import type { BuildRun } from './build-run.js';
import type { BuildOptions } from './options.js';
import { stagingDirOf } from './seal-flatten.js';

/** What the verification boot found, and the step's title and notices. */
export type VerifyResult = { readonly verification: ArtifactVerification; readonly title: string; readonly notices: readonly string[] };

/** Boots the staged artifact, checks it over SSH and re-checks its SHA-256; a failure leaves it unpublished in staging. */
export async function verifyStagedArtifact(
  run: BuildRun,
  artifact: { readonly path: string; readonly sha256: string },
  accelerator: 'kvm' | 'tcg',
  login: BuildOptions['verifyLogin'],
  onLine: (line: string) => void,
): Promise<VerifyResult> {
  const verification = await verifyArtifact({
    artifact: artifact.path,
    spec: run.spec,
    accelerator,
    workDir: run.dir.scratch('verify'),
    projectDir: run.projectDir,
    expectedSha256: artifact.sha256,
    buildKey: run.buildKey.privateKeyFile,
    login: login ?? cacheVerifyLogin(run.spec, run.verifyKey?.privateKeyFile),
    onLine,
  });
  if (verification.status === 'failed') {
    throw new VerifyFailedError(`the artifact failed verification: ${verification.problems.join('; ')}; it stays unpublished in ${stagingDirOf(run)}`);
  }
  return {
    verification,
    title: `Verified in ${verification.duration_s.toFixed(0)} s: boots, SSH ${verification.ssh_host_key_sha256}, build account refused, in-guest gate ${verification.gate.status}`,
    notices: verification.gate.status === 'skipped' ? [`verify: ${verification.gate.summary}`] : [],
  };
}
