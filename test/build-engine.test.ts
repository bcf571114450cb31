import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { execa } from 'execa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildImage } from '../src/app/build/pipeline.js';
import type { BuildOptions } from '../src/app/build/options.js';
import { listCache, pruneCache, rollbackLayer } from '../src/app/cache-admin.js';
import { ImageManifest } from '../src/core/manifest/image-manifest.js';
import { GateFailedError, GateReportInvalidError, VersionExistsError } from '../src/errors/index.js';
import { processesMentioning } from './helpers/processes.js';
import { waitForOutput } from './helpers/wait.js';
import { BUILT_CLI, PROJECT_ROOT } from './helpers/project-root.js';
import { smallDemoSpec } from './helpers/spec-builders.js';
import { makeTempDir } from './helpers/temp-dir.js';
import { fakeBuildOptions } from './helpers/build-options.js';
import { FAKE_BIN, FAKE_BUILD_TOOLS, packerRuns } from './helpers/fake-tools.js';
import { requireTools } from './helpers/require-tools.js';

// The whole engine with real qemu-img chains, real hashing and the fake packer of test/fixtures/bin,
// which creates each overlay on the given backing file and replays recorded guest outputs.
const hasBuildTools = requireTools('test/build-engine.test.ts', ...FAKE_BUILD_TOOLS);

describe.skipIf(!hasBuildTools)('build engine with the fake packer', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let record: string;
  const savedPath = process.env.PATH;

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-engine-');
    record = join(work.dir, 'packer-runs.txt');
    process.env.PATH = `${FAKE_BIN}:${savedPath}`;
    process.env.FAKE_PACKER_RECORD = record;
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
  });
  afterAll(async () => {
    process.env.PATH = savedPath;
    delete process.env.FAKE_PACKER_RECORD;
    await work.cleanup();
  });
  beforeEach(async () => {
    await rm(record, { force: true });
    delete process.env.FAKE_PACKER_FAIL;
    delete process.env.FAKE_PACKER_GATE_OVERRIDE;
  });

  const options = (version: string, extra: Partial<BuildOptions> = {}): BuildOptions => fakeBuildOptions(work.dir, version, extra);
  const cacheKeys = async () => (await readdir(join(work.dir, '.imagebuild/cache/layers'))).filter((n) => !n.startsWith('.')).sort();

  it('builds every layer cold, gates each, and writes a flattened artifact with a valid manifest', async () => {
    const report = await buildImage(options('1.0.0'));

    const manifest = ImageManifest.parse(JSON.parse(readFileSync(report.manifestPath, 'utf8')));
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', report.artifact], { encoding: 'utf8' }));
    const sha = execFileSync('sha256sum', [report.artifact], { encoding: 'utf8' }).split(' ')[0];
    expect(report.status).toBe('built');
    expect(packerRuns(record)).toEqual(['build base', 'build driver', 'build runtime', 'build frameworks', 'build validation', 'build seal']);
    expect(report.layers.map((l) => l.action)).toEqual(['built', 'built', 'built', 'built', 'built']);
    expect(info['backing-filename']).toBeUndefined();
    expect(manifest.checksum_sha256).toBe(sha);
    expect(manifest.name).toBe('vault-cube-demo-box');
    expect(manifest.version).toBe('1.0.0');
    expect(manifest.gpu_validated).toBe(false);
    expect(report.gpuValidated).toBe(false);
    expect(await cacheKeys()).toEqual(report.layers.map((l) => l.key).sort());
  });

  it('writes the SBOM and the provenance statement beside the manifest, names both in it and lists both (and the manifest) in SHA256SUMS', async () => {
    const dir = join(work.dir, 'output/vault-cube-demo-box/v1.0.0');
    const manifest = ImageManifest.parse(JSON.parse(readFileSync(join(dir, 'image-manifest.json'), 'utf8')));
    const sbomText = readFileSync(join(dir, 'sbom.cdx.json'), 'utf8');
    const provenance = JSON.parse(readFileSync(join(dir, 'provenance.intoto.json'), 'utf8'));
    const sha = (file: string) => execFileSync('sha256sum', [join(dir, file)], { encoding: 'utf8' }).split(' ')[0];

    const checked = await execa('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir, reject: false });

    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(sbomText)).toBeNull();
    expect(JSON.parse(sbomText).metadata.component).toMatchObject({ name: 'vault-cube-demo-box', version: '1.0.0', hashes: [{ alg: 'SHA-256', content: manifest.checksum_sha256 }] });
    // The recorded seal inventory (test/fixtures/packer-replay/no-gpu/seal.inventory.json) is what the SBOM lists.
    expect(JSON.parse(sbomText).components.map((c: { purl?: string }) => c.purl)).toContain('pkg:pypi/torch@2.7.1%2Bcu128');
    expect(manifest.sbom).toEqual({ file: 'sbom.cdx.json', sha256: sha('sbom.cdx.json') });
    expect(manifest.provenance).toEqual({ file: 'provenance.intoto.json', sha256: sha('provenance.intoto.json') });
    expect(provenance).toMatchObject({ _type: 'https://in-toto.io/Statement/v1', predicateType: 'https://slsa.dev/provenance/v1', subject: [{ name: manifest.artifact, digest: { sha256: manifest.checksum_sha256 } }] });
    expect(provenance.predicate.buildDefinition.resolvedDependencies.filter((d: { name: string }) => d.name.startsWith('layer ')).map((d: { digest: { sha256: string } }) => d.digest.sha256)).toEqual(manifest.layers.map((l) => l.key));
    expect(provenance.predicate.runDetails.byproducts).toEqual([{ name: 'sbom.cdx.json', digest: { sha256: manifest.sbom!.sha256 }, mediaType: 'application/vnd.cyclonedx+json' }]);
    expect(checked.stdout.split('\n').sort()).toEqual([`${manifest.artifact}: OK`, 'image-manifest.json: OK', 'provenance.intoto.json: OK', 'sbom.cdx.json: OK'].sort());
    expect(existsSync(join(dir, 'reports/seal/inventory.json'))).toBe(true);
  });

  it('re-running the same version from identical inputs is a no-op with zero Packer runs', async () => {
    const report = await buildImage(options('1.0.0'));

    expect(report.status).toBe('unchanged');
    expect(packerRuns(record)).toEqual([]);
    expect(report.notices[0]).toContain('already built from identical inputs');
  });

  it('refuses the same version from different inputs', async () => {
    await writeFile(join(work.dir, 'changed.yaml'), smallDemoSpec([[['layers', 'validation', 'gate', 'soak_duration'], '1h']]));

    const build = buildImage(options('1.0.0', { specArg: 'changed.yaml' }));

    await expect(build).rejects.toBeInstanceOf(VersionExistsError);
    await expect(buildImage(options('1.0.0', { specArg: 'changed.yaml' }))).rejects.toThrow('versions are immutable');
    expect(packerRuns(record)).toEqual([]);
  });

  it('reuses every layer and the identical image for a new version with unchanged layers: no Packer run, no re-hash', async () => {
    const report = await buildImage(options('1.0.1'));

    const manifest = ImageManifest.parse(JSON.parse(readFileSync(report.manifestPath, 'utf8')));
    const previous = ImageManifest.parse(JSON.parse(readFileSync(join(work.dir, 'output/vault-cube-demo-box/v1.0.0/image-manifest.json'), 'utf8')));
    expect(report.layers.map((l) => l.action)).toEqual(['reused', 'reused', 'reused', 'reused', 'reused']);
    expect(packerRuns(record)).toEqual([]);
    expect(manifest.artifact_reused_from).toBe('1.0.0');
    expect(manifest.checksum_sha256).toBe(previous.checksum_sha256);
    expect(manifest.seal_key).toBe(previous.seal_key);
    expect(execFileSync('sha256sum', [report.artifact], { encoding: 'utf8' }).split(' ')[0]).toBe(manifest.checksum_sha256);
    // No seal ran: the SBOM is made anew for this version from the inventory v1.0.0 kept, which this release keeps too.
    const sbom = (version: string) => JSON.parse(readFileSync(join(work.dir, `output/vault-cube-demo-box/v${version}/sbom.cdx.json`), 'utf8'));
    expect(sbom('1.0.1').metadata.component.version).toBe('1.0.1');
    expect(sbom('1.0.1').components).toEqual(sbom('1.0.0').components);
    expect(readFileSync(join(work.dir, 'output/vault-cube-demo-box/v1.0.1/reports/seal/inventory.json'), 'utf8')).toBe(readFileSync(join(work.dir, 'output/vault-cube-demo-box/v1.0.0/reports/seal/inventory.json'), 'utf8'));
    expect(readFileSync(join(work.dir, 'output/vault-cube-demo-box/v1.0.1/SHA256SUMS'), 'utf8')).toContain(`${manifest.sbom!.sha256}  sbom.cdx.json`);
  });

  it('rebuilds only frameworks and validation after a frameworks change', async () => {
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec([[['layers', 'frameworks', 'gate', 'matmul_size'], 2048]]));

    const report = await buildImage(options('1.1.0'));

    expect(report.layers.map((l) => l.action)).toEqual(['reused', 'reused', 'reused', 'built', 'built']);
    expect(packerRuns(record)).toEqual(['build frameworks', 'build validation', 'build seal']);
  });

  it('stops at a failed gate, keeps the layer under failed/, caches nothing for it, and resumes from it', async () => {
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec([[['layers', 'driver', 'cudnn'], '9.27.0']]));
    await writeFile(
      join(work.dir, 'bad-driver-gate.json'),
      readFileSync(join(PROJECT_ROOT, 'test/fixtures/packer-replay/gpu/driver.gate.json'), 'utf8').replace('"value": 4,', '"value": 3,'),
    );
    process.env.FAKE_PACKER_GATE_OVERRIDE = `driver:${join(work.dir, 'bad-driver-gate.json')}`;
    const before = await cacheKeys();

    const failed = buildImage(options('1.2.0'));

    await expect(failed).rejects.toBeInstanceOf(GateFailedError);
    await expect(buildImage(options('1.2.0'))).rejects.toThrow(/driver gate failed: gpu_count measured 3, expected == 4/);
    expect(await cacheKeys()).toEqual(before);
    expect((await readdir(join(work.dir, '.imagebuild/cache/failed'))).some((d) => d.includes('-driver-'))).toBe(true);
    expect(existsSync(join(work.dir, 'output/vault-cube-demo-box/v1.2.0'))).toBe(false);

    delete process.env.FAKE_PACKER_GATE_OVERRIDE;
    await rm(record, { force: true });
    const resumed = await buildImage(options('1.2.0'));

    expect(resumed.layers.map((l) => l.action)).toEqual(['reused', 'built', 'built', 'built', 'built']);
    expect(packerRuns(record)).toEqual(['build driver', 'build runtime', 'build frameworks', 'build validation', 'build seal']);
  });

  it('keeps a Packer failure under failed/ with its log and says where', async () => {
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec([[['layers', 'runtime', 'docker_default_shm_size'], '16G']]));
    process.env.FAKE_PACKER_FAIL = 'runtime';

    const failed = buildImage(options('1.3.0'));

    await expect(failed).rejects.toThrow(/packer build runtime\.pkr\.hcl failed: exited with 1; log: .*runtime\.log/);
    const failedDirs = await readdir(join(work.dir, '.imagebuild/cache/failed'));
    const runtimeFailure = failedDirs.find((d) => d.includes('-runtime-'))!;
    expect(readFileSync(join(work.dir, '.imagebuild/cache/failed', runtimeFailure, 'runtime.log'), 'utf8')).toContain('recorded failure');
  });

  it('lists the cache with the current plan marked, then rolls back a layer so the next build rebuilds from it', async () => {
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec([[['layers', 'driver', 'cudnn'], '9.27.0']]));
    const listing = await listCache({ specArg: 'box.yaml', cwd: work.dir, hostProfile: 'cpu' });

    const rollback = await rollbackLayer({ specArg: 'box.yaml', cwd: work.dir, layer: 'runtime', keepFailed: false, hostProfile: 'cpu' });
    const after = await buildImage(options('1.2.1'));

    expect(listing.layers.filter((l) => l.inCurrentPlan).map((l) => l.layer)).toEqual(['base', 'driver', 'runtime', 'frameworks', 'validation']);
    expect(rollback.removedLayers.map((l) => l.layer)).toEqual(['runtime', 'frameworks', 'validation']);
    expect(rollback.removedFailed.some((f) => f.includes('-runtime-'))).toBe(true);
    expect(after.layers.map((l) => l.action)).toEqual(['reused', 'reused', 'built', 'built', 'built']);
  });

  it('prunes only what no release and no current plan uses, and only when asked', async () => {
    const before = await cacheKeys();

    const dryRun = await pruneCache({ specArg: 'box.yaml', cwd: work.dir, apply: false, keepFailed: false, hostProfile: 'cpu' });
    const applied = await pruneCache({ specArg: 'box.yaml', cwd: work.dir, apply: true, keepFailed: false, hostProfile: 'cpu' });

    expect(await cacheKeys()).toEqual(before.filter((k) => !applied.removed.some((r) => r.path.endsWith(k))));
    expect(dryRun.removed.map((r) => r.path)).toEqual(applied.removed.map((r) => r.path));
    expect(applied.removed.some((r) => r.path.includes('/failed/'))).toBe(true);
    expect(applied.removed.some((r) => r.path.includes('/layers/'))).toBe(false);
    expect(existsSync(join(work.dir, '.imagebuild/cache/failed')) ? await readdir(join(work.dir, '.imagebuild/cache/failed')) : []).toEqual([]);
  });

  it('refuses a second build while the cache is locked, naming the holder', async () => {
    const lockPath = join(work.dir, '.imagebuild/cache/lock');
    await writeFile(lockPath, JSON.stringify({ pid: process.pid, hostname: (await import('node:os')).hostname(), command: 'imagebuild build v9.9.9', startedAt: 'now' }));

    const locked = buildImage(options('1.4.0'));

    await expect(locked).rejects.toThrow(`held by pid ${process.pid}`);
    await rm(lockPath);
  });

  it('refuses in preflight when a tool is missing, before any Packer run', async () => {
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec([[['layers', 'runtime', 'docker_default_shm_size'], '32G']]));
    const path = process.env.PATH;
    process.env.PATH = `${FAKE_BIN}:/usr/bin:/bin`.split(':').filter((d) => !existsSync(join(d, 'qemu-system-x86_64')) || d === FAKE_BIN).join(':');

    try {
      await expect(buildImage(options('1.5.0'))).rejects.toThrow('preflight: tool: qemu-system-x86_64 not found on PATH');
    } finally {
      process.env.PATH = path;
    }
    expect(packerRuns(record)).toEqual([]);
  });
});

describe.skipIf(!hasBuildTools)('build engine: host problems and a moved cache', () => {
  it('refuses --accel kvm in preflight when KVM cannot boot a kernel here', async () => {
    const work = await makeTempDir('imagebuild-kvm-');
    const savedPath = process.env.PATH;
    process.env.PATH = `${FAKE_BIN}:${savedPath}`;
    try {
      await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
      const kvmWorks = existsSync('/dev/kvm') && (await import('../src/adapters/host/probe-host.js').then((m) => m.hostKernel())) !== undefined;

      const build = buildImage({ specArg: 'box.yaml', version: '1.0.0', cwd: work.dir, accel: 'kvm', hostProfile: 'cpu', renderer: 'silent', signal: new AbortController().signal, skipVerify: true });

      if (kvmWorks) await build.catch(() => undefined);
      else await expect(build).rejects.toThrow(/^preflight: kvm: .*use --accel tcg/m);
    } finally {
      process.env.PATH = savedPath;
      await work.cleanup();
    }
  });

  it('re-points overlays at their parents when the whole project (cache included) has moved', async () => {
    const first = await makeTempDir('imagebuild-move-a-');
    const second = await makeTempDir('imagebuild-move-b-');
    const savedPath = process.env.PATH;
    process.env.PATH = `${FAKE_BIN}:${savedPath}`;
    try {
      await writeFile(join(first.dir, 'box.yaml'), smallDemoSpec());
      const base = { specArg: 'box.yaml', hostProfile: 'cpu' as const, renderer: 'silent' as const, signal: new AbortController().signal, skipVerify: true };
      await buildImage({ ...base, version: '1.0.0', cwd: first.dir });
      await execa('cp', ['-a', `${first.dir}/.`, second.dir]);
      await rm(join(first.dir, '.imagebuild'), { recursive: true });

      const moved = await buildImage({ ...base, version: '1.0.1', cwd: second.dir });

      const driverKey = moved.layers[1]!.key;
      const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', join(second.dir, '.imagebuild/cache/layers', driverKey, 'layer.qcow2')], { encoding: 'utf8' }));
      expect(moved.layers.map((l) => l.action)).toEqual(['reused', 'reused', 'reused', 'reused', 'reused']);
      expect(info['backing-filename']).toBe(join(second.dir, '.imagebuild/cache/layers', moved.layers[0]!.key, 'layer.qcow2'));
      expect(moved.notices.filter((n) => n.includes('cache moved'))).toHaveLength(4);
    } finally {
      process.env.PATH = savedPath;
      await first.cleanup();
      await second.cleanup();
    }
  });
});

describe.skipIf(!hasBuildTools)('a seal that brings back no inventory', () => {
  it('fails the build with one line naming the missing inventory, and publishes no release', async () => {
    const work = await makeTempDir('imagebuild-no-inventory-');
    const savedPath = process.env.PATH;
    const replay = join(work.dir, 'replay');
    await execa('cp', ['-a', join(PROJECT_ROOT, 'test/fixtures/packer-replay/no-gpu'), replay]);
    await rm(join(replay, 'seal.inventory.json'));
    process.env.PATH = `${FAKE_BIN}:${savedPath}`;
    process.env.FAKE_PACKER_REPLAY = replay;
    try {
      await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());

      const error = await buildImage({ specArg: 'box.yaml', version: '1.0.0', cwd: work.dir, hostProfile: 'cpu', renderer: 'silent', skipVerify: true, signal: new AbortController().signal }).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(GateReportInvalidError);
      expect((error as Error).message).toMatch(/reports\/seal\/inventory\.json: missing: the seal step brought back no inventory of the image/);
      expect(existsSync(join(work.dir, 'output/vault-cube-demo-box/v1.0.0'))).toBe(false);
    } finally {
      process.env.PATH = savedPath;
      delete process.env.FAKE_PACKER_REPLAY;
      await work.cleanup();
    }
  });
});

describe.skipIf(!hasBuildTools)('interrupting a build', () => {
  it('SIGINT mid-layer stops Packer and its VM, registers nothing half-done, releases the lock, and says how to resume', async () => {
    const work = await makeTempDir('imagebuild-sigint-');
    try {
      await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
      const child = execa('node', [BUILT_CLI, 'build', 'v1.0.0', '--spec', 'box.yaml', '--host-profile', 'cpu', '--no-verify'], {
        cwd: work.dir,
        env: { PATH: `${FAKE_BIN}:${process.env.PATH}`, FAKE_PACKER_HANG: 'runtime' },
        reject: false,
        all: true,
      });
      await waitForOutput(child.all, 'Waiting for SSH', 60_000, 'no hang seen: ');

      child.kill('SIGINT');
      const result = await child;

      const layers = (await readdir(join(work.dir, '.imagebuild/cache/layers'))).filter((n) => !n.startsWith('.'));
      expect(result.exitCode).toBe(130);
      expect(result.all).toContain('re-run the same command to resume from runtime');
      // Packer and its sleeping "VM" are gone (found by the test's directory, not by name: other tests hang theirs too).
      expect(processesMentioning(work.dir)).toEqual([]);
      expect(layers).toHaveLength(2);
      expect(existsSync(join(work.dir, '.imagebuild/cache/lock'))).toBe(false);
    } finally {
      await work.cleanup();
    }
  });
});
