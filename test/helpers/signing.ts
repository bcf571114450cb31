import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Release projects in tests sign what they publish and verify what they download, as a site would:
// an Ed25519 key made by the real ssh-keygen (one per test process), copied into each project's keys/.

/** The principal test releases are signed as. */
export const TEST_SIGNER = 'release@imagebuild.test';

let pair: { key: string; pub: string } | undefined;

/** The test process's signing key pair (made once with ssh-keygen). */
export function testSigningPair(): { key: string; pub: string } {
  if (pair === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'imagebuild-signing-key-'));
    const key = join(dir, 'release_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', TEST_SIGNER, '-f', key], { stdio: 'pipe' });
    pair = { key, pub: readFileSync(`${key}.pub`, 'utf8').trim() };
  }
  return pair;
}

/**
 * Writes `<project>/keys/release_ed25519` (0600) and `<project>/keys/allowed_signers` allowing it, and
 * returns the spec's artifacts.signing naming them (relative to the spec file in `project`).
 */
export function writeTestSigning(project: string): { key_file: string; allowed_signers: string } {
  const { key, pub } = testSigningPair();
  const keys = join(project, 'keys');
  mkdirSync(keys, { recursive: true });
  copyFileSync(key, join(keys, 'release_ed25519'));
  chmodSync(join(keys, 'release_ed25519'), 0o600);
  const [type, blob] = pub.split(' ');
  writeFileSync(join(keys, 'allowed_signers'), `${TEST_SIGNER} namespaces="imagebuild-release" ${type} ${blob}\n`);
  return { key_file: 'keys/release_ed25519', allowed_signers: 'keys/allowed_signers' };
}
