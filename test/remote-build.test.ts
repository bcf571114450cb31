import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesMentioning } from './helpers/processes.js';
import { waitForOutput } from './helpers/wait.js';
import { BUILT_CLI } from './helpers/project-root.js';
import { smallDemoSpec } from './helpers/spec-builders.js';
import { SSHD, startSshd, type TestSshd } from './helpers/sshd.js';
import { listTree, makeTempDir } from './helpers/temp-dir.js';
import { FAKE_BIN, FAKE_BUILD_TOOLS } from './helpers/fake-tools.js';
import { requireTools } from './helpers/require-tools.js';

// `imagebuild build --host`: the built CLI here drives the built CLI "there" through a real OpenSSH
// server on 127.0.0.1 (throwaway host and user keys). The remote side runs the fake packer of
// test/fixtures/bin, put on its PATH by sshd's SetEnv, as a GPU host's PATH would hold the real one.
const canRun = requireTools('test/remote-build.test.ts', SSHD, ...FAKE_BUILD_TOOLS);

describe.skipIf(!canRun)('remote build over SSH', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let sshd: TestSshd;
  let hanging: TestSshd;
  let knownHosts: string;
  const remotePath = `${FAKE_BIN}:${process.env.PATH}`;

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-remote-');
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
    sshd = await startSshd(join(work.dir, 'sshd'), { PATH: remotePath });
    // A second host whose driver layer hangs in "packer" (a sleeping child stands for QEMU).
    hanging = await startSshd(join(work.dir, 'sshd-hang'), { PATH: remotePath, FAKE_PACKER_HANG: 'driver' });
    knownHosts = join(work.dir, 'known_hosts');
    await writeFile(knownHosts, `${sshd.knownHostsLine}\n${hanging.knownHostsLine}\n`);
    // Hashed names, as many distributions write them (HashKnownHosts yes).
    execFileSync('ssh-keygen', ['-H', '-f', knownHosts], { stdio: 'ignore' });
  }, 60_000);
  afterAll(async () => {
    sshd?.stop();
    hanging?.stop();
    await work?.cleanup();
  });

  const remoteDir = (name: string) => join(work.dir, name);
  function cli(server: TestSshd, args: string[], extra: { knownHosts?: string } = {}) {
    return execa(
      'node',
      [
        BUILT_CLI,
        'build',
        ...args,
        '--spec',
        'box.yaml',
        '--host',
        `${server.user}@127.0.0.1:${server.port}`,
        '--identity',
        server.clientKey,
        '--known-hosts',
        extra.knownHosts ?? knownHosts,
        '--remote-command',
        `node ${BUILT_CLI}`,
        '--host-profile',
        'cpu',
        '--no-verify',
      ],
      { cwd: work.dir, reject: false, stdin: 'ignore', env: { PATH: process.env.PATH, HOME: work.dir }, extendEnv: false },
    );
  }

  it('builds on the host, streams its progress, and brings the manifest, logs and gate reports home (not the image)', async () => {
    const result = await cli(sshd, ['1.0.0', '--remote-dir', remoteDir('remote-a')]);

    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/base: built [0-9a-f]{12} in \d+ s, gate base gate passed/);
    expect(result.stdout).toMatch(/✔ built v1\.0\.0 on .*@\[127\.0\.0\.1\]:\d+ in \d+ s: .*remote-a\/vault-cube-demo-box\/output\/vault-cube-demo-box\/v1\.0\.0\/vault-cube-demo-box-v1\.0\.0\.qcow2/);
    const home = join(work.dir, `.imagebuild/remote/127.0.0.1-${sshd.port}/vault-cube-demo-box/v1.0.0`);
    const brought = await listTree(home);
    expect(brought).toEqual(expect.arrayContaining(['image-manifest.json', 'SHA256SUMS', 'logs/base.log', 'reports/base/verdict.json', 'reports/validation/gate.json']));
    expect(brought.some((p) => p.endsWith('.qcow2'))).toBe(false);
    const manifest = JSON.parse(readFileSync(join(home, 'image-manifest.json'), 'utf8')) as { checksum_sha256: string; artifact: string };
    const remoteImage = join(remoteDir('remote-a'), 'vault-cube-demo-box/output/vault-cube-demo-box/v1.0.0', manifest.artifact);
    expect(execFileSync('sha256sum', [remoteImage], { encoding: 'utf8' }).split(' ')[0]).toBe(manifest.checksum_sha256);
    // What the laptop rendered is what the host checked against its own rendering and built.
    expect(existsSync(join(remoteDir('remote-a'), 'vault-cube-demo-box/rendered/base/base.pkr.hcl'))).toBe(true);
  });

  it('has the host refuse rendered files that differ from what it renders itself', async () => {
    const rendered = join(remoteDir('remote-a'), 'vault-cube-demo-box/rendered');
    const tampered = join(work.dir, 'tampered');
    execFileSync('cp', ['-r', rendered, tampered]);
    await writeFile(join(tampered, 'driver/vars.yml'), `${readFileSync(join(tampered, 'driver/vars.yml'), 'utf8')}extra: 1\n`);

    const result = await execa('node', [BUILT_CLI, 'build', '1.0.1', '--spec', 'box.yaml', '--rendered', tampered, '--host-profile', 'cpu', '--no-verify'], {
      cwd: work.dir,
      reject: false,
      stdin: 'ignore',
      env: { PATH: `${FAKE_BIN}:${process.env.PATH}`, IMAGEBUILD_CACHE_DIR: join(work.dir, 'tamper-cache') },
    });

    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/error: .*tampered: not what this imagebuild renders for the spec \(driver\/vars\.yml differs\)/);
    expect(existsSync(join(work.dir, 'tamper-cache/layers'))).toBe(false);
  });

  it('refuses a host whose key is not in known_hosts, before logging in or running anything', async () => {
    const empty = join(work.dir, 'empty_known_hosts');
    await writeFile(empty, '');

    const result = await cli(sshd, ['1.0.0', '--remote-dir', remoteDir('remote-b')], { knownHosts: empty });

    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim().split('\n').filter((l) => l.startsWith('error:'))).toEqual([
      expect.stringMatching(/^error: host key of \[127\.0\.0\.1\]:\d+ \(SHA256:[A-Za-z0-9+/]{43}\) is not in .*empty_known_hosts; check the fingerprint on the host .* ssh-keyscan -p \d+ 127\.0\.0\.1 >> /),
    ]);
    expect(existsSync(remoteDir('remote-b'))).toBe(false);
  });

  it('refuses a host whose key changed', async () => {
    const other = join(work.dir, 'other_known_hosts');
    await writeFile(other, `${sshd.knownHostsLine.split(' ')[0]} ${hanging.knownHostsLine.split(' ').slice(1).join(' ')}\n`);

    const result = await cli(sshd, ['1.0.0', '--remote-dir', remoteDir('remote-c')], { knownHosts: other });

    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/error: host key of \[127\.0\.0\.1\]:\d+ CHANGED: it presented SHA256:\S+, but .*other_known_hosts \(line 1\) has another key/);
    expect(existsSync(remoteDir('remote-c'))).toBe(false);
  });

  it('interrupts the remote build on Ctrl-C: Packer and its VM stop there, the base layer stays cached, the lock is released', async () => {
    const dir = remoteDir('remote-d');
    const running = cli(hanging, ['1.0.0', '--remote-dir', dir]);
    await waitForOutput(running.stdout, 'qemu.driver: Waiting for SSH', 60_000, 'the remote build never reached the driver layer:\n');

    running.kill('SIGINT');
    const result = await running;

    expect(result.exitCode).toBe(130);
    expect(result.stderr).toMatch(/SIGINT: interrupting the remote build/);
    expect(result.stderr).toMatch(/error: remote build on .* interrupted; it stopped Packer and kept what it cached/);
    expect(result.stdout).toContain('qemu.driver: Interrupted, stopping VM');
    const cache = join(dir, 'vault-cube-demo-box/.imagebuild/cache');
    const layers = readdirSync(join(cache, 'layers')).filter((n) => !n.startsWith('.'));
    expect(layers).toHaveLength(1);
    expect(existsSync(join(cache, 'lock'))).toBe(false);
    // No process of that build survives on the "host": neither imagebuild, packer nor its sleeping "VM"
    // (all started in the remote build directory, so their command line or environment names it).
    expect(processesMentioning(dir)).toEqual([]);
  }, 120_000);
});
