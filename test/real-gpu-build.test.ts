import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageManifest } from '../src/core/manifest/image-manifest.js';
import { BUILT_CLI } from './helpers/project-root.js';
import { LOCAL_DEV_SPEC_PATH, mutateManifest } from './helpers/spec-builders.js';
import { makeTempDir } from './helpers/temp-dir.js';
import { missingTools, requireTools } from './helpers/require-tools.js';
import { APT_MIRROR_PATHS, buildAptMirror } from './vendor-mirror/apt-mirror.js';
import { buildPypiMirror } from './vendor-mirror/pypi-mirror.js';
import { serveMirror, type ServedMirror } from './vendor-mirror/serve-mirror.js';

// All five layers for real, without a GPU: mmdebstrap, the real Packer (Debian's 1.6.6 in CI) driving real
// QEMU under TCG, the real roles with their idempotence runs, the guest gates, seal, flatten and the verification
// boot logged in as a spec user. NVIDIA's repositories and PyPI are the hermetic vendor mirror (test/vendor-mirror):
// stand-in packages served on the host's loopback, which the build guests reach as 10.0.2.2. Debian's own packages
// come from Debian's mirror, as in every build here. GPU checks are skipped (nvidia-smi fails as it does without a
// GPU), so the image is not GPU-validated, and its manifest lists the stand-ins, so it can never be published.
// Not in CI yet (issue 16): the GPU layers no longer read Debian's lists, but the driver role's initramfs rebuild
// under TCG is the next bottleneck (docs/known-issues.md has the measurements). IMAGEBUILD_REAL_GPU_BUILD=1 runs it.
const OPTED_IN = process.env.IMAGEBUILD_REAL_GPU_BUILD === '1';
const TOOLS = ['packer', 'qemu-system-x86_64', 'qemu-img', 'mmdebstrap', 'ansible-playbook', 'sfdisk', 'mke2fs', 'apt-ftparchive', 'gpg', 'dpkg-deb', 'objcopy', 'gcc'];
const missing = !OPTED_IN || requireTools('test/real-gpu-build.test.ts', ...TOOLS) ? [] : missingTools(...TOOLS);
const isRoot = process.getuid?.() === 0;
if (OPTED_IN && !isRoot && process.env.CI) throw new Error('the real build test needs root in CI');

/** What the bootstrap installs at native speed so the TCG guests' roles only check them (DKMS, headers, Python). */
const GPU_LAYER_INCLUDES = ['dkms', 'linux-headers-amd64', 'build-essential', 'python3-venv', 'python3-dev', 'python3-setuptools', 'htop', 'iotop'];

const skipReason = !OPTED_IN ? ' — skipped: set IMAGEBUILD_REAL_GPU_BUILD=1 (not in CI yet, see docs/known-issues.md)' : missing.length > 0 ? ` — skipped: ${missing.join(', ')} missing` : '';
describe.skipIf(!OPTED_IN || missing.length > 0 || !isRoot)(`real build of all five layers against the hermetic vendor mirror (TCG)${skipReason}`, () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let mirror: ServedMirror;
  // No --verify-key: local-dev's dev user has verify_login, so the verification boot logs in with the cache's key.
  const command = () => ['build', 'v0.2.0', '--spec', 'gpu.yaml', '--accel', 'tcg'];

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-real-gpu-');
    const root = join(work.dir, 'mirror');
    await mkdir(root);
    mirror = await serveMirror(root);
    await buildAptMirror({ dir: root, guestUrl: mirror.guestUrl });
    const pypi = await buildPypiMirror({ dir: root });
    const { pytorchIndexUrl, pypiIndexUrl } = pypi.indexUrls(mirror.guestUrl);
    const spec = mutateManifest(LOCAL_DEV_SPEC_PATH, [
      [['name'], 'local-dev-gpu'],
      [['os', 'source', 'include'], [...includesOf(LOCAL_DEV_SPEC_PATH), ...GPU_LAYER_INCLUDES]],
      [['layers', 'driver', 'repository'], { url: `${mirror.guestUrl}/${APT_MIRROR_PATHS.debian12}/` }],
      [['layers', 'runtime', 'repository'], { url: `${mirror.guestUrl}/libnvidia-container/stable/deb/$(ARCH)`, gpgkey_url: `${mirror.guestUrl}/${APT_MIRROR_PATHS.containerToolkitGpgKey}` }],
      [['layers', 'frameworks', 'pytorch', 'index_url'], pytorchIndexUrl],
      [['layers', 'frameworks', 'pip'], { index_url: pypiIndexUrl }],
      // An absolute path: the role fetches no model from Hugging Face (the vLLM check is skipped without a GPU anyway).
      [['layers', 'validation', 'gate', 'vllm_model'], '/opt/models/none'],
      [['artifacts'], { store: { kind: 'filesystem', dir: 'store' } }],
    ]);
    await writeFile(join(work.dir, 'gpu.yaml'), spec);
  }, 300_000);

  afterAll(async () => {
    await mirror?.stop();
    await work?.cleanup();
  });

  it('builds base, driver, runtime, frameworks and validation, each gated with an idempotent re-run, and verifies the artifact', async () => {
    const result = await execa('node', [BUILT_CLI, ...command()], { cwd: work.dir, reject: false, all: true });

    const versionDir = join(work.dir, 'output/local-dev-gpu/v0.2.0');
    expect(result.exitCode, result.all?.slice(-6000)).toBe(0);
    const manifest = ImageManifest.parse(JSON.parse(readFileSync(join(versionDir, 'image-manifest.json'), 'utf8')));
    expect(manifest.layers.map((l) => [l.layer, l.reused, l.gate.status])).toEqual(
      ['base', 'driver', 'runtime', 'frameworks', 'validation'].map((layer) => [layer, false, 'passed']),
    );
    for (const layer of manifest.layers) {
      expect(layer.gate.checks.find((c) => c.check === 'ansible_idempotent'), layer.layer).toMatchObject({ status: 'pass', measured: 0 });
      expect(layer.gate.checks.filter((c) => c.gpu).every((c) => c.status === 'skipped'), layer.layer).toBe(true);
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
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', join(versionDir, 'local-dev-gpu-v0.2.0.qcow2')], { encoding: 'utf8' }));
    expect(info['backing-filename']).toBeUndefined();
    expect(mirror.misses()).toEqual([]);
    expect(result.all).toContain('can never be published');
  }, 3_600_000);

  it('refuses to publish it: an image built against stand-ins never leaves the machine', async () => {
    const result = await execa('node', [BUILT_CLI, 'publish', 'v0.2.0', '--spec', 'gpu.yaml'], { cwd: work.dir, reject: false, all: true });

    expect(result.exitCode).toBe(2);
    expect(result.all).toMatch(/v0\.2\.0 was built against imagebuild's test stand-ins \(deb:.*\); such an image is never published/);
  }, 60_000);
});

/** The bootstrap's include list of a shipped spec. */
function includesOf(path: string): string[] {
  const match = /include: \[([^\]]*)\]/s.exec(readFileSync(path, 'utf8'));
  return (match?.[1] ?? '').split(',').map((name) => name.trim()).filter((name) => name.length > 0);
}
