import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { verifyImageFile } from '../src/app/verify-image.js';
import { ReleaseUnsignedError, SignatureInvalidError } from '../src/errors/index.js';
import { runCli, type CliResult } from './helpers/fault-harness.js';
import { writeLocalRelease } from './helpers/local-release.js';
import { requireTools } from './helpers/require-tools.js';
import { TEST_SIGNER, testSigningPair, writeTestSigning } from './helpers/signing.js';
import { DEMO_NAME, smallDemoSpec } from './helpers/spec-builders.js';
import { useTempDir } from './helpers/temp-dir.js';
import { useS3Server } from './helpers/use-s3-server.js';

// Issue 19 §3: releases signed on the publishing machine (SSHSIG over SHA256SUMS, which lists the image,
// manifest, SBOM and provenance), checked by download against allowed_signers before the image, with
// what anyone can check by hand using OpenSSH alone. Against the real ssh-keygen, both ways.

const hasTools = requireTools('test/release-signing.test.ts', 'ssh-keygen', 'sha256sum');
const s3 = useS3Server();

/** A second key, one allowed_signers does not list (or lists for another principal). */
function otherKey(dir: string): { key: string; pub: string } {
  const key = join(dir, 'other_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'other', '-f', key]);
  return { key, pub: execFileSync('cat', [`${key}.pub`], { encoding: 'utf8' }).trim() };
}

/** The one publish directory of `version` in the filesystem store. */
function publishDir(project: string, version: string): string {
  const versionDir = join(project, 'store', DEMO_NAME, `v${version}`);
  const [id] = readdirSync(versionDir);
  return join(versionDir, id!);
}

describe.skipIf(!hasTools)('signed releases', () => {
  const temp = useTempDir('imagebuild-release-signing-');
  let project: string;
  const run = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => runCli([...args, '--spec', 'box.yaml'], project, env);
  const spec = (signing: Record<string, unknown> | undefined, store: unknown = { kind: 'filesystem', dir: 'store' }) =>
    writeFile(join(project, 'box.yaml'), smallDemoSpec([[['artifacts'], { store, retention: 3, ...(signing ? { signing } : {}) }]]));

  beforeEach(async () => {
    project = join(temp.dir, `p${Math.random().toString(16).slice(2, 8)}`);
    await mkdir(join(project, 'store'), { recursive: true });
    await writeLocalRelease(join(project, 'output', DEMO_NAME), '1.0.0');
  });

  it('publish signs SHA256SUMS before uploading; the stored signature verifies with ssh-keygen, and download checks it first', async () => {
    await spec(writeTestSigning(project));

    const published = await run(['publish', 'v1.0.0']);
    const downloaded = await run(['download', 'v1.0.0', '--dest', 'dl']);

    expect(published.exitCode, published.stderr).toBe(0);
    expect(published.stdout).toMatch(/^ {2}signed {3}SHA256:[A-Za-z0-9+/]{43}$/m);
    const stored = publishDir(project, '1.0.0');
    const allowed = join(project, 'keys/allowed_signers');
    const verify = (dir: string) =>
      execFileSync('sh', ['-c', `ssh-keygen -Y verify -f '${allowed}' -I ${TEST_SIGNER} -n imagebuild-release -s SHA256SUMS.sig < SHA256SUMS`], { cwd: dir, encoding: 'utf8' });
    expect(verify(stored)).toContain(`Good "imagebuild-release" signature for ${TEST_SIGNER}`);
    expect((await readFile(join(stored, 'SHA256SUMS'), 'utf8')).split('\n')).toContain(
      `${execFileSync('sha256sum', [join(stored, 'image-manifest.json')], { encoding: 'utf8' }).split(' ')[0]}  image-manifest.json`,
    );
    expect(downloaded.exitCode, downloaded.stderr).toBe(0);
    expect(downloaded.stdout).toContain(`signature verified: SHA256SUMS.sig by ${TEST_SIGNER}`);
    expect(verify(join(project, 'dl'))).toContain('Good');
    expect(execFileSync('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: join(project, 'dl'), encoding: 'utf8' })).toMatch(/image-manifest\.json: OK/);
  });

  it('a signature made by ssh-keygen -Y sign (re-signed by hand with the same key) verifies in download', async () => {
    await spec(writeTestSigning(project));
    expect((await run(['publish', 'v1.0.0'])).exitCode).toBe(0);
    const stored = publishDir(project, '1.0.0');
    chmodSync(stored, 0o755);
    execFileSync('rm', ['-f', join(stored, 'SHA256SUMS.sig')]);
    execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-f', testSigningPair().key, '-n', 'imagebuild-release', join(stored, 'SHA256SUMS')]);

    const downloaded = await run(['download', 'v1.0.0', '--dest', 'dl']);

    expect(downloaded.exitCode, downloaded.stderr).toBe(0);
    expect(downloaded.stdout).toContain('signature verified');
  });

  it.each([
    ['a changed byte of SHA256SUMS', 'bad-signature'],
    ['a signer allowed_signers does not list', 'unknown-signer'],
    ['another namespace', 'wrong-namespace'],
    ['a revoked key', 'revoked'],
  ])('download refuses %s (exit 1, one line, no image written), even with --allow-unsigned', async (_what, reason) => {
    const signing: Record<string, unknown> = writeTestSigning(project);
    await spec(signing);
    expect((await run(['publish', 'v1.0.0'])).exitCode).toBe(0);
    const stored = publishDir(project, '1.0.0');
    if (reason === 'bad-signature') {
      const sums = join(stored, 'SHA256SUMS');
      chmodSync(sums, 0o644);
      const text = await readFile(sums, 'utf8');
      await writeFile(sums, text.replace(/^./, (c) => (c === 'a' ? 'b' : 'a')));
    }
    if (reason === 'unknown-signer') await writeFile(join(project, 'keys/allowed_signers'), `${TEST_SIGNER} ${otherKey(project).pub}\n`);
    if (reason === 'wrong-namespace') await spec({ ...signing, namespace: 'someone-else' });
    if (reason === 'revoked') {
      await writeFile(join(project, 'keys/revoked'), `${testSigningPair().pub}\n`);
      await spec({ ...signing, revoked_keys: 'keys/revoked' });
    }

    const results = [await run(['download', 'v1.0.0', '--dest', 'dl']), await run(['download', 'v1.0.0', '--dest', 'dl', '--allow-unsigned', 'testing'])];

    for (const result of results) {
      expect(result.exitCode).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^error: /);
    }
    expect(readdirSync(project)).not.toContain('dl');
  });

  it('an unsigned release is refused unless --allow-unsigned gives a reason, which download.json records', async () => {
    await spec(undefined);
    const published = await run(['publish', 'v1.0.0']);
    await spec(writeTestSigning(project));

    const refused = await run(['download', 'v1.0.0', '--dest', 'dl']);
    const allowed = await run(['download', 'v1.0.0', '--dest', 'dl', '--allow-unsigned', 'lab box, release predates signing']);
    const empty = await run(['download', 'v1.0.0', '--dest', 'dl', '--allow-unsigned', ' ']);

    expect(published.exitCode, published.stderr).toBe(0);
    expect(published.stderr).toContain('notice: published unsigned: no signing key');
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/^error: v1\.0\.0 in .*: has no signature \(SHA256SUMS\.sig\); refusing it — accept it with --allow-unsigned REASON$/);
    expect(allowed.exitCode, allowed.stderr).toBe(0);
    expect(allowed.stderr).toContain('warning: NOT signature-verified (the release is unsigned); accepted with --allow-unsigned: lab box, release predates signing');
    expect(JSON.parse(await readFile(join(project, 'dl/download.json'), 'utf8'))).toMatchObject({
      version: '1.0.0',
      signature: { status: 'unsigned-allowed', signed: false, reason: 'lab box, release predates signing' },
    });
    expect(empty.exitCode).toBe(2);
  });

  it('publish refuses before uploading: allowed_signers named but no key, and a key allowed_signers does not allow', async () => {
    const signing = writeTestSigning(project);
    await spec({ allowed_signers: signing.allowed_signers });
    const noKey = await run(['publish', 'v1.0.0']);
    const other = otherKey(project);
    const wrongKey = await run(['publish', 'v1.0.0', '--signing-key', other.key]);
    const storedAfterRefusals = readdirSync(join(project, 'store', DEMO_NAME));
    const fromEnv = await run(['publish', 'v1.0.0'], { IMAGEBUILD_SIGNING_KEY: join(project, signing.key_file) });

    expect(noKey.exitCode).toBe(2);
    expect(noKey.stderr).toMatch(/^error: artifacts\.signing names allowed_signers .* no key to sign with was given: .*IMAGEBUILD_SIGNING_KEY, or --signing-key FILE$/);
    expect(wrongKey.exitCode).toBe(2);
    expect(wrongKey.stderr).toMatch(/^error: the release signature made with SHA256:\S+ would not verify for its customers: .*$/);
    expect(storedAfterRefusals).toEqual(['releases.json']);
    expect(fromEnv.exitCode, fromEnv.stderr).toBe(0);
    expect(fromEnv.stdout).toMatch(/^ {2}signed {3}SHA256:/m);
  });

  it('verify proves the release beside the image before it boots anything: unsigned refused without --allow-unsigned, a signer allowed_signers does not list always', async () => {
    await spec(writeTestSigning(project));
    const image = join(project, 'output', DEMO_NAME, 'v1.0.0', `${DEMO_NAME}-v1.0.0.qcow2`);

    const unsigned = await verifyImageFile({ image, specArg: 'box.yaml', cwd: project }).catch((error: unknown) => error);
    expect((await run(['publish', 'v1.0.0'])).exitCode).toBe(0);
    await writeFile(join(project, 'keys/allowed_signers'), `${TEST_SIGNER} ${otherKey(project).pub}\n`);
    const stranger = await verifyImageFile({ image, specArg: 'box.yaml', cwd: project, allowUnsigned: 'testing' }).catch((error: unknown) => error);

    expect(unsigned).toBeInstanceOf(ReleaseUnsignedError);
    expect((unsigned as Error).message).toMatch(/v1\.0\.0 in .*: has no signature \(SHA256SUMS\.sig\); refusing it — accept it with --allow-unsigned REASON$/);
    expect(stranger).toBeInstanceOf(SignatureInvalidError);
    expect((stranger as SignatureInvalidError).reason).toBe('unknown-signer');
  });

  it('signs and verifies through an S3 store (s3rver)', async () => {
    await spec(writeTestSigning(project), s3.storeSpec('signing'));

    const published = await run(['publish', 'v1.0.0'], s3.credentialsEnv);
    const downloaded = await run(['download', 'current', '--dest', 'dl', '--json'], s3.credentialsEnv);

    expect(published.exitCode, published.stderr).toBe(0);
    expect(downloaded.exitCode, downloaded.stderr).toBe(0);
    expect(JSON.parse(downloaded.stdout)).toMatchObject({ version: '1.0.0', signature: { status: 'verified', principal: TEST_SIGNER, namespace: 'imagebuild-release' } });
  });
});
