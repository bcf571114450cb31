import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { PackageURL } from 'packageurl-js';
import { describe, expect, it } from 'vitest';
import { parseGuestInventory, type GuestInventory } from '../gate/gate-report.js';
import { assembleSbom, type SbomInput } from './image-sbom.js';
import { diffSbomPackages, readSbomPackages } from './sbom-packages.js';

// The listing inventory.py wrote of the recorded Ubuntu guest (test/fixtures/packer-replay/record.sh).
const RECORDED = join(import.meta.dirname, '../../../test/fixtures/packer-replay/no-gpu/seal.inventory.json');
const recorded = (): GuestInventory => parseGuestInventory(JSON.parse(readFileSync(RECORDED, 'utf8')), RECORDED);

const BASE_ONLY: GuestInventory = {
  format: 1,
  os: { id: 'debian', version_id: '12', version_codename: 'bookworm', pretty_name: 'Debian GNU/Linux 12 (bookworm)' },
  architecture: 'amd64',
  kernel: '6.1.0-40-amd64',
  dpkg: [{ name: 'bash', version: '5.2.15-2+b8', architecture: 'amd64', source: 'bash', source_version: '5.2.15-2' }],
  python: null,
  kernel_modules: [],
  container_images: null,
  problems: [],
};

function input(inventory: GuestInventory): SbomInput {
  return {
    image: { name: 'vault-cube-demo-box', version: '1.1.0', artifact: 'vault-cube-demo-box-v1.1.0.qcow2', sha256: 'ab'.repeat(32) },
    inventory,
    timestamp: new Date('2026-12-05T10:00:00Z'),
    serialNumber: 'urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79',
  };
}

/** The CycloneDX library's strict JSON validator against the 1.6 schema: null when the BOM is valid. */
async function schemaErrors(text: string): Promise<unknown> {
  return new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(text);
}

type Component = { type: string; name: string; version?: string; purl?: string; 'bom-ref': string; properties?: { name: string; value: string }[] };

describe('assembleSbom', () => {
  it("writes a CycloneDX 1.6 BOM of the recorded guest that the CycloneDX 1.6 JSON schema accepts", async () => {
    const text = assembleSbom(input(recorded()));

    expect(await schemaErrors(text)).toBeNull();
    const bom = JSON.parse(text) as { specVersion: string; serialNumber: string; metadata: { timestamp: string; component: Component & { hashes: unknown } } };
    expect(bom).toMatchObject({ bomFormat: 'CycloneDX', specVersion: '1.6', serialNumber: 'urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79' });
    expect(bom.metadata.timestamp).toBe('2026-12-05T10:00:00.000Z');
    expect(bom.metadata.component).toMatchObject({ type: 'operating-system', name: 'vault-cube-demo-box', version: '1.1.0', hashes: [{ alg: 'SHA-256', content: 'ab'.repeat(32) }] });
  });

  it('gives every package its package URL: deb with vendor, arch and distro, pypi by its normalized name, + encoded as %2B', () => {
    const components = (JSON.parse(assembleSbom(input(recorded()))) as { components: Component[] }).components;
    const purl = (ref: string) => components.find((c) => c['bom-ref'] === ref)?.purl;

    expect(purl('deb:libattr1:amd64')).toBe('pkg:deb/ubuntu/libattr1@1:2.5.2-1build1.1%2Bb1?arch=amd64&distro=noble');
    expect(purl('deb:libc6:i386')).toBe('pkg:deb/ubuntu/libc6@2.39-0ubuntu8.6?arch=i386&distro=noble');
    expect(purl('pypi:torch')).toBe('pkg:pypi/torch@2.7.1%2Bcu128');
    expect(purl('pypi:ruamel-yaml')).toBe('pkg:pypi/ruamel-yaml@0.18.14');
    expect(purl('pypi:jinja2')).toBe('pkg:pypi/jinja2@3.1.6');
    expect(purl('oci:sha256:0b3c5f2a1e6d7c8b9a0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3:nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04')).toBe(
      'pkg:oci/cuda@sha256:6c1f3a0e4f8e1b2ad0f7a2b7c7f3f5f0a9a4f7e3b1c2d3e4f5a6b7c8d9e0f1a2?repository_url=nvcr.io%2Fnvidia%2Fcuda&tag=12.8.1-base-ubuntu24.04',
    );
    // Every purl in the BOM parses with the reference implementation.
    for (const c of components.filter((x) => x.purl !== undefined && x.type !== 'container')) expect(PackageURL.fromString(c.purl!).version).toBe(c.version);
  });

  it("records each deb's source package, the venv, the modules' kernel and path, and images built locally without a purl", () => {
    const components = (JSON.parse(assembleSbom(input(recorded()))) as { components: Component[] }).components;
    const byRef = (ref: string) => components.find((c) => c['bom-ref'] === ref)!;

    expect(byRef('deb:libattr1:amd64').properties).toEqual([
      { name: 'imagebuild:deb:source', value: 'attr' },
      { name: 'imagebuild:deb:source_version', value: '1:2.5.2-1build1.1' },
    ]);
    expect(byRef('pypi:torch').properties).toEqual([{ name: 'imagebuild:python:venv', value: '/opt/ai/venv' }]);
    expect(byRef('kmod:6.8.0-45-generic:nvidia')).toMatchObject({ type: 'device-driver', name: 'nvidia', version: '570.172.08' });
    expect(byRef('os')).toMatchObject({ type: 'operating-system', name: 'ubuntu', version: '24.04', description: 'Ubuntu 24.04.3 LTS' });
    const local = components.find((c) => c.name === 'vault/smoke')!;
    expect([local.type, local.version, local.purl]).toEqual(['container', 'latest', undefined]);
    expect(components.filter((c) => c['bom-ref'].startsWith('deb:'))).toHaveLength(7);
    expect(components.filter((c) => c['bom-ref'].startsWith('pypi:'))).toHaveLength(9);
  });

  it("writes a base-only image's BOM (no venv, no Docker, no NVIDIA module) that the schema accepts, with the inventory's problems as properties", async () => {
    const text = assembleSbom(input({ ...BASE_ONLY, problems: ['docker: installed, but the daemon did not answer'] }));

    expect(await schemaErrors(text)).toBeNull();
    const bom = JSON.parse(text) as { components: Component[]; metadata: { properties: unknown } };
    expect(bom.components.map((c) => c.purl ?? c['bom-ref']).sort()).toEqual(['os', 'pkg:deb/debian/bash@5.2.15-2%2Bb8?arch=amd64&distro=bookworm']);
    expect(bom.metadata.properties).toEqual([{ name: 'imagebuild:inventory:problem', value: 'docker: installed, but the daemon did not answer' }]);
  });

  it('writes the same bytes for the same inputs', () => {
    expect(assembleSbom(input(recorded()))).toBe(assembleSbom(input(recorded())));
  });

  it('is checked by a validator that does refuse a BOM the schema forbids', async () => {
    const bom = JSON.parse(assembleSbom(input(BASE_ONLY))) as { components: Component[] };
    bom.components[0]!.type = 'virtual-machine';

    expect(await schemaErrors(JSON.stringify(bom))).not.toBeNull();
  });
});

describe('readSbomPackages', () => {
  it('reads back every package assembleSbom wrote, by kind, version-free ref and version', () => {
    const read = readSbomPackages(JSON.parse(assembleSbom(input(recorded()))));

    expect('packages' in read && read.packages).toContainEqual({ kind: 'deb', ref: 'deb:libc6:i386', name: 'libc6', version: '2.39-0ubuntu8.6' });
    expect('packages' in read && read.packages).toContainEqual({ kind: 'pypi', ref: 'pypi:torch', name: 'torch', version: '2.7.1+cu128' });
    expect('packages' in read && read.packages.filter((p) => p.kind === 'kmod')).toHaveLength(2);
    expect('packages' in read && read.packages.some((p) => p.ref === 'os')).toBe(false);
  });

  it('names a file that is no CycloneDX BOM', () => {
    expect(readSbomPackages({ spdxVersion: 'SPDX-2.3' })).toEqual({ problem: 'not a CycloneDX JSON BOM' });
  });
});

describe('diffSbomPackages', () => {
  it('compares two recorded inventories package by package: a Multi-Arch pair stays two packages, a venv upgrade is a changed version', () => {
    const read = (inventory: GuestInventory) => {
      const result = readSbomPackages(JSON.parse(assembleSbom(input(inventory))));
      return 'packages' in result ? result.packages : [];
    };
    const base = recorded();
    const next: GuestInventory = {
      ...base,
      dpkg: base.dpkg!.filter((p) => !(p.name === 'libc6' && p.architecture === 'i386')),
      python: { ...base.python!, packages: [...base.python!.packages.map((p) => (p.name === 'vllm' ? { ...p, version: '0.11.0' } : p)), { name: 'Flash_Attn', version: '2.8.3' }] },
    };

    const diff = diffSbomPackages(read(base), read(next));

    expect(diff).toEqual({
      added: [{ kind: 'pypi', name: 'Flash_Attn', version: '2.8.3' }],
      removed: [{ kind: 'deb', name: 'libc6', version: '2.39-0ubuntu8.6' }],
      changed: [{ kind: 'pypi', name: 'vllm', from: '0.10.1', to: '0.11.0' }],
    });
  });
});
