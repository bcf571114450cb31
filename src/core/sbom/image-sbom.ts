// Subpath imports: the package's main entry also loads its validators, which look for ajv and libxml.
import * as Enums from '@cyclonedx/cyclonedx-library/Enums';
import * as Models from '@cyclonedx/cyclonedx-library/Models';
import * as Serialize from '@cyclonedx/cyclonedx-library/Serialize';
import * as Spec from '@cyclonedx/cyclonedx-library/Spec';
import type { GuestInventory } from '../gate/gate-report.js';
import { debPurl, normalizePypiName, ociPurl, pypiPurl } from './package-url.js';
import { packageRef } from './sbom-packages.js';

// sbom.cdx.json: a CycloneDX 1.6 JSON BOM of a release's image, made with the CycloneDX library for
// JavaScript from what inventory.py listed in the sealed image (never from the spec). Each package's
// bom-ref is packageRef's version-free `<kind>:<identity>`, so two releases' SBOMs compare package by
// package (sbom-packages.ts, which needs no CycloneDX library).

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
    const component = new Models.Component(Enums.ComponentType.Library, p.name, { version: p.version, purl: debPurl(vendor, p.name, p.version, p.architecture, distro), bomRef: packageRef('deb', p.name, p.architecture) });
    component.properties.add(new Models.Property(PROPERTY.debSource, p.source));
    if (p.source_version !== p.version) component.properties.add(new Models.Property(PROPERTY.debSourceVersion, p.source_version));
    bom.components.add(component);
  }
  const python = inventory.python;
  for (const p of python?.packages ?? []) {
    const component = new Models.Component(Enums.ComponentType.Library, p.name, { version: p.version, purl: pypiPurl(p.name, p.version), bomRef: packageRef('pypi', normalizePypiName(p.name)) });
    component.properties.add(new Models.Property(PROPERTY.venv, python!.venv));
    bom.components.add(component);
  }
  for (const m of inventory.kernel_modules) {
    const component = new Models.Component(Enums.ComponentType.DeviceDriver, m.name, { version: m.version ?? undefined, bomRef: packageRef('kmod', m.kernel, m.name) });
    component.properties.add(new Models.Property(PROPERTY.kernel, m.kernel));
    component.properties.add(new Models.Property(PROPERTY.path, m.path));
    bom.components.add(component);
  }
  for (const i of inventory.container_images ?? []) {
    const purl = i.repository !== null && i.digest !== null ? ociPurl(i.repository, i.digest, i.tag ?? undefined) : undefined;
    const component = new Models.Component(Enums.ComponentType.Container, i.repository ?? i.id, { version: i.tag ?? undefined, purl, bomRef: packageRef('oci', i.id, i.repository ?? '', i.tag ?? '') });
    component.properties.add(new Models.Property(PROPERTY.imageId, i.id));
    bom.components.add(component);
  }
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  return `${serializer.serialize(bom, { sortLists: true, space: 2 })}\n`;
}
