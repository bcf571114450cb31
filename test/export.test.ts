// `imagebuild export` end to end with the real tools: a small qcow2 made with qemu-img and qemu-io as a
// release in output/<name>/v1.0.0/ (manifest, SBOM, provenance, SHA256SUMS), exported to raw, raw.xz
// and vmdk with bmaptool block maps, then checked with qemu-img, xz, bmaptool and sha256sum, published
// to a filesystem store, and run through the CLI in a process of its own (errors, a SIGKILL mid-export).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { exportRelease, type ExportProgress } from '../src/app/export-image.js';
import { publishRelease } from '../src/app/release-publish.js';
import { readReleaseIndex } from '../src/app/release-store.js';
import { openStore } from '../src/adapters/store/open-store.js';
import { releaseSumsText } from '../src/adapters/workspace/release-layout.js';
import { ImageManifest, serializeManifest } from '../src/core/manifest/image-manifest.js';
import { assembleProvenance, restateProvenanceSubjects } from '../src/core/provenance/image-provenance.js';
import { createExportProgressRenderer, parseExportFormats } from '../src/cli/commands/export.js';
import { UsageError } from '../src/errors/index.js';
import { writeReleaseProject } from './helpers/local-release.js';
import { PROJECT_ROOT } from './helpers/project-root.js';
import { TSX_LOADER } from './helpers/release-project.js';
import { requireTools } from './helpers/require-tools.js';
import { DEMO_NAME } from './helpers/spec-builders.js';
import { useTempDir } from './helpers/temp-dir.js';
import { testManifest } from './helpers/test-manifest.js';
import { sleep } from './helpers/wait.js';

const HAVE_TOOLS = requireTools('test/export.test.ts', 'qemu-img', 'qemu-io', 'xz', 'bmaptool', 'sha256sum');
const work = useTempDir('imagebuild-export-');
const MiB = 1024 * 1024;
const VERSION = '1.0.0';
const BASE = `${DEMO_NAME}-v${VERSION}`;
const CLI = join(PROJECT_ROOT, 'src/cli/bin.ts');

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * A project (box.yaml naming a filesystem store) with release v1.0.0 built as a build leaves it: a
 * 64 MiB qcow2 holding data at a few offsets (random bytes where `randomMiB` is given, so xz takes a
 * while), read-only, its manifest, SBOM, provenance statement and SHA256SUMS.
 */
async function makeRelease(options: { randomMiB?: number } = {}): Promise<{ specPath: string; dir: string; manifest: ImageManifest; qcow2: string }> {
  const { specPath, outputRoot } = await writeReleaseProject(work.dir, { kind: 'filesystem', dir: 'release-store' });
  const dir = join(outputRoot, `v${VERSION}`);
  await mkdir(dir, { recursive: true });
  const qcow2 = join(dir, `${BASE}.qcow2`);
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2, '64M']);
  await execa('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 1M', '-c', 'write -P 0xa5 20M 3M', '-c', 'write -P 0x11 63M 512k', qcow2]);
  if (options.randomMiB !== undefined) {
    const random = join(work.dir, 'random.bin');
    await execa('head', ['-c', String(options.randomMiB * MiB), '/dev/urandom'], { stdout: { file: random } });
    await execa('qemu-io', ['-f', 'qcow2', '-c', `write -s ${random} 24M ${options.randomMiB}M`, qcow2]);
  }
  await chmod(qcow2, 0o444);
  const sbomText = '{"bomFormat":"CycloneDX","specVersion":"1.6"}\n';
  await writeFile(join(dir, 'sbom.cdx.json'), sbomText);
  const described = testManifest({
    name: DEMO_NAME,
    spec_name: DEMO_NAME,
    version: VERSION,
    artifact: `${BASE}.qcow2`,
    checksum_sha256: await sha256Of(qcow2),
    size_bytes: (await stat(qcow2)).size,
    sbom: { file: 'sbom.cdx.json', sha256: createHash('sha256').update(sbomText).digest('hex') },
  });
  const provenance = assembleProvenance({
    manifest: described,
    source: { kind: 'cloud-image', url: 'https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img', checksum: `sha256:${'c'.repeat(64)}` } as never,
    projectDigests: { 'ansible/site.yml': 'd'.repeat(64) },
    byproducts: [{ name: 'sbom.cdx.json', sha256: described.sbom!.sha256, mediaType: 'application/vnd.cyclonedx+json' }],
    startedOn: '2026-01-15T10:00:00.000Z',
    finishedOn: '2026-01-15T10:30:00.000Z',
    invocationId: 'urn:uuid:00000000-0000-4000-8000-000000000000',
    runner: { kind: 'local' },
    builderVersion: '0.9.0',
  });
  await writeFile(join(dir, 'provenance.intoto.json'), provenance);
  const manifest = ImageManifest.parse({ ...described, provenance: { file: 'provenance.intoto.json', sha256: createHash('sha256').update(provenance).digest('hex') } });
  await writeFile(join(dir, 'image-manifest.json'), serializeManifest(manifest));
  await writeFile(join(dir, 'SHA256SUMS'), releaseSumsText(manifest));
  return { specPath, dir, manifest, qcow2 };
}

async function readManifestIn(dir: string): Promise<ImageManifest> {
  return ImageManifest.parse(JSON.parse(await readFile(join(dir, 'image-manifest.json'), 'utf8')));
}

/** Each file's inode and mtime: what a no-op must leave alone. */
async function fingerprints(dir: string): Promise<Record<string, string>> {
  const names = (await readdir(dir)).sort();
  return Object.fromEntries(await Promise.all(names.map(async (n) => [n, `${(await stat(join(dir, n))).ino}:${(await stat(join(dir, n))).mtimeMs}`] as const)));
}

function runCli(args: readonly string[], env: Record<string, string> = {}) {
  return execa(process.execPath, ['--import', TSX_LOADER, CLI, ...args], {
    cwd: work.dir,
    reject: false,
    extendEnv: false,
    detached: true,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', NO_COLOR: '1', ...env },
  });
}

describe('parseExportFormats', () => {
  it('takes a comma list in the order the formats are written and refuses anything else naming the valid ones', () => {
    expect(parseExportFormats('vmdk,raw.xz,raw,vmdk')).toEqual(['raw', 'raw.xz', 'vmdk']);
    expect(() => parseExportFormats(undefined)).toThrow(/--format is required; valid formats: raw, raw.xz, vmdk/);
    expect(() => parseExportFormats('raw,qcow3')).toThrow(UsageError);
    expect(() => parseExportFormats('raw,qcow3')).toThrow('unknown format "qcow3"; valid formats: raw, raw.xz, vmdk');
  });
});

describe.skipIf(!HAVE_TOOLS)('imagebuild export', () => {
  it('writes raw, raw.xz and vmdk with block maps that the real tools accept, recorded in the manifest, SHA256SUMS and provenance', async () => {
    const { specPath, dir, qcow2, manifest: before } = await makeRelease();
    const progress: ExportProgress[] = [];

    const report = await exportRelease({ specArg: specPath, cwd: work.dir, version: VERSION, formats: ['raw', 'raw.xz', 'vmdk'], bmap: true, onProgress: (p) => progress.push(p) });

    const raw = join(dir, `${BASE}.raw`);
    const rawXz = join(dir, `${BASE}.raw.xz`);
    const vmdk = join(dir, `${BASE}.vmdk`);
    expect(report.exports.map((e) => [e.format, e.status, e.path])).toEqual([
      ['raw', 'written', raw],
      ['raw.xz', 'written', rawXz],
      ['vmdk', 'written', vmdk],
    ]);
    // raw: the very bytes qemu-img convert -O raw makes, and sparse.
    const reference = join(work.dir, 'reference.raw');
    await execa('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', qcow2, reference]);
    expect(await sha256Of(raw)).toBe(await sha256Of(reference));
    const rawStat = await stat(raw);
    expect(rawStat.size).toBe(64 * MiB);
    expect(rawStat.blocks * 512).toBeLessThan(16 * MiB);
    // vmdk: the same disk, as qemu-img sees it.
    await expect(execa('qemu-img', ['compare', '-f', 'vmdk', '-F', 'qcow2', vmdk, qcow2])).resolves.toMatchObject({ exitCode: 0 });
    expect(JSON.parse((await execa('qemu-img', ['info', '--output=json', vmdk])).stdout)).toMatchObject({ format: 'vmdk', 'format-specific': { data: { 'create-type': 'streamOptimized' } } });
    // raw.xz: decompresses to the raw.
    const decompressed = join(work.dir, 'decompressed.raw');
    await execa('xz', ['-dc', rawXz], { stdout: { file: decompressed } });
    expect(await sha256Of(decompressed)).toBe(await sha256Of(raw));
    // The block maps: bmaptool copy onto a file reproduces the disk, from the raw and from the raw.xz.
    for (const image of [raw, rawXz]) {
      const target = join(work.dir, 'target.img');
      await execa('truncate', ['-s', '0', target]);
      await execa('truncate', ['-s', '64M', target]);
      await execa('bmaptool', ['copy', '--bmap', `${image}.bmap`, image, target]);
      expect(await sha256Of(target)).toBe(await sha256Of(reference));
    }
    // SHA256SUMS: the old lines kept, every new file listed, the rewritten manifest last, and sha256sum -c agrees.
    const sums = await readFile(join(dir, 'SHA256SUMS'), 'utf8');
    expect(sums.split('\n').filter(Boolean).map((l) => l.split('  ')[1])).toEqual([
      `${BASE}.qcow2`,
      'sbom.cdx.json',
      'provenance.intoto.json',
      `${BASE}.raw`,
      `${BASE}.raw.bmap`,
      `${BASE}.raw.xz`,
      `${BASE}.raw.xz.bmap`,
      `${BASE}.vmdk`,
      'image-manifest.json',
    ]);
    expect(sums.startsWith(`${before.checksum_sha256}  ${BASE}.qcow2\n${before.sbom!.sha256}  sbom.cdx.json\n`)).toBe(true);
    await expect(execa('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: dir })).resolves.toMatchObject({ exitCode: 0 });
    // The manifest records each export (and still validates); the provenance names them as subjects.
    const manifest = await readManifestIn(dir);
    expect(manifest.exports?.map((e) => [e.format, e.file, e.size_bytes, e.bmap?.file])).toEqual([
      ['raw', `${BASE}.raw`, 64 * MiB, `${BASE}.raw.bmap`],
      ['raw.xz', `${BASE}.raw.xz`, (await stat(rawXz)).size, `${BASE}.raw.xz.bmap`],
      ['vmdk', `${BASE}.vmdk`, (await stat(vmdk)).size, undefined],
    ]);
    expect(manifest.exports?.[0]?.sha256).toBe(await sha256Of(raw));
    const provenanceText = await readFile(join(dir, 'provenance.intoto.json'), 'utf8');
    expect(manifest.provenance?.sha256).toBe(createHash('sha256').update(provenanceText).digest('hex'));
    const statement = JSON.parse(provenanceText) as { subject: { name: string; digest: { sha256: string } }[]; predicate: { runDetails: { byproducts: { name: string }[] } } };
    expect(statement.subject.map((s) => [s.name, s.digest.sha256])).toEqual([
      [`${BASE}.qcow2`, before.checksum_sha256],
      ...manifest.exports!.map((e) => [e.file, e.sha256]),
    ]);
    expect(statement.predicate.runDetails.byproducts.map((b) => b.name)).toEqual(['sbom.cdx.json', `${BASE}.raw.bmap`, `${BASE}.raw.xz.bmap`]);
    // Read-only like the qcow2, and no temporary file left behind.
    for (const e of report.exports) expect((await stat(e.path)).mode & 0o777).toBe(0o444);
    expect((await readdir(dir)).filter((n) => n.startsWith('.'))).toEqual([]);
    // Progress for each step.
    expect(new Set(progress.filter((p) => p.done).map((p) => `${p.action} ${p.file}`))).toEqual(
      new Set([`verify ${BASE}.qcow2`, `convert ${BASE}.raw`, `hash ${BASE}.raw`, `map ${BASE}.raw.bmap`, `compress ${BASE}.raw.xz`, `map ${BASE}.raw.xz.bmap`, `convert ${BASE}.vmdk`, `hash ${BASE}.vmdk`]),
    );
  });

  it('makes a raw.xz alone from a temporary raw that does not stay', async () => {
    const { specPath, dir, qcow2 } = await makeRelease();

    await exportRelease({ specArg: specPath, cwd: work.dir, version: VERSION, formats: ['raw.xz'], bmap: false });

    const reference = join(work.dir, 'reference.raw');
    await execa('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', qcow2, reference]);
    const decompressed = join(work.dir, 'decompressed.raw');
    await execa('xz', ['-dc', join(dir, `${BASE}.raw.xz`)], { stdout: { file: decompressed } });
    expect(await sha256Of(decompressed)).toBe(await sha256Of(reference));
    expect((await readdir(dir)).sort()).toEqual([`${BASE}.qcow2`, `${BASE}.raw.xz`, 'SHA256SUMS', 'image-manifest.json', 'provenance.intoto.json', 'sbom.cdx.json'].sort());
    expect((await readManifestIn(dir)).exports?.map((e) => e.format)).toEqual(['raw.xz']);
  });

  it('is a no-op when run again, adds a format or a block map later, and makes a changed export again', async () => {
    const { specPath, dir } = await makeRelease();
    const options = { specArg: specPath, cwd: work.dir, version: VERSION };
    await exportRelease({ ...options, formats: ['raw', 'vmdk'], bmap: false });
    const first = await fingerprints(dir);

    const again = await exportRelease({ ...options, formats: ['raw', 'vmdk'], bmap: false });

    expect(again.exports.map((e) => e.status)).toEqual(['unchanged', 'unchanged']);
    expect(again.notices).toEqual([]);
    expect(await fingerprints(dir)).toEqual(first);

    const mapped = await exportRelease({ ...options, formats: ['raw', 'raw.xz'], bmap: true });

    expect(mapped.exports.map((e) => [e.format, e.status])).toEqual([
      ['raw', 'mapped'],
      ['raw.xz', 'written'],
    ]);
    const afterMap = await readManifestIn(dir);
    expect(afterMap.exports?.map((e) => [e.format, e.bmap?.file])).toEqual([
      ['raw', `${BASE}.raw.bmap`],
      ['raw.xz', `${BASE}.raw.xz.bmap`],
      ['vmdk', undefined],
    ]);
    expect((await stat(join(dir, `${BASE}.raw`))).ino).toBe(Number(first[`${BASE}.raw`]!.split(':')[0]));

    const vmdk = join(dir, `${BASE}.vmdk`);
    await chmod(vmdk, 0o644);
    await writeFile(vmdk, 'not a vmdk any more');
    const repaired = await exportRelease({ ...options, formats: ['vmdk'], bmap: false });

    expect(repaired.exports.map((e) => e.status)).toEqual(['written']);
    expect(repaired.notices.join('\n')).toMatch(/vmdk is \d+ bytes, the manifest says \d+; made again/);
    await expect(execa('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: dir })).resolves.toMatchObject({ exitCode: 0 });
    expect((await readManifestIn(dir)).exports?.map((e) => e.format)).toEqual(['raw', 'raw.xz', 'vmdk']);
  });

  it('refuses a qcow2 that no longer matches its manifest and writes nothing', async () => {
    const { specPath, dir, qcow2 } = await makeRelease();
    await chmod(qcow2, 0o644);
    // Over data already there: the same size, other bytes.
    await execa('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x77 0 64k', qcow2]);
    const before = await fingerprints(dir);

    const error = await exportRelease({ specArg: specPath, cwd: work.dir, version: VERSION, formats: ['raw'], bmap: false }).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    expect((error as Error).message).toMatch(/no longer matches its manifest .*nothing was exported/);
    expect(await fingerprints(dir)).toEqual(before);
  });

  it('takes up a provenance statement an export restated before it was killed, and refuses one edited by hand', async () => {
    const { specPath, dir, manifest } = await makeRelease();
    const path = join(dir, 'provenance.intoto.json');
    const built = await readFile(path, 'utf8');
    // Killed after the statement was written, before the manifest: the statement names an export the manifest does not.
    const unrecorded = [{ format: 'vmdk' as const, file: `${BASE}.vmdk`, sha256: 'e'.repeat(64), size_bytes: 1 }];
    await writeFile(path, restateProvenanceSubjects(built, { ...manifest, exports: unrecorded }, path));

    await exportRelease({ specArg: specPath, cwd: work.dir, version: VERSION, formats: ['raw'], bmap: false });

    const statement = JSON.parse(await readFile(path, 'utf8')) as { subject: { name: string }[] };
    expect(statement.subject.map((s) => s.name)).toEqual([`${BASE}.qcow2`, `${BASE}.raw`]);
    await expect(execa('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: dir })).resolves.toMatchObject({ exitCode: 0 });

    await writeFile(path, (await readFile(path, 'utf8')).replace('"local"', '"github-actions"'));
    const error = await exportRelease({ specArg: specPath, cwd: work.dir, version: VERSION, formats: ['raw', 'vmdk'], bmap: false }).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    expect((error as Error).message).toMatch(/provenance\.intoto\.json no longer matches its manifest .*: it changed after the build; nothing was recorded/);
    expect((await readManifestIn(dir)).exports?.map((e) => e.format)).toEqual(['raw']);
    expect(await readdir(dir)).not.toContain(`${BASE}.vmdk`);
  });

  it('publishes the exports the manifest records beside the qcow2, each proved by its SHA-256', async () => {
    const { specPath, dir } = await makeRelease();
    await exportRelease({ specArg: specPath, cwd: work.dir, version: VERSION, formats: ['raw.xz', 'vmdk'], bmap: true });
    const manifest = await readManifestIn(dir);

    await publishRelease({ specArg: specPath, cwd: work.dir, version: VERSION });

    const store = await openStore({ kind: 'filesystem', dir: join(work.dir, 'release-store') }, { cwd: work.dir, env: process.env, createMissing: false });
    const { index } = await readReleaseIndex(store, DEMO_NAME);
    store.close();
    const storeDir = join(work.dir, 'release-store', index.releases[0]!.manifest_key.replace(/\/image-manifest\.json$/, ''));
    const stored = ImageManifest.parse(JSON.parse(await readFile(join(storeDir, 'image-manifest.json'), 'utf8')));
    expect(stored.exports).toEqual(manifest.exports);
    for (const file of [`${BASE}.raw.xz`, `${BASE}.raw.xz.bmap`, `${BASE}.vmdk`, 'provenance.intoto.json']) {
      expect(await sha256Of(join(storeDir, file))).toBe(await sha256Of(join(dir, file)));
    }
    await expect(execa('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: storeDir })).resolves.toMatchObject({ exitCode: 0 });
  });

  describe('through the CLI', () => {
    it('keeps its memory flat: exporting a 512 MiB disk costs about what --help does', async () => {
      const { specPath, dir } = await makeRelease();
      await chmod(join(dir, `${BASE}.qcow2`), 0o644);
      await execa('qemu-img', ['resize', '-q', join(dir, `${BASE}.qcow2`), '512M']);
      await execa('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x3c 500M 8M', join(dir, `${BASE}.qcow2`)]);
      const manifest = await readManifestIn(dir);
      const qcow2 = join(dir, `${BASE}.qcow2`);
      await writeFile(join(dir, 'image-manifest.json'), serializeManifest({ ...manifest, checksum_sha256: await sha256Of(qcow2), size_bytes: (await stat(qcow2)).size }));
      // runCli in a process of its own that reports its peak resident memory.
      const probe = join(work.dir, 'rss-probe.mts');
      await writeFile(probe, `import { runCli } from ${JSON.stringify(join(PROJECT_ROOT, 'src/cli/main.ts'))};\nprocess.exitCode = await runCli(process.argv.slice(2));\nprocess.stderr.write('maxrss=' + process.resourceUsage().maxRSS * 1024 + '\\n');\n`);
      const peak = async (args: string[]) => {
        const result = await execa(process.execPath, ['--import', TSX_LOADER, probe, ...args], { cwd: work.dir, reject: false, env: { NO_COLOR: '1' } });
        expect(result.exitCode, result.stderr).toBe(0);
        return Number(/maxrss=(\d+)/.exec(result.stderr)![1]);
      };

      const baseline = await peak(['export', '--help']);
      const exporting = await peak(['export', 'v1.0.0', '--format', 'raw,raw.xz', '--bmap', '--spec', specPath]);

      expect((await stat(join(dir, `${BASE}.raw`))).size).toBe(512 * MiB);
      expect(exporting - baseline).toBeLessThan(128 * MiB);
    });

    it('refuses an unknown format, an unbuilt version and a missing bmaptool with one line each', async () => {
      const { specPath } = await makeRelease();
      // A PATH with qemu-img and xz but no bmaptool.
      const bin = join(work.dir, 'bin');
      await mkdir(bin);
      for (const tool of ['qemu-img', 'xz']) await symlink((await execa('sh', ['-c', `command -v ${tool}`])).stdout, join(bin, tool));

      const unknown = await runCli(['export', 'v1.0.0', '--format', 'raw,qcow3', '--spec', specPath]);
      const unbuilt = await runCli(['export', 'v2.0.0', '--format', 'raw', '--spec', specPath]);
      const noBmaptool = await runCli(['export', 'v1.0.0', '--format', 'raw', '--bmap', '--spec', specPath], { PATH: bin });

      expect([unknown.exitCode, unknown.stderr]).toEqual([2, 'error: export: --format "raw,qcow3": unknown format "qcow3"; valid formats: raw, raw.xz, vmdk (comma-separated for several)']);
      expect(unbuilt.exitCode).toBe(2);
      expect(unbuilt.stderr).toMatch(/^error: v2\.0\.0 is not built: .*v2\.0\.0\/image-manifest\.json does not exist; run imagebuild build v2\.0\.0 first$/);
      expect(noBmaptool.exitCode).toBe(1);
      expect(noBmaptool.stderr).toBe('error: bmaptool is not installed (not on PATH); install the bmap-tools package (apt-get install bmap-tools)');
      expect((await readdir(join(work.dir, 'output', DEMO_NAME, 'v1.0.0'))).filter((n) => n.includes('.raw'))).toEqual([]);
    });

    it('leaves no half file under the final name when killed mid-export, and the next run finishes it', async () => {
      const { specPath, dir } = await makeRelease({ randomMiB: 8 });
      const child = runCli(['export', 'v1.0.0', '--format', 'raw.xz', '--spec', specPath]);
      const deadline = Date.now() + 30_000;
      // Kill while xz writes its temporary file.
      while (!(await readdir(dir)).some((n) => n.startsWith('.export-') && n.endsWith('.raw.xz')) && Date.now() < deadline) await sleep(20);
      process.kill(-child.pid!, 'SIGKILL');
      await child;

      expect((await readdir(dir)).some((n) => n.startsWith('.export-'))).toBe(true);
      expect(await readdir(dir)).not.toContain(`${BASE}.raw.xz`);
      expect((await readManifestIn(dir)).exports).toBeUndefined();

      const rerun = await runCli(['export', 'v1.0.0', '--format', 'raw.xz', '--spec', specPath]);

      expect(rerun.exitCode, rerun.stderr).toBe(0);
      expect(rerun.stdout).toContain(`raw.xz  ${join(dir, `${BASE}.raw.xz`)}`);
      expect((await readdir(dir)).filter((n) => n.startsWith('.'))).toEqual([]);
      await expect(execa('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: dir })).resolves.toMatchObject({ exitCode: 0 });
    });
  });
});

describe('export progress on stderr', () => {
  it('redraws one line per step on a terminal and prints a plain line every few seconds (and the last) otherwise', () => {
    const lines: string[] = [];
    const output = { color: false, interactive: true, out: () => undefined, err: (line = '') => void lines.push(line), json: () => undefined, paint: (_s: unknown, t: string) => t };
    const event = (action: ExportProgress['action'], bytes: number, done = false): ExportProgress => ({ action, file: 'box.raw', bytes, total: 100 * MiB, rate: 10 * MiB, etaS: 5, done });
    const render = createExportProgressRenderer(output);

    render(event('convert', 0));
    render(event('convert', 50 * MiB));
    render(event('convert', 100 * MiB, true));
    render(event('hash', 100 * MiB, true));

    expect(lines).toEqual([
      'convert box.raw  0 B / 100.0 MiB  0%  10.0 MiB/s  ETA 5s',
      '\u001b[1A\u001b[2Kconvert box.raw  50.0 MiB / 100.0 MiB  50%  10.0 MiB/s  ETA 5s',
      '\u001b[1A\u001b[2Kconvert box.raw  100.0 MiB / 100.0 MiB  100%  10.0 MiB/s  ETA 5s',
      'hash box.raw  100.0 MiB / 100.0 MiB  100%  10.0 MiB/s  ETA 5s',
    ]);

    const plain: string[] = [];
    let now = 0;
    const renderPlain = createExportProgressRenderer({ ...output, interactive: false, err: (line = '') => void plain.push(line) }, () => now);
    for (const [t, mib] of [[0, 0], [1000, 10], [5000, 30], [5500, 40]] as const) {
      now = t;
      renderPlain(event('compress', mib * MiB));
    }
    renderPlain(event('compress', 100 * MiB, true));

    expect(plain.map((l) => l.split('  ')[1])).toEqual(['0 B / 100.0 MiB', '30.0 MiB / 100.0 MiB', '100.0 MiB / 100.0 MiB']);
  });
});
