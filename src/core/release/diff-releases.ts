import semver from 'semver';
import { printableText } from '../printable-text.js';
import type { ImageManifest } from '../manifest/image-manifest.js';
import { diffSbomPackages, type PackageDiff, type SbomPackage } from '../sbom/sbom-packages.js';
import { bumpOf, classifyManifestChanges, classifyPackageChanges, requiredBump, type Bump, type VersionChange } from './bump-policy.js';

// `imagebuild diff`: the release notes customer success reads. Everything comes from the two
// manifests and SBOMs (values read from the built images), never from a spec.

/** One release's SBOM packages as the caller could read them: the packages, or why there are none to compare. */
export type ReleasePackages = { readonly packages: readonly SbomPackage[] } | { readonly problem: string };

/** A field of the image that differs (or not) between two releases. */
export type FieldDiff = { readonly field: string; readonly from: string | null; readonly to: string | null; readonly changed: boolean };

/** A gate check whose status or measurement differs between two releases. */
export type CheckDiff = {
  readonly check: string;
  readonly from: { readonly status: string; readonly measured: string } | null;
  readonly to: { readonly status: string; readonly measured: string } | null;
};

/** One layer's gate in both releases. */
export type GateDiff = {
  readonly layer: string;
  readonly from: { readonly status: string; readonly gpu_validated: boolean; readonly reused: boolean } | null;
  readonly to: { readonly status: string; readonly gpu_validated: boolean; readonly reused: boolean } | null;
  readonly key_changed: boolean;
  readonly checks: readonly CheckDiff[];
};

/** What changed between two releases, as `imagebuild diff --json` prints it. */
export type ReleaseDiff = {
  readonly name: string;
  readonly from: { readonly version: string; readonly build_date: string };
  readonly to: { readonly version: string; readonly build_date: string };
  /** os, kernel, nvidia_driver, cuda_version, frameworks.*, tool versions: every field, changed or not. */
  readonly fields: readonly FieldDiff[];
  readonly gates: readonly GateDiff[];
  readonly gpu_validated: { readonly from: boolean; readonly to: boolean };
  readonly verify: { readonly from: string | null; readonly to: string | null };
  readonly size: { readonly from: number; readonly to: number; readonly delta: number };
  readonly sha256: { readonly from: string; readonly to: string; readonly same: boolean };
  /** Package by package from the two SBOMs (dpkg, the frameworks venv, NVIDIA modules, container images); null when one cannot be compared. */
  readonly packages: PackageDiff | null;
  /** Why `packages` is null (a release without an SBOM, one the store does not hold). */
  readonly packages_unavailable: string | null;
  /** The semver view: what the bump was and what the changes require (from the manifests and SBOMs). */
  readonly bump: { readonly actual: Bump | 'none' | 'downgrade'; readonly required: Bump; readonly changes: readonly VersionChange[] };
};

const FIELDS: readonly [string, (m: ImageManifest) => string | null][] = [
  ['os', (m) => m.os],
  ['kernel', (m) => m.kernel],
  ['nvidia_driver', (m) => m.nvidia_driver],
  ['cuda_version', (m) => m.cuda_version],
  ['frameworks.pytorch', (m) => m.frameworks.pytorch],
  ['frameworks.tensorflow', (m) => m.frameworks.tensorflow],
  ['frameworks.vllm', (m) => m.frameworks.vllm],
  ['cudnn', (m) => m.components?.cudnn ?? null],
  ['nccl', (m) => m.components?.nccl ?? null],
  ['container_toolkit', (m) => m.components?.container_toolkit ?? null],
  ['docker', (m) => m.components?.docker ?? null],
  ['packer_version', (m) => m.packer_version],
  ['ansible_version', (m) => m.ansible_version],
  ['qemu_img_version', (m) => m.qemu_img_version],
];

/** Compares two releases' manifests (image facts, gate results, size) and SBOM packages, and the bump the changes require. */
export function diffReleases(a: ImageManifest, b: ImageManifest, sboms?: { readonly from: ReleasePackages; readonly to: ReleasePackages }): ReleaseDiff {
  const fields = FIELDS.map(([field, read]) => ({ field, from: read(a), to: read(b), changed: read(a) !== read(b) }));
  const layers = [...new Set([...a.layers.map((l) => l.layer), ...b.layers.map((l) => l.layer)])];
  const gates = layers.map((layer) => {
    const before = a.layers.find((l) => l.layer === layer);
    const after = b.layers.find((l) => l.layer === layer);
    const names = [...new Set([...(before?.gate.checks ?? []), ...(after?.gate.checks ?? [])].map((c) => c.check))];
    const checks = names.flatMap((check) => {
      const x = before?.gate.checks.find((c) => c.check === check);
      const y = after?.gate.checks.find((c) => c.check === check);
      const from = x ? { status: x.status, measured: JSON.stringify(x.measured) } : null;
      const to = y ? { status: y.status, measured: JSON.stringify(y.measured) } : null;
      return JSON.stringify(from) === JSON.stringify(to) ? [] : [{ check, from, to }];
    });
    const side = (l: typeof before) => (l ? { status: l.gate.status, gpu_validated: l.gate.gpu_validated, reused: l.reused } : null);
    return { layer, from: side(before), to: side(after), key_changed: before?.key !== after?.key, checks };
  });
  const unavailable = sboms === undefined ? 'no SBOMs were read' : 'problem' in sboms.from ? `v${a.version}: ${sboms.from.problem}` : 'problem' in sboms.to ? `v${b.version}: ${sboms.to.problem}` : null;
  const packages = sboms !== undefined && 'packages' in sboms.from && 'packages' in sboms.to ? diffSbomPackages(sboms.from.packages, sboms.to.packages) : null;
  const changes = [...classifyManifestChanges(a, b), ...(packages === null ? [] : classifyPackageChanges(packages))];
  const order = semver.compare(a.version, b.version);
  return {
    name: b.name,
    from: { version: a.version, build_date: a.build_date },
    to: { version: b.version, build_date: b.build_date },
    fields,
    gates,
    gpu_validated: { from: a.gpu_validated, to: b.gpu_validated },
    verify: { from: a.verify?.status ?? null, to: b.verify?.status ?? null },
    size: { from: a.size_bytes, to: b.size_bytes, delta: b.size_bytes - a.size_bytes },
    sha256: { from: a.checksum_sha256, to: b.checksum_sha256, same: a.checksum_sha256 === b.checksum_sha256 },
    packages,
    packages_unavailable: unavailable,
    bump: { actual: order === 0 ? 'none' : order > 0 ? 'downgrade' : bumpOf(a.version, b.version), required: requiredBump(changes), changes },
  };
}

// Hundreds of Debian packages change in a routine rebuild: the text shows this many per list, --json all.
const PACKAGE_LINES = 40;

/** The diff as text lines: changed fields first, then unchanged ones, gates, packages, size. */
export function formatReleaseDiff(diff: ReleaseDiff, formatBytes: (n: number) => string): string[] {
  const lines = [`${diff.name}: v${diff.from.version} (${diff.from.build_date}) → v${diff.to.version} (${diff.to.build_date})`, ''];
  const width = Math.max(...diff.fields.map((f) => f.field.length));
  const changed = diff.fields.filter((f) => f.changed);
  lines.push(changed.length === 0 ? 'image: nothing changed' : 'changed:');
  for (const f of changed) lines.push(`  ${f.field.padEnd(width)}  ${f.from ?? '(none)'} → ${f.to ?? '(none)'}`);
  const same = diff.fields.filter((f) => !f.changed);
  if (same.length > 0) lines.push('unchanged:');
  for (const f of same) lines.push(`  ${f.field.padEnd(width)}  ${f.to ?? '(none)'}`);
  lines.push('gates:');
  for (const g of diff.gates) {
    const side = (s: GateDiff['from']) => (s ? `${s.status}${s.gpu_validated ? '' : ' (GPU checks skipped)'}` : '(absent)');
    const rebuilt = g.to?.reused === false && g.key_changed ? ' (rebuilt)' : g.key_changed ? ' (inputs changed)' : '';
    lines.push(`  ${g.layer.padEnd(10)}  ${side(g.from)} → ${side(g.to)}${rebuilt}`);
    for (const c of g.checks) lines.push(`    ${c.check}: ${c.from ? `${c.from.status} ${c.from.measured}` : '(absent)'} → ${c.to ? `${c.to.status} ${c.to.measured}` : '(absent)'}`);
  }
  lines.push(`GPU-validated: ${diff.gpu_validated.from ? 'yes' : 'no'} → ${diff.gpu_validated.to ? 'yes' : 'no'}`);
  if (diff.verify.from !== null || diff.verify.to !== null) lines.push(`verification boot: ${diff.verify.from ?? 'none'} → ${diff.verify.to ?? 'none'}`);
  lines.push(...formatPackageDiff(diff));
  const sign = diff.size.delta >= 0 ? '+' : '-';
  lines.push(`size: ${formatBytes(diff.size.from)} → ${formatBytes(diff.size.to)} (${sign}${formatBytes(Math.abs(diff.size.delta))})${diff.sha256.same ? ', identical image' : ''}`);
  if (diff.bump.actual !== 'none' && diff.bump.actual !== 'downgrade') {
    lines.push(`semver: a ${diff.bump.actual.toUpperCase()} bump; the image changes alone require ${diff.bump.required.toUpperCase()}`);
  }
  // Check names, measured values and package names come from stored files: shown, never obeyed by the terminal.
  return lines.map(printableText);
}

function formatPackageDiff(diff: ReleaseDiff): string[] {
  const { packages } = diff;
  if (packages === null) return [`packages: not compared (${diff.packages_unavailable ?? 'no SBOM'})`];
  const { added, removed, changed } = packages;
  if (added.length + removed.length + changed.length === 0) return ['packages: none added, removed or changed'];
  const lines = [`packages: ${added.length} added, ${removed.length} removed, ${changed.length} changed version`];
  const list = <T>(items: readonly T[], line: (item: T) => string) => {
    lines.push(...items.slice(0, PACKAGE_LINES).map(line));
    if (items.length > PACKAGE_LINES) lines.push(`    … ${items.length - PACKAGE_LINES} more (imagebuild diff --json lists all)`);
  };
  list(added, (p) => `  + ${p.kind} ${p.name} ${p.version ?? '(no version)'}`);
  list(removed, (p) => `  - ${p.kind} ${p.name} ${p.version ?? '(no version)'}`);
  list(changed, (p) => `  ~ ${p.kind} ${p.name} ${p.from ?? '(no version)'} → ${p.to ?? '(no version)'}`);
  return lines;
}
