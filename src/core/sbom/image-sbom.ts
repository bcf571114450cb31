// Subpath imports: the package's main entry also loads its validators, which look for ajv and libxml.
import * as Enums from '@cyclonedx/cyclonedx-library/Enums';
import * as Models from '@cyclonedx/cyclonedx-library/Models';
import * as Serialize from '@cyclonedx/cyclonedx-library/Serialize';
import * as Spec from '@cyclonedx/cyclonedx-library/Spec';
import { z } from 'zod';
import type { GuestInventory } from '../gate/gate-report.js';
import { debPurl, normalizePypiName, ociPurl, pypiPurl } from './package-url.js';

// sbom.cdx.json: a CycloneDX 1.6 JSON BOM of a release's image, made with the CycloneDX library for
// JavaScript from what inventory.py listed in the sealed image (never from the spec). Each component's
// bom-ref is `<kind>:<identity>` without its version (deb:bash:amd64, pypi:torch, kmod:<kernel>:nvidia,
// oci:<image id>:<repository>:<tag>), so two releases' SBOMs compare package by package.

/** The kinds of component an image's SBOM lists. */
export type SbomPackageKind = 'deb' | 'pypi' | 'kmod' | 'oci';

/** One package of an image, as the diff compares them. */
export type SbomPackage = { readonly kind: SbomPackageKind; readonly ref: string; readonly name: string; readonly version: string | null };

/** What the SBOM describes and when it was made; time and the serial number come in as arguments. */
export type SbomInput = {
  readonly image: { readonly name: string; readonly version: string; readonly artifact: string; readonly sha256: string };
  readonly inventory: GuestInventory;
  readonly timestamp: Date;
  /** `urn:uuid:<RFC 4122 UUID>`: unique per SBOM, as CycloneDX asks. */
  readonly serialNumber: string;
};

const PROPERTY = {
  artifact: 'imagebuild:artifact',
  debSource: 'imagebuild:deb:source',
  debSourceVersion: 'imagebuild:deb:source_version',
  venv: 'imagebuild:python:venv',
  kernel: 'imagebuild:kernel',
  path: 'imagebuild:path',
  imageId: 'imagebuild:oci:image_id',
  problem: 'imagebuild:inventory:problem',
} as const;

/** The image's CycloneDX 1.6 SBOM as JSON text (2-space indent, lists sorted, trailing newline). */
export function assembleSbom(input: SbomInput): string {
  const { image, inventory } = input;
  const bom = new Models.Bom({ serialNumber: input.serialNumber });
  bom.metadata.timestamp = input.timestamp;
  bom.metadata.tools.components.add(new Models.Component(Enums.ComponentType.Application, 'imagebuild', { description: 'guest/inventory.py in the sealed image, then imagebuild on the build host' }));
  const root = new Models.Component(Enums.ComponentType.OperatingSystem, image.name, { version: image.version, bomRef: 'image' });
  root.hashes.set(Enums.HashAlgorithm['SHA-256'], image.sha256);
  root.properties.add(new Models.Property(PROPERTY.artifact, image.artifact));
  bom.metadata.component = root;
  for (const problem of inventory.problems) bom.metadata.properties.add(new Models.Property(PROPERTY.problem, problem));

  const { os } = inventory;
  if (os.id !== null) {
    bom.components.add(new Models.Component(Enums.ComponentType.OperatingSystem, os.id, { version: os.version_id ?? undefined, description: os.pretty_name ?? undefined, bomRef: 'os' }));
  }
  const vendor = os.id ?? 'debian';
  const distro = os.version_codename ?? (os.id !== null && os.version_id !== null ? `${os.id}-${os.version_id}` : undefined);
  for (const p of inventory.dpkg ?? []) {
    const component = new Models.Component(Enums.ComponentType.Library, p.name, { version: p.version, purl: debPurl(vendor, p.name, p.version, p.architecture, distro), bomRef: `deb:${p.name}:${p.architecture}` });
    component.properties.add(new Models.Property(PROPERTY.debSource, p.source));
    if (p.source_version !== p.version) component.properties.add(new Models.Property(PROPERTY.debSourceVersion, p.source_version));
    bom.components.add(component);
  }
  const python = inventory.python;
  for (const p of python?.packages ?? []) {
    const component = new Models.Component(Enums.ComponentType.Library, p.name, { version: p.version, purl: pypiPurl(p.name, p.version), bomRef: `pypi:${normalizePypiName(p.name)}` });
    component.properties.add(new Models.Property(PROPERTY.venv, python!.venv));
    bom.components.add(component);
  }
  for (const m of inventory.kernel_modules) {
    const component = new Models.Component(Enums.ComponentType.DeviceDriver, m.name, { version: m.version ?? undefined, bomRef: `kmod:${m.kernel}:${m.name}` });
    component.properties.add(new Models.Property(PROPERTY.kernel, m.kernel));
    component.properties.add(new Models.Property(PROPERTY.path, m.path));
    bom.components.add(component);
  }
  for (const i of inventory.container_images ?? []) {
    const purl = i.repository !== null && i.digest !== null ? ociPurl(i.repository, i.digest, i.tag ?? undefined) : undefined;
    const component = new Models.Component(Enums.ComponentType.Container, i.repository ?? i.id, { version: i.tag ?? undefined, purl, bomRef: `oci:${i.id}:${i.repository ?? ''}:${i.tag ?? ''}` });
    component.properties.add(new Models.Property(PROPERTY.imageId, i.id));
    bom.components.add(component);
  }
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  return `${serializer.serialize(bom, { sortLists: true, space: 2 })}\n`;
}

// The part of a CycloneDX BOM readSbomPackages needs; anything else in it is left alone.
const SbomComponents = z.looseObject({
  bomFormat: z.literal('CycloneDX'),
  components: z.array(z.looseObject({ 'bom-ref': z.string().optional(), name: z.string(), version: z.string().optional() })).default([]),
});

const KINDS: readonly SbomPackageKind[] = ['deb', 'pypi', 'kmod', 'oci'];

/** The packages of an SBOM assembleSbom wrote (by their version-free bom-refs), or a one-line reason it is not one. */
export function readSbomPackages(json: unknown): { packages: SbomPackage[] } | { problem: string } {
  const parsed = SbomComponents.safeParse(json);
  if (!parsed.success) return { problem: 'not a CycloneDX JSON BOM' };
  const packages = parsed.data.components.flatMap((c): SbomPackage[] => {
    const ref = c['bom-ref'];
    const kind = KINDS.find((k) => ref?.startsWith(`${k}:`));
    return ref === undefined || kind === undefined ? [] : [{ kind, ref, name: c.name, version: c.version ?? null }];
  });
  return { packages };
}

/** A package in one release's SBOM and not the other's. */
export type PackageEntry = { readonly kind: SbomPackageKind; readonly name: string; readonly version: string | null };
/** A package in both SBOMs with another version (an upgrade, or rarely a downgrade: versions are not ordered here). */
export type PackageVersionChange = { readonly kind: SbomPackageKind; readonly name: string; readonly from: string | null; readonly to: string | null };

/** What changed package by package between two images' SBOMs, each list sorted by kind and name. */
export type PackageDiff = {
  readonly added: readonly PackageEntry[];
  readonly removed: readonly PackageEntry[];
  readonly changed: readonly PackageVersionChange[];
};

/** Compares two SBOMs' packages by their version-free refs. */
export function diffSbomPackages(from: readonly SbomPackage[], to: readonly SbomPackage[]): PackageDiff {
  const before = new Map(from.map((p) => [p.ref, p]));
  const after = new Map(to.map((p) => [p.ref, p]));
  const entry = (p: SbomPackage): PackageEntry => ({ kind: p.kind, name: p.name, version: p.version });
  const order = <T extends { kind: string; name: string }>(list: T[]) => list.sort((a, b) => (a.kind === b.kind ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.kind < b.kind ? -1 : 1));
  return {
    added: order([...after.values()].filter((p) => !before.has(p.ref)).map(entry)),
    removed: order([...before.values()].filter((p) => !after.has(p.ref)).map(entry)),
    changed: order(
      [...after.values()].flatMap((p) => {
        const old = before.get(p.ref);
        return old !== undefined && old.version !== p.version ? [{ kind: p.kind, name: p.name, from: old.version, to: p.version }] : [];
      }),
    ),
  };
}
