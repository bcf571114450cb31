import { z } from 'zod';

// The packages of an image's SBOM as diff and the bump policy compare them, read back by the bom-refs
// assembleSbom gives them (image-sbom.ts): pure data, no CycloneDX library loaded.

/** The kinds of package an image's SBOM lists: Debian packages, the frameworks venv's distributions, kernel modules, container images. */
export type SbomPackageKind = 'deb' | 'pypi' | 'kmod' | 'oci';

const KINDS: readonly SbomPackageKind[] = ['deb', 'pypi', 'kmod', 'oci'];

/** One package of an image, as the diff compares them. */
export type SbomPackage = { readonly kind: SbomPackageKind; readonly ref: string; readonly name: string; readonly version: string | null };

/**
 * A package's bom-ref: `<kind>:<identity>` without its version (deb:bash:amd64, pypi:torch,
 * kmod:<kernel>:nvidia, oci:<image id>:<repository>:<tag>), so the same package in two releases has the same ref.
 */
export function packageRef(kind: SbomPackageKind, ...identity: string[]): string {
  return [kind, ...identity].join(':');
}

// The part of a CycloneDX BOM readSbomPackages needs; anything else in it is left alone.
const SbomComponents = z.looseObject({
  bomFormat: z.literal('CycloneDX'),
  components: z.array(z.looseObject({ 'bom-ref': z.string().optional(), name: z.string(), version: z.string().optional() })).default([]),
});

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
