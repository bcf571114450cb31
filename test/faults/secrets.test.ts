import { execFileSync } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, filesUnder, runCli } from '../helpers/fault-harness.js';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.js';
import { FAKE_BUILD_TOOLS } from '../helpers/fake-tools.js';
import { requireTools } from '../helpers/require-tools.js';
import { DEMO_NAME, smallDemoSpec } from '../helpers/spec-builders.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { testSigningPair, writeTestSigning } from '../helpers/signing.js';

const hasBuildTools = requireTools('test/faults/secrets.test.ts', ...FAKE_BUILD_TOOLS);

// With S3 credentials (distinctive values, from the environment as the AWS SDK reads them), a private
// SSH key for the verification login (--verify-key) and a shared build key (IMAGEBUILD_BUILD_KEY_FILE)
// configured, a full fake-packer build with --publish to s3rver, a failed build, plan, render, cache ls,
// list, download and a refused request are run; then every file under the project, the store's
// directory and every stdout/stderr is searched for the secrets. The only places a private key may be
// are where it was put (secrets/) and the cache's copy of the build key (its documented home, mode 0600).

type Secret = { readonly what: string; readonly value: string };

/** The base64 body of an OpenSSH private key (no armour lines), and its longer lines on their own. */
function privateKeyParts(what: string, pem: string): Secret[] {
  const body = pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
  return [{ what, value: body.join('\n') }, ...body.filter((l) => l.length >= 24).map((l, i) => ({ what: `${what} line ${i + 1}`, value: l }))];
}

describe.skipIf(!hasBuildTools)('secrets never reach a log, manifest, rendered file, report or output', () => {
  let s3: TestS3Server;
  let work: { dir: string; cleanup: () => Promise<void> };
  let secrets: Secret[];
  let env: Record<string, string>;
  const transcripts: { command: string; result: CliResult }[] = [];
  const marks = () => join(work.dir, 'packer-env');
  const run = async (args: string[], extra: Record<string, string> = {}) => {
    const result = await runCli(args, work.dir, { ...env, FAULT_DIR: marks(), ...extra });
    transcripts.push({ command: args.join(' '), result });
    return result;
  };

  beforeAll(async () => {
    s3 = await startS3Server();
    work = await makeTempDir('imagebuild-fault-secrets-');
    const keys = join(work.dir, 'secrets');
    await mkdir(keys, { mode: 0o700 });
    await mkdir(marks());
    for (const name of ['ops_ed25519', 'build_ed25519']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(keys, name)]);
    secrets = [
      { what: 'AWS_ACCESS_KEY_ID', value: s3.accessKeyId },
      { what: 'AWS_SECRET_ACCESS_KEY', value: s3.secretAccessKey },
      ...privateKeyParts('--verify-key private key', await readFile(join(keys, 'ops_ed25519'), 'utf8')),
      ...privateKeyParts('IMAGEBUILD_BUILD_KEY_FILE private key', await readFile(join(keys, 'build_ed25519'), 'utf8')),
      ...privateKeyParts('release signing private key', await readFile(testSigningPair().key, 'utf8')),
    ];
    env = {
      ...s3.credentialsEnv,
      IMAGEBUILD_BUILD_KEY_FILE: join(keys, 'build_ed25519'),
    };
    const store = s3.storeSpec('secrets');
    const signing = writeTestSigning(work.dir);
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec([[['artifacts'], { store, retention: 3, signing }]]));
    await writeFile(join(work.dir, 'failing.yaml'), smallDemoSpec([[['artifacts'], { store, retention: 3, signing }], [['layers', 'runtime', 'docker_default_shm_size'], '16G']]));

    const verify = ['--verify-user', 'vaultadmin', '--verify-key', 'secrets/ops_ed25519'];
    const ok = [
      await run(['build', 'v1.0.0', '--spec', 'box.yaml', '--host-profile', 'cpu', ...verify, '--no-verify', '--publish']),
      await run(['plan', 'v1.1.0', '--spec', 'box.yaml', '--host-profile', 'cpu']),
      await run(['render', '--spec', 'box.yaml']),
      await run(['cache', 'ls', '--spec', 'box.yaml', '--host-profile', 'cpu']),
      await run(['list', '--spec', 'box.yaml']),
      await run(['list', '--spec', 'box.yaml', '--json']),
      await run(['download', 'current', '--spec', 'box.yaml', '--dest', 'downloaded']),
    ];
    for (const result of ok) expect(result.exitCode, result.stderr).toBe(0);
    const failed = await run(['build', 'v1.1.0', '--spec', 'failing.yaml', '--host-profile', 'cpu', ...verify, '--no-verify', '--debug'], { FAKE_PACKER_FAIL: 'runtime' });
    // A request the store refuses (an access key it does not know), with --debug printing the cause chain.
    const refused = await run(['list', '--spec', 'box.yaml', '--debug'], { AWS_ACCESS_KEY_ID: `${s3.accessKeyId}X` });
    expect(failed.exitCode).toBe(1);
    expect(refused.exitCode).toBe(1);
  });
  afterAll(async () => {
    await s3?.close();
    await work?.cleanup();
  });

  it('no file under the project or in the store holds a secret, except the keys where they were put', async () => {
    const allowed = new Set([join(work.dir, 'secrets/ops_ed25519'), join(work.dir, 'secrets/build_ed25519'), join(work.dir, '.imagebuild/cache/keys/build_ed25519'), join(work.dir, 'keys/release_ed25519')]);
    const files = [...(await filesUnder(work.dir)), ...(await filesUnder(s3.dir))];

    const leaks = files.flatMap((f) => {
      const text = f.bytes.toString('latin1');
      return allowed.has(f.path) ? [] : secrets.filter((s) => text.includes(s.value)).map((s) => `${f.path}: ${s.what}`);
    });

    // The search did look at what a build and a release write.
    const names = files.map((f) => f.path);
    for (const made of ['/logs/runtime.log', '/image-manifest.json', '/rendered/base/base.pkr.hcl', '/vars.yml', '/reports/base/gate.json', '/entry.json', '/FAILED.txt', '/releases.json._S3rver_object']) {
      expect(names.some((n) => n.endsWith(made)), made).toBe(true);
    }
    expect(files.length).toBeGreaterThan(100);
    expect(leaks).toEqual([]);
  });

  it('no command printed a secret on stdout or stderr, not even with --debug', async () => {
    const leaks = transcripts.flatMap(({ command, result }) =>
      secrets.filter((s) => result.stdout.includes(s.value) || result.stderr.includes(s.value)).map((s) => `${command}: ${s.what}`),
    );

    expect(transcripts.length).toBe(9);
    expect(leaks).toEqual([]);
  });

  it('Packer, and so Ansible and every provisioner, is not handed the store credentials or the build key file', async () => {
    const seen = await Promise.all(['base', 'runtime', 'seal'].map(async (unit) => (await readFile(join(marks(), `env-${unit}`), 'utf8')).split('\n')));

    for (const names of seen) {
      expect(names).toContain('PATH');
      expect(names.filter((n) => n.startsWith('AWS_ACCESS') || n.startsWith('AWS_SECRET') || n === 'AWS_SESSION_TOKEN' || n === 'IMAGEBUILD_BUILD_KEY_FILE')).toEqual([]);
    }
  });

  it('the cache keeps its copy of the build key private (0600) and the manifest records no key material', async () => {
    const key = await stat(join(work.dir, '.imagebuild/cache/keys/build_ed25519'));
    const manifest = await readFile(join(work.dir, 'output', DEMO_NAME, 'v1.0.0', 'image-manifest.json'), 'utf8');

    expect(key.mode & 0o077).toBe(0);
    expect(manifest).not.toMatch(/PRIVATE KEY|ssh-ed25519 AAAA/);
  });
});
