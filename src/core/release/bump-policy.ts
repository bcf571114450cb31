import semver from 'semver';
import type { ImageManifest } from '../manifest/image-manifest.js';
import type { PackageDiff } from '../sbom/sbom-packages.js';
import { BumpMismatchError } from '../../errors/index.js';

// The reference's versioning rule, made checkable: MAJOR for an OS or architecture change, at least
// MINOR for a new framework or capability, PATCH for fixes, driver patches and security updates.
// Two sources of change are compared: what the images hold (the manifests, read from the built
// images) and what was asked for (the canonical spec stored with each release, when there is one).
// docs/releases.md has the full table.

export type Bump = 'major' | 'minor' | 'patch';

const RANK: Readonly<Record<Bump, number>> = { patch: 0, minor: 1, major: 2 };

/** One change between two releases and the smallest bump it demands. */
export type VersionChange = {
  /** What changed: a manifest field (`os`, `frameworks.vllm`), `layers`, `layer driver`, `spec <path>` or `package pypi:<name>`. */
  readonly subject: string;
  readonly from: string | null;
  readonly to: string | null;
  readonly demands: Bump;
  readonly reason: string;
};

/** The verdict on a version bump: what it is, what the changes require, and whether an override let it pass. */
export type BumpCheck = {
  readonly from: string | null;
  readonly to: string;
  readonly actual: Bump | 'initial';
  readonly required: Bump | null;
  readonly changes: readonly VersionChange[];
  /** The operator's reason when the bump did not match and --allow-bump-mismatch let it pass. */
  readonly override: string | null;
};

// How many leading components of a version name a "series": a change inside the series is a patch.
// The NVIDIA driver's branch is its first number (570.x); CUDA, cuDNN and frameworks use major.minor.
const SERIES = { driver: 1, default: 2 } as const;

// Ubuntu names releases YY.MM (24.04; 24.04.3 is a point release); Debian and most others by one number.
const OS_SERIES_COMPONENTS: Readonly<Record<string, number>> = { ubuntu: 2 };

/** The smallest bump each difference between two manifests demands (facts read from the images and tools). */
export function classifyManifestChanges(previous: ImageManifest, next: ImageManifest): VersionChange[] {
  const changes: VersionChange[] = [];
  if (previous.os !== next.os) changes.push(classifyOs(previous.os, next.os));
  if (previous.kernel !== next.kernel) changes.push({ subject: 'kernel', from: previous.kernel, to: next.kernel, demands: 'patch', reason: 'kernel update' });
  const capability = (subject: string, label: string, from: string | null, to: string | null, series: number) => {
    if (from !== to) changes.push(classifyCapability(subject, label, from, to, series));
  };
  capability('nvidia_driver', 'NVIDIA driver', previous.nvidia_driver, next.nvidia_driver, SERIES.driver);
  capability('cuda_version', 'CUDA', previous.cuda_version, next.cuda_version, SERIES.default);
  for (const framework of ['pytorch', 'tensorflow', 'vllm'] as const) {
    capability(`frameworks.${framework}`, framework, previous.frameworks[framework], next.frameworks[framework], SERIES.default);
  }
  for (const tool of ['packer_version', 'ansible_version', 'qemu_img_version'] as const) {
    if (previous[tool] !== next[tool]) changes.push({ subject: tool, from: previous[tool], to: next[tool], demands: 'patch', reason: 'build toolchain update' });
  }
  const before = new Map(previous.layers.map((l) => [l.layer, l.key]));
  const after = new Map(next.layers.map((l) => [l.layer, l.key]));
  for (const [layer, key] of after) {
    const old = before.get(layer);
    if (old === undefined) changes.push({ subject: 'layers', from: null, to: layer, demands: 'minor', reason: `new layer ${layer} (a new capability)` });
    else if (old !== key) changes.push({ subject: `layer ${layer}`, from: old.slice(0, 12), to: key.slice(0, 12), demands: 'patch', reason: `${layer} layer inputs changed (roles, files or settings)` });
  }
  for (const layer of before.keys()) {
    if (!after.has(layer)) changes.push({ subject: 'layers', from: layer, to: null, demands: 'major', reason: `layer ${layer} removed (breaks users of what it provided)` });
  }
  return changes;
}

/**
 * The bump package-level changes between two images' SBOMs demand: a distribution new in the frameworks
 * venv is a new capability (at least MINOR). Other package changes (Debian updates, upgraded or removed
 * wheels) demand PATCH, the least any release gets, so they add no entry; the frameworks themselves
 * are judged by classifyManifestChanges.
 */
export function classifyPackageChanges(diff: PackageDiff): VersionChange[] {
  return diff.added
    .filter((p) => p.kind === 'pypi')
    .map((p) => ({ subject: `package pypi:${p.name}`, from: null, to: p.version, demands: 'minor' as const, reason: `new framework package ${p.name} in the venv (a new capability)` }));
}

type SpecRule = { readonly path: RegExp; readonly classify: (from: unknown, to: unknown, path: string) => Pick<VersionChange, 'demands' | 'reason'> };

const versionRule = (label: string, series: number) => (from: unknown, to: unknown) => {
  const { demands, reason } = classifyCapability('', label, textOf(from), textOf(to), series);
  return { demands, reason };
};

// First match wins; anything not listed is a setting change: PATCH.
const SPEC_RULES: readonly SpecRule[] = [
  { path: /^os\.(distro|release)$/, classify: () => ({ demands: 'major', reason: 'OS distro or release change' }) },
  { path: /^(hardware\.)?arch(itecture)?$/, classify: () => ({ demands: 'major', reason: 'architecture change' }) },
  { path: /^hardware\.gpu\.model$/, classify: () => ({ demands: 'minor', reason: 'new GPU target (a new capability)' }) },
  { path: /^layers\.driver\.nvidia_driver$/, classify: versionRule('NVIDIA driver', SERIES.driver) },
  { path: /^layers\.driver\.(cuda|cudnn)$/, classify: (f, t, p) => versionRule(p.endsWith('cudnn') ? 'cuDNN' : 'CUDA', SERIES.default)(f, t) },
  { path: /^layers\.runtime\.container_toolkit$/, classify: versionRule('NVIDIA Container Toolkit', SERIES.default) },
  { path: /^layers\.frameworks\.python\.version$/, classify: versionRule('Python', SERIES.default) },
  { path: /^layers\.frameworks\.(pytorch|tensorflow|vllm)$/, classify: (f, t, p) => frameworkPresence(p.split('.')[2]!, f, t) },
  { path: /^layers\.frameworks\.(pytorch|tensorflow|vllm)\.version$/, classify: (f, t, p) => versionRule(p.split('.')[2]!, SERIES.default)(f, t) },
  { path: /^layers\.\w+$/, classify: (f, t, p) => layerPresence(p.split('.')[1]!, f, t) },
];

// Not part of what the image is: documentation, the editor's schema pointer, and how and where it
// is built and stored (the build host's PCI addresses, the build VM's size, cache, output, store).
const SPEC_IGNORED = ['$schema', 'description', 'hardware.gpu.passthrough', 'hardware.build_vm', 'cache', 'output.dir', 'artifacts'];

/** The smallest bump each difference between two canonical specs demands (what was asked for). */
export function classifySpecChanges(previous: unknown, next: unknown): VersionChange[] {
  return diffJson(withoutIgnored(previous), withoutIgnored(next), [])
    .map((d) => {
      const path = d.path.join('.');
      const rule = SPEC_RULES.find((r) => r.path.test(path));
      const verdict = rule ? rule.classify(d.from, d.to, path) : { demands: 'patch' as const, reason: 'setting changed' };
      return { subject: `spec ${path}`, from: displayOf(d.from), to: displayOf(d.to), ...verdict };
    });
}

/** The bump from one version to the next: major, minor or patch by which number changed. */
export function bumpOf(from: string, to: string): Bump {
  const a = semver.parse(from);
  const b = semver.parse(to);
  if (!a || !b) throw new BumpMismatchError(`cannot compare versions ${from} and ${to}; both must be semver`);
  if (a.major !== b.major) return 'major';
  if (a.minor !== b.minor) return 'minor';
  return 'patch';
}

/** The bump the changes require: the largest any change demands (PATCH when nothing changed: a rebuild picks up security updates). */
export function requiredBump(changes: readonly VersionChange[]): Bump {
  return changes.reduce<Bump>((max, c) => (RANK[c.demands] > RANK[max] ? c.demands : max), 'patch');
}

/**
 * Checks `to` against the previous release `from`: the bump must be at least what the changes
 * require, and MAJOR only for a change that demands it. A mismatch throws BumpMismatchError naming
 * the change and the bump it demands, unless `override` (the operator's reason) is given.
 */
export function checkVersionBump(input: { from: string | null; to: string; changes: readonly VersionChange[]; override?: string }): BumpCheck {
  const { from, to, changes } = input;
  const override = input.override?.trim() || null;
  if (from === null) return { from, to, actual: 'initial', required: null, changes, override: null };
  if (!semver.gt(to, from)) {
    throw new BumpMismatchError(`v${to} is not newer than v${from}, the release it follows; publish a higher version`);
  }
  const actual = bumpOf(from, to);
  const required = requiredBump(changes);
  const problem = describeMismatch(from, to, actual, required, changes);
  if (problem === undefined) return { from, to, actual, required, changes, override: null };
  if (override !== null) return { from, to, actual, required, changes, override };
  throw new BumpMismatchError(`${problem}; or, to publish anyway, give --allow-bump-mismatch "<reason>" (recorded in the manifest)`);
}

/** One line per change, for plan output and release notes: `frameworks.vllm 0.10.1 → 0.11.0: MINOR (vllm new release series)`. */
export function describeChange(change: VersionChange): string {
  return `${change.subject} ${change.from ?? '(none)'} → ${change.to ?? '(none)'}: ${change.demands.toUpperCase()} (${change.reason})`;
}

function describeMismatch(from: string, to: string, actual: Bump, required: Bump, changes: readonly VersionChange[]): string | undefined {
  const strongest = changes.filter((c) => c.demands === required);
  const [top] = strongest;
  const more = strongest.length > 1 ? ` (and ${strongest.length - 1} more change${strongest.length > 2 ? 's' : ''} demanding ${required.toUpperCase()})` : '';
  if (RANK[actual] < RANK[required] && top) {
    return `v${from} → v${to} is a ${actual.toUpperCase()} bump, but ${describeChange(top)} demands ${required.toUpperCase()}${more}; publish it as v${semver.inc(from, required)}`;
  }
  if (actual === 'major' && required !== 'major') {
    const largest = top ? `the largest change, ${describeChange(top)}` : 'nothing changed';
    return `v${from} → v${to} is a MAJOR bump, but only an OS distro/release or architecture change (or a removal) demands MAJOR and ${largest}; publish it as v${semver.inc(from, required)}`;
  }
  return undefined;
}

function classifyOs(from: string, to: string): VersionChange {
  const a = parseOs(from);
  const b = parseOs(to);
  const sameSeries = a.distro === b.distro && a.series !== '' && a.series === b.series;
  return sameSeries
    ? { subject: 'os', from, to, demands: 'patch', reason: 'OS point release (security updates)' }
    : { subject: 'os', from, to, demands: 'major', reason: a.distro === b.distro ? 'OS release change' : 'OS distro change' };
}

function parseOs(text: string): { distro: string; series: string } {
  const distro = (text.trim().split(/\s+/)[0] ?? '').toLowerCase();
  const numbers = /(\d+(?:\.\d+)*)/.exec(text)?.[1] ?? '';
  return { distro, series: numbers.split('.').slice(0, OS_SERIES_COMPONENTS[distro] ?? 1).join('.') };
}

function classifyCapability(subject: string, label: string, from: string | null, to: string | null, series: number): VersionChange {
  const base = { subject, from, to };
  if (from === null) return { ...base, demands: 'minor', reason: `${label} added (a new capability)` };
  if (to === null) return { ...base, demands: 'major', reason: `${label} removed (breaks users of it)` };
  const a = leadingNumbers(from).slice(0, series).join('.');
  const b = leadingNumbers(to).slice(0, series).join('.');
  if (a === '' || b === '' || a !== b) return { ...base, demands: 'minor', reason: `${label} new ${series === 1 ? 'branch' : 'release series'}` };
  return { ...base, demands: 'patch', reason: `${label} patch within ${a}` };
}

function frameworkPresence(name: string, from: unknown, to: unknown): Pick<VersionChange, 'demands' | 'reason'> {
  if (from === undefined) return { demands: 'minor', reason: `new framework ${name} (a new capability)` };
  if (to === undefined) return { demands: 'major', reason: `framework ${name} removed (breaks users of it)` };
  return { demands: 'patch', reason: `${name} settings changed` };
}

function layerPresence(name: string, from: unknown, to: unknown): Pick<VersionChange, 'demands' | 'reason'> {
  if (from === undefined) return { demands: 'minor', reason: `new layer ${name} (a new capability)` };
  if (to === undefined) return { demands: 'major', reason: `layer ${name} removed (breaks users of it)` };
  return { demands: 'patch', reason: `${name} layer settings changed` };
}

function leadingNumbers(version: string): string[] {
  return (/^\D*(\d+(?:\.\d+)*)/.exec(version)?.[1] ?? '').split('.').filter(Boolean);
}

function textOf(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function displayOf(value: unknown): string | null {
  const text = textOf(value);
  return text !== null && text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** A copy of a spec without the paths that do not describe the image. */
function withoutIgnored(spec: unknown): unknown {
  const copy: unknown = spec === undefined ? undefined : JSON.parse(JSON.stringify(spec));
  for (const path of SPEC_IGNORED) {
    const parts = path.split('.');
    let node = copy;
    for (const part of parts.slice(0, -1)) node = isPlainObject(node) ? node[part] : undefined;
    if (isPlainObject(node)) delete node[parts.at(-1)!];
  }
  return copy;
}

type JsonDifference = { path: string[]; from: unknown; to: unknown };

/** Leaf differences of two JSON values; an object present on one side only is one difference at its own path, arrays compare whole. */
function diffJson(a: unknown, b: unknown, path: string[]): JsonDifference[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => diffJson(a[k], b[k], [...path, k]));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [{ path, from: a, to: b }];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
