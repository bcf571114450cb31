import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageManifest } from '../src/core/manifest/image-manifest.js';
import { bootVm } from '../src/adapters/qemu/boot-vm.js';
import { waitForSsh } from '../src/adapters/ssh/ssh-session.js';
import { aptProxyPaths, freeProxyablePort, parseTransferLog } from '../src/adapters/package-cache/apt-proxy.js';
import { cacheLayout } from '../src/adapters/workspace/cache-layout.js';
import { BUILT_CLI } from './helpers/project-root.js';
import { processesMentioning } from './helpers/processes.js';
import { LOCAL_DEV_SPEC_PATH, mutateManifest } from './helpers/spec-builders.js';
import { makeTempDir } from './helpers/temp-dir.js';
import { TEST_SIGNER, writeTestSigning } from './helpers/signing.js';
import { RGW_TOOLS, startRgw } from './helpers/rgw.js';
import { startS3Server } from './helpers/s3-server.js';
import type { StoreSpec } from '../src/core/spec/schema.js';
import { missingTools, requireTools } from './helpers/require-tools.js';
import { REGISTRY_TOOLS, startRegistry, type TestRegistry } from './helpers/registry.js';
import { specAgainstMirror, startVendorMirror, type VendorMirror } from './vendor-mirror/gpu-spec.js';
import { PYPI_MIRROR_PATHS } from './vendor-mirror/pypi-mirror.js';

// A real build: mmdebstrap, the real Packer (Debian's 1.6.6 in CI) driving real QEMU under TCG, the
// Ansible provisioner, the guest gate programs, seal, flatten, and the verification boot of the
// artifact logged in as a spec user over SSH. v0.1.0 is make demo's build (base only: bootstrap → base
// layer with its idempotence run → seal). v0.2.0 then builds the driver, runtime, frameworks and validation
// layers on that base layer (reused) against the hermetic vendor mirror (test/vendor-mirror): NVIDIA's
// repositories and PyPI as stand-in packages served on the host's loopback, which the build guests reach as
// 10.0.2.2. GPU checks are skipped (nvidia-smi fails as it does without a GPU), never passed.
const TOOLS = ['packer', 'qemu-system-x86_64', 'qemu-img', 'mmdebstrap', 'ansible-playbook', 'sfdisk', 'mkfs.fat', 'mke2fs', 'apt-ftparchive', 'gpg', 'dpkg-deb', 'objcopy', 'gcc', ...REGISTRY_TOOLS];
const missing = requireTools('test/real-build.test.ts', ...TOOLS) ? [] : missingTools(...TOOLS);
const isRoot = process.getuid?.() === 0;
const DEBIAN_MITOGEN = '/usr/lib/python3/dist-packages/ansible_mitogen/plugins/strategy/mitogen_linear.py';
const hasRgw = missingTools(...RGW_TOOLS).length === 0;
if (!isRoot && process.env.CI) throw new Error('the real build test needs root in CI');

describe.skipIf(missing.length > 0 || !isRoot)(`real build of local-dev with Packer and QEMU (TCG)${missing.length > 0 ? ` — skipped: ${missing.join(', ')} missing` : ''}`, () => {
  // The release goes to a real S3 server: Ceph's RADOS Gateway where CI installs it (its memstore OSD sized
  // for the ~1 GB base image), s3rver otherwise.
  let server: { name: string; storeSpec(prefix: string): StoreSpec; credentialsEnv: Record<string, string>; stop(): Promise<void> };
  let work: { dir: string; cleanup: () => Promise<void> };
  let mirror: VendorMirror;
  let registry: TestRegistry;
  let imageRef: string;
  // make demo's command (on a machine without KVM): the verification boot logs in as local-dev's
  // verify_login user (dev) with the cache's own verification key, no key given on the command line.
  const command = () => ['build', 'v0.1.0', '--spec', 'box.yaml', '--until-layer', 'base', '--accel', 'tcg'];

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-real-');
    if (hasRgw) {
      const rgw = await startRgw('images', { memstoreBytes: '4G' });
      server = { name: 'Ceph RADOS Gateway', storeSpec: (p) => rgw.storeSpec(p), credentialsEnv: rgw.credentialsEnv, stop: () => rgw.stop() };
    } else {
      const s3 = await startS3Server();
      server = { name: 's3rver (no RADOS Gateway here)', storeSpec: (p) => s3.storeSpec(p), credentialsEnv: s3.credentialsEnv, stop: () => s3.close() };
    }
    // local-dev as make demo builds it, plus a store and release signing (neither is part of the spec's identity).
    const signing = writeTestSigning(work.dir);
    await writeFile(join(work.dir, 'box.yaml'), mutateManifest(LOCAL_DEV_SPEC_PATH, [[['artifacts'], { store: server.storeSpec('real'), signing }]]));
    // On a port apt-cacher-ng can fetch from (it mishandles ports above 32767): the build's own apt cache carries it.
    mirror = await startVendorMirror(work.dir, { port: await freeProxyablePort() });
    // A real registry holding a stand-in image that the runtime layer puts into the image (layers.runtime.images),
    // through the build's image cache: saved by skopeo on the host, loaded by the guest's Docker.
    registry = await startRegistry();
    imageRef = `${registry.guestName}/imagebuild/stand-in:1.0`;
    await registry.push('imagebuild/stand-in:1.0', 'a stand-in image for the runtime layer');
    await writeFile(join(work.dir, 'gpu.yaml'), specAgainstMirror(join(work.dir, 'box.yaml'), mirror, [[['layers', 'runtime', 'images'], [imageRef]]]));
  }, 240_000);
  afterAll(async () => {
    await registry?.stop();
    await mirror?.served.stop();
    await server?.stop();
    await work?.cleanup();
  }, 60_000);

  it('builds the hardened base, seals, flattens, and verifies the artifact by booting it', async () => {
    const result = await execa('node', [BUILT_CLI, ...command()], { cwd: work.dir, reject: false, all: true });

    const versionDir = join(work.dir, 'output/local-dev/v0.1.0');
    expect(result.exitCode, result.all?.slice(-4000)).toBe(0);
    const manifest = ImageManifest.parse(JSON.parse(readFileSync(join(versionDir, 'image-manifest.json'), 'utf8')));
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', join(versionDir, 'local-dev-v0.1.0.qcow2')], { encoding: 'utf8' }));
    expect(manifest.layers.map((l) => [l.layer, l.reused, l.gate.status])).toEqual([['base', false, 'passed']]);
    expect(manifest.layers[0]!.gate.checks.find((c) => c.check === 'ansible_idempotent')).toMatchObject({ status: 'pass', measured: 0 });
    expect(manifest.os).toMatch(/^Debian GNU\/Linux 12/);
    expect(manifest.kernel).toMatch(/amd64$/);
    expect(manifest.nvidia_driver).toBeNull();
    expect(manifest.gpu_validated).toBe(false);
    expect(manifest.packer_version).toMatch(/^\d+\.\d+\.\d+$/);
    // Logged in as dev with the cache's verification key (users[].verify_login), as make demo does.
    expect(manifest.verify).toMatchObject({ status: 'passed', booted: true, build_account_refused: true, checked_as: 'dev', sha256_unchanged: true });
    expect(manifest.verify?.gate.status).toBe('passed');
    // Issue 18: GRUB for both firmwares on the GPT disk; the verification booted it under OVMF and SeaBIOS, each on a
    // disk 1 GiB bigger than the image (the base gate's root_fills_disk proves the first-boot grow), each first boot
    // with its own SSH host keys.
    expect(manifest.firmware).toEqual(['bios', 'uefi']);
    expect(manifest.layers[0]!.gate.checks.find((c) => c.check === 'boot_loaders')).toMatchObject({ status: 'pass', measured: ['bios', 'uefi'] });
    expect(manifest.verify?.boots?.map((b) => [b.firmware, b.booted, b.guest_firmware, b.gate_status, b.disk_grown_bytes])).toEqual([
      ['uefi', true, 'uefi', 'passed', 1024 ** 3],
      ['bios', true, 'bios', 'passed', 1024 ** 3],
    ]);
    expect(new Set(manifest.verify?.boots?.map((b) => b.ssh_host_key_sha256)).size).toBe(2);
    const grown = (manifest.verify?.gate.checks as { firmware: string; check: string; status: string }[]).filter((c) => c.check === 'root_fills_disk');
    expect(grown.map((c) => [c.firmware, c.status])).toEqual([['uefi', 'pass'], ['bios', 'pass']]);
    expect(info['backing-filename']).toBeUndefined();
    // The image, its SBOM and its provenance statement, each with the digest the manifest records, then the manifest.
    expect(readFileSync(join(versionDir, 'SHA256SUMS'), 'utf8').split('\n').filter(Boolean)).toEqual([
      `${manifest.checksum_sha256}  local-dev-v0.1.0.qcow2`,
      `${manifest.sbom?.sha256}  ${manifest.sbom?.file}`,
      `${manifest.provenance?.sha256}  ${manifest.provenance?.file}`,
      expect.stringMatching(/^[0-9a-f]{64} {2}image-manifest\.json$/),
    ]);
    expect(execFileSync('sha256sum', ['--check', '--quiet', 'SHA256SUMS'], { cwd: versionDir, encoding: 'utf8' })).toBe('');
    expect(result.all).toContain('not GPU-validated');
    // Ansible drove the build VMs through Mitogen where the host has it (CI installs Debian's ansible-mitogen).
    if (existsSync(DEBIAN_MITOGEN)) expect(result.all).toMatch(/Ansible: Mitogen \d+\.\d+\.\d+ \(mitogen_linear strategy\)/);
  }, 2_700_000); // 10-12 min on 2 cores with Mitogen, the rest of the suite beside it (17 min serial with linear Ansible)

  it('publishes the release signed to a real S3 server; download verifies the signature, the SBOM, the provenance and every byte', async () => {
    console.log(`real-build: the release store is ${server.name}`);
    const env = { ...process.env, ...server.credentialsEnv };
    const published = await execa('node', [BUILT_CLI, 'publish', 'v0.1.0', '--spec', 'box.yaml'], { cwd: work.dir, reject: false, all: true, env });
    const downloaded = await execa('node', [BUILT_CLI, 'download', 'v0.1.0', '--spec', 'box.yaml', '--dest', 'dl', '--json'], { cwd: work.dir, reject: false, all: true, env });

    expect(published.exitCode, published.all).toBe(0);
    expect(published.all).toMatch(/signed {3}SHA256:/);
    expect(downloaded.exitCode, downloaded.all?.slice(-2000)).toBe(0);
    const report = JSON.parse(downloaded.stdout) as { signature: { status: string; command: string } };
    expect(report.signature).toMatchObject({ status: 'verified', principal: TEST_SIGNER });
    const dl = join(work.dir, 'dl');
    expect((await readdir(dl)).sort()).toEqual(['SHA256SUMS', 'SHA256SUMS.sig', 'download.json', 'image-manifest.json', 'local-dev-v0.1.0.qcow2', 'provenance.intoto.json', 'sbom.cdx.json']);
    // What customer success runs by hand, with OpenSSH and coreutils alone.
    expect(execFileSync('sh', ['-c', report.signature.command], { cwd: dl, encoding: 'utf8' })).toContain(`Good "imagebuild-release" signature for ${TEST_SIGNER}`);
    expect(execFileSync('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: dl, encoding: 'utf8' }).match(/: OK$/gm)).toHaveLength(4);
  }, 600_000);

  it('flashes the downloaded release onto a disk 2 GiB bigger than the image, which boots under OVMF with no NVRAM entry, answers SSH and grows to fill it', async () => {
    const disk = join(work.dir, 'workstation-disk.raw');
    const imageBytes = 4 * 1024 ** 3;
    await writeFile(disk, '');
    await truncate(disk, imageBytes + 2 * 1024 ** 3);
    const flashed = await execa('node', [BUILT_CLI, 'flash', join(work.dir, 'dl'), '--device', disk, '--to-file', '--yes', '--spec', 'box.yaml', '--report', 'flash.json'], { cwd: work.dir, reject: false, all: true });
    expect(flashed.exitCode, flashed.all?.slice(-2000)).toBe(0);
    expect(JSON.parse(readFileSync(join(work.dir, 'flash.json'), 'utf8'))).toMatchObject({ compare: { result: 'identical' } });

    const vmDir = join(work.dir, 'flashed-boot');
    await mkdir(vmDir, { recursive: true });
    const vm = await bootVm({ image: disk, format: 'raw', firmware: 'uefi', workDir: vmDir, accelerator: 'tcg' });
    try {
      const login = await waitForSsh({ host: '127.0.0.1', port: vm.sshPort, username: 'dev', privateKey: cacheLayout(join(work.dir, '.imagebuild/cache')).verifyKey }, Date.now() + 300_000);
      expect(login.ok, `no SSH login as dev; serial: ${(await vm.serial()).slice(-2000)}`).toBe(true);
      if (!login.ok) return;
      const run = async (command: string) => (await login.session.exec(command)).stdout.trim();
      // Booted by UEFI from the removable path (OVMF's variable store was a fresh copy: no NVRAM boot entry).
      expect(await run('cat /sys/firmware/efi/fw_platform_size')).toBe('64');
      expect(await run('sudo -n ls /boot/efi/EFI/BOOT')).toContain('BOOTX64.EFI');
      // The root partition and filesystem filled the bigger disk; the backup GPT header moved to its end.
      expect(Number(await run('findmnt --bytes --noheadings --output SIZE /'))).toBeGreaterThan(imageBytes + 1024 ** 3);
      expect(await run('sudo -n sfdisk --verify /dev/vda 2>&1; echo "exit $?"')).toMatch(/No errors detected[\s\S]*exit 0$/);
      login.session.close();
    } finally {
      await vm.stop();
    }
  }, 900_000);

  it('runs the same command again as a no-op in seconds, with no Packer run', async () => {
    const buildsBefore = await readdir(join(work.dir, '.imagebuild/cache/builds'));

    const result = await execa('node', [BUILT_CLI, ...command()], { cwd: work.dir, reject: false, all: true });

    expect(result.exitCode, result.all).toBe(0);
    expect(result.all).toContain('already built from identical inputs');
    expect(await readdir(join(work.dir, '.imagebuild/cache/builds'))).toEqual(buildsBefore);
    expect(existsSync(join(work.dir, '.imagebuild/cache/lock'))).toBe(false);
  }, 120_000);

  it('builds v0.2.0 with the driver, runtime, frameworks and validation layers on the reused base, against the hermetic vendor mirror', async () => {
    const result = await execa('node', [BUILT_CLI, 'build', 'v0.2.0', '--spec', 'gpu.yaml', '--accel', 'tcg'], { cwd: work.dir, reject: false, all: true });

    const versionDir = join(work.dir, 'output/local-dev/v0.2.0');
    expect(result.exitCode, result.all?.slice(-6000)).toBe(0);
    const manifest = ImageManifest.parse(JSON.parse(readFileSync(join(versionDir, 'image-manifest.json'), 'utf8')));
    // The base layer is v0.1.0's (same inputs); every GPU layer ran its roles for real, then again with 0 changed.
    expect(manifest.layers.map((l) => [l.layer, l.reused, l.gate.status])).toEqual([
      ['base', true, 'passed'],
      ...['driver', 'runtime', 'frameworks', 'validation'].map((layer) => [layer, false, 'passed']),
    ]);
    for (const layer of manifest.layers.slice(1)) {
      expect(layer.gate.checks.find((c) => c.check === 'ansible_idempotent'), layer.layer).toMatchObject({ status: 'pass', measured: 0 });
      const gpuChecks = layer.gate.checks.filter((c) => c.gpu);
      expect(gpuChecks.every((c) => c.status === 'skipped'), `${layer.layer}: ${JSON.stringify(gpuChecks)}`).toBe(true);
    }
    // Read from the guest: the stand-ins' versions, never copied from the spec.
    expect(manifest).toMatchObject({ nvidia_driver: '580.95.05', gpu_validated: false });
    expect(manifest.cuda_version).toMatch(/^13\.0/);
    expect(manifest.frameworks).toEqual({ pytorch: '2.13.0+cu130', tensorflow: null, vllm: '0.29.0' });
    expect(manifest.components).toMatchObject({ nccl: '2.31.2', container_toolkit: '1.20.0' });
    expect(manifest.components?.cudnn).toMatch(/^9\.28\.1/);
    expect(manifest.stand_ins).toEqual(expect.arrayContaining(['deb:cuda-toolkit-13-0', 'pypi:torch']));
    expect(manifest.verify).toMatchObject({ status: 'passed', booted: true, build_account_refused: true, checked_as: 'dev', sha256_unchanged: true });
    expect(manifest.verify?.gate.status).toBe('passed');
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', join(versionDir, 'local-dev-v0.2.0.qcow2')], { encoding: 'utf8' }));
    expect(info['backing-filename']).toBeUndefined();
    // Every name a role asked the mirror for exists there. pip asks every index for every project, so an index's page
    // for a project it does not hold (PyPI's torch, PyTorch's vllm: the wheelhouse fill's one resolver run) is no miss.
    const projectPage = new RegExp(`^/(${PYPI_MIRROR_PATHS.pytorch}|${PYPI_MIRROR_PATHS.pypi})/[a-z0-9-]+/$`);
    expect(mirror.served.misses().filter((path) => !projectPage.test(path))).toEqual([]);
    // The runtime layer's Docker loaded the spec's image from the build's image cache, and the SBOM lists it.
    expect(result.all).toMatch(/image cache: 1 image\(s\), [\d.]+ KiB, 0 from the cache, [\d.]+ KiB downloaded; served on 127\.0\.0\.1:\d+/);
    expect(/TASK \[container_runtime : Load into Docker the image [^\]]+\][^\n]*\n[^\n]*?(ok|changed|skipping): \[default\]/.exec(result.all ?? '')?.[1]).toBe('changed');
    const sbom = JSON.parse(readFileSync(join(versionDir, 'sbom.cdx.json'), 'utf8')) as { components: { type: string; name: string; version?: string }[] };
    expect(sbom.components.filter((c) => c.type === 'container').map((c) => `${c.name}:${c.version}`)).toContain(imageRef);
    // The frameworks came from the build's pip wheelhouse, filled on the host from the mirror and served to the guest.
    // torch, its NCCL pin, vLLM and the spec's NCCL (local-dev has no TensorFlow).
    expect(result.all).toMatch(/pip wheelhouse [0-9a-f]{12}: 4 wheels, [\d.]+ KiB, [\d.]+ KiB downloaded; served on 127\.0\.0\.1:\d+/);
    expect(/TASK \[ai_frameworks : Install PyTorch, TensorFlow and vLLM from the build's wheelhouse\][^\n]*\n[^\n]*?(ok|changed|skipping): \[default\]/.exec(result.all ?? '')?.[1]).toBe('changed');
    expect(/TASK \[ai_frameworks : Install PyTorch, TensorFlow and vLLM from the indexes\][^\n]*\n[^\n]*?(ok|changed|skipping): \[default\]/.exec(result.all ?? '')?.[1]).toBe('skipping');
    // Debian 12's initramfs holds no nouveau.ko: the handler looked (lsinitramfs) and rebuilt nothing ("ok", not "changed").
    expect(/RUNNING HANDLER \[nvidia_driver : Rebuild the initramfs without nouveau\][^\n]*\n[^\n]*?(ok|changed): \[default\]/.exec(result.all ?? '')?.[1]).toBe('ok');
    // No GPU passed through: the modules have nothing to drive, so the driver role does not reboot the build VM for them.
    expect(/RUNNING HANDLER \[nvidia_driver : Reboot to load the NVIDIA kernel modules\][^\n]*\n[^\n]*?(ok|changed|skipping): \[default\]/.exec(result.all ?? '')?.[1]).toBe('skipping');
    expect(result.all).toContain('can never be published');
    // The GPU layers' apt went through the build's own apt-cacher-ng, which fetched the mirror's packages from the host's
    // loopback (Remap-loopback<port>) and filed them in the cache directory for the next build; it is gone with the build.
    expect(result.all).toMatch(/apt cache: apt-cacher-ng on 127\.0\.0\.1:\d+ \(pid \d+\)/);
    const aptCacheDir = cacheLayout(join(work.dir, '.imagebuild/cache')).aptCache;
    const transfers = readFileSync(aptProxyPaths(aptCacheDir).transferLog, 'utf8');
    expect(transfers).toMatch(new RegExp(`\\|I\\|\\d+\\|[^|]+\\|loopback${mirror.served.port}/\\S+/cuda-toolkit-13-0_[^|]+\\.deb\n`));
    expect(/apt cache: ([\d.]+) MiB served to the build VMs/.exec(result.all ?? '')?.[1]).not.toBe('0.0');
    const proxies = processesMentioning(aptCacheDir, 'cmdline').filter((p) => p.cmdline.startsWith('/usr/sbin/apt-cacher-ng '));
    expect(proxies.map((p) => p.cmdline), 'no apt-cacher-ng outlives its build').toEqual([]);
  }, 2_700_000);

  it('builds v0.3.0, a frameworks-layer change with the same packages, --offline: nothing from the mirror or any repository', async () => {
    // The frameworks gate's matmul size is in the frameworks layer's key, not in any package set: frameworks and
    // validation are built again, every package from the caches v0.2.0 filled.
    await writeFile(join(work.dir, 'gpu3.yaml'), specAgainstMirror(join(work.dir, 'box.yaml'), mirror, [[['layers', 'runtime', 'images'], [imageRef]], [['layers', 'frameworks', 'gate', 'matmul_size'], 2048]]));
    const aptCacheDir = cacheLayout(join(work.dir, '.imagebuild/cache')).aptCache;
    const transferLog = aptProxyPaths(aptCacheDir).transferLog;
    const logBefore = readFileSync(transferLog, 'utf8').length;
    const mirrorBefore = mirror.served.served();

    // No verification boot: v0.2.0's covered it, and two more boots would add ~3 min to CI for nothing this test asks.
    const result = await execa('node', [BUILT_CLI, 'build', 'v0.3.0', '--spec', 'gpu3.yaml', '--accel', 'tcg', '--offline', '--no-verify'], { cwd: work.dir, reject: false, all: true });

    expect(result.exitCode, result.all?.slice(-6000)).toBe(0);
    const manifest = ImageManifest.parse(JSON.parse(readFileSync(join(work.dir, 'output/local-dev/v0.3.0/image-manifest.json'), 'utf8')));
    expect(manifest.layers.map((l) => [l.layer, l.reused, l.gate.status])).toEqual([
      ['base', true, 'passed'], ['driver', true, 'passed'], ['runtime', true, 'passed'], ['frameworks', false, 'passed'], ['validation', false, 'passed'],
    ]);
    expect(manifest.frameworks).toEqual({ pytorch: '2.13.0+cu130', tensorflow: null, vllm: '0.29.0' });
    // Not one request reached the vendor mirror, and apt-cacher-ng (offline) fetched nothing from any repository.
    const mirrorAfter = mirror.served.served();
    expect([mirrorAfter.requests - mirrorBefore.requests, mirrorAfter.bytes - mirrorBefore.bytes]).toEqual([0, 0]);
    // (The bootstrap installed the frameworks' and validation's distribution packages, so apt may have had nothing to
    // fetch at all; whatever it asked for came from the pool.)
    const during = parseTransferLog(readFileSync(transferLog, 'utf8').slice(logBefore));
    expect(during.upstreamRequests).toBe(0);
    expect(result.all).toMatch(/apt cache: apt-cacher-ng on 127\.0\.0\.1:\d+ \(pid \d+\), pool \S+, offline: cached files only/);
    expect(result.all).toMatch(/pip wheelhouse [0-9a-f]{12}: 4 wheels, [\d.]+ KiB, from the cache \(verified, nothing downloaded\)/);
    expect(result.all).toMatch(/pip wheelhouse: [\d.]+ KiB served to the build VM, 0 B downloaded by the host for it \(hit [0-9a-f]{12}\)/);
    const proxies = processesMentioning(aptCacheDir, 'cmdline').filter((p) => p.cmdline.startsWith('/usr/sbin/apt-cacher-ng '));
    expect(proxies.map((p) => p.cmdline), 'no apt-cacher-ng outlives its build').toEqual([]);
  }, 1_800_000);

  it('refuses to publish v0.2.0: an image built against stand-ins never leaves the machine', async () => {
    const env = { ...process.env, ...server.credentialsEnv };
    const result = await execa('node', [BUILT_CLI, 'publish', 'v0.2.0', '--spec', 'gpu.yaml'], { cwd: work.dir, reject: false, all: true, env });

    expect(result.exitCode).toBe(2);
    expect(result.all).toMatch(/v0\.2\.0 was built against imagebuild's test stand-ins \(deb:.*\); such an image is never published/);
  }, 60_000);
});
