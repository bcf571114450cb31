// `imagebuild diff` reads the two releases' SBOMs beside their manifests (output/, no store): packages
// added, removed and changed, a new framework package demanding MINOR, and an SBOM that no longer
// matches its manifest's SHA-256 left out with the reason.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffStoredReleases } from '../src/app/release-list.js';
import { parseGuestInventory, type GuestInventory } from '../src/core/gate/gate-report.js';
import { serializeManifest } from '../src/core/manifest/image-manifest.js';
import { assembleSbom } from '../src/core/sbom/image-sbom.js';
import { writeLocalRelease, writeReleaseProject } from './helpers/local-release.js';
import { PROJECT_ROOT } from './helpers/project-root.js';
import { startReleaseCli } from './helpers/release-project.js';
import { DEMO_NAME, smallDemoSpec } from './helpers/spec-builders.js';
import { makeTempDir } from './helpers/temp-dir.js';

const RECORDED = join(PROJECT_ROOT, 'test/fixtures/packer-replay/no-gpu/seal.inventory.json');

describe('diff with SBOMs beside the manifests', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  const outputRoot = () => join(work.dir, 'output', DEMO_NAME);

  /** A built-looking release whose manifest names an SBOM of `inventory`, with its SHA-256. */
  async function releaseWithSbom(version: string, inventory: GuestInventory): Promise<string> {
    const { manifest, dir } = await writeLocalRelease(outputRoot(), version);
    const sbom = assembleSbom({ image: { name: DEMO_NAME, version, artifact: manifest.artifact, sha256: manifest.checksum_sha256 }, inventory, timestamp: new Date('2026-12-05T10:00:00Z'), serialNumber: `urn:uuid:00000000-0000-4000-8000-00000000000${version.at(-1)}` });
    await writeFile(join(dir, 'sbom.cdx.json'), sbom);
    await writeFile(join(dir, 'image-manifest.json'), serializeManifest({ ...manifest, sbom: { file: 'sbom.cdx.json', sha256: createHash('sha256').update(sbom).digest('hex') } }));
    return dir;
  }

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-sbom-diff-');
    // No store: diff reads output/<name>/.
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec([[['artifacts', 'store'], undefined]]));
    const base = parseGuestInventory(JSON.parse(readFileSync(RECORDED, 'utf8')), RECORDED);
    await releaseWithSbom('1.0.0', base);
    await releaseWithSbom('1.0.1', {
      ...base,
      dpkg: base.dpkg!.map((p) => (p.name === 'bash' ? { ...p, version: '5.2.21-2ubuntu4.1' } : p)),
      python: { ...base.python!, packages: [...base.python!.packages, { name: 'flash_attn', version: '2.8.3' }] },
    });
    await releaseWithSbom('1.0.2', base);
  });
  afterAll(async () => work.cleanup());

  it('lists the package changes and requires MINOR for a new framework package', async () => {
    const diff = await diffStoredReleases({ specArg: 'box.yaml', cwd: work.dir, from: '1.0.0', to: '1.0.1' });

    expect(diff.packages).toEqual({
      added: [{ kind: 'pypi', name: 'flash_attn', version: '2.8.3' }],
      removed: [],
      changed: [{ kind: 'deb', name: 'bash', from: '5.2.21-2ubuntu4', to: '5.2.21-2ubuntu4.1' }],
    });
    expect(diff.bump).toMatchObject({ actual: 'patch', required: 'minor' });
  });

  it('prints them as release notes (CLI)', async () => {
    const result = await startReleaseCli(['diff', 'v1.0.0', 'v1.0.1', '--spec', 'box.yaml'], work.dir, {});

    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain('packages: 1 added, 0 removed, 1 changed version\n  + pypi flash_attn 2.8.3\n  ~ deb bash 5.2.21-2ubuntu4 → 5.2.21-2ubuntu4.1\n');
    expect(result.stdout).toContain('semver: a PATCH bump; the image changes alone require MINOR');
  });

  it('leaves out an SBOM that no longer matches the SHA-256 its manifest records, and says so', async () => {
    const tampered = join(outputRoot(), 'v1.0.2', 'sbom.cdx.json');
    await writeFile(tampered, readFileSync(tampered, 'utf8').replace('"bash"', '"bosh"'));

    const diff = await diffStoredReleases({ specArg: 'box.yaml', cwd: work.dir, from: '1.0.1', to: '1.0.2' });

    expect(diff.packages).toBeNull();
    expect(diff.packages_unavailable).toBe(`v1.0.2: ${tampered} does not match the SHA-256 its manifest records`);
  });
});

describe('publish reads the previous release’s stored SBOM for the bump check', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    work = await makeTempDir('imagebuild-sbom-bump-');
  });
  afterAll(async () => work.cleanup());

  it('refuses a PATCH bump that adds a framework package to the venv, naming it; MINOR passes', async () => {
    const { outputRoot } = await writeReleaseProject(work.dir, { kind: 'filesystem', dir: 'store' });
    await mkdir(join(work.dir, 'store'));
    const base = parseGuestInventory(JSON.parse(readFileSync(RECORDED, 'utf8')), RECORDED);
    const withFlashAttn = { ...base, python: { ...base.python!, packages: [...base.python!.packages, { name: 'flash_attn', version: '2.8.3' }] } };
    for (const [version, inventory] of [['1.0.0', base], ['1.0.1', withFlashAttn], ['1.1.0', withFlashAttn]] as const) {
      const { manifest, dir } = await writeLocalRelease(outputRoot, version);
      const sbom = assembleSbom({ image: { name: DEMO_NAME, version, artifact: manifest.artifact, sha256: manifest.checksum_sha256 }, inventory, timestamp: new Date('2026-12-05T10:00:00Z'), serialNumber: 'urn:uuid:00000000-0000-4000-8000-000000000001' });
      await writeFile(join(dir, 'sbom.cdx.json'), sbom);
      await writeFile(join(dir, 'image-manifest.json'), serializeManifest({ ...manifest, sbom: { file: 'sbom.cdx.json', sha256: createHash('sha256').update(sbom).digest('hex') } }));
    }

    const first = await startReleaseCli(['publish', 'v1.0.0', '--spec', 'box.yaml'], work.dir, {});
    const patch = await startReleaseCli(['publish', 'v1.0.1', '--spec', 'box.yaml'], work.dir, {});
    const minor = await startReleaseCli(['publish', 'v1.1.0', '--spec', 'box.yaml'], work.dir, {});

    expect(first.exitCode, first.stderr).toBe(0);
    expect(patch.exitCode, patch.stderr).toBe(2);
    expect(patch.stderr).toMatch(/package pypi:flash_attn.*new framework package flash_attn in the venv/);
    expect(minor.exitCode, minor.stderr).toBe(0);
  });
});
