import { cp, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeReleasedProject, runCli } from '../helpers/fault-harness.js';
import { deriveRelease } from '../helpers/release-project.js';
import { FAKE_BUILD_TOOLS } from '../helpers/fake-tools.js';
import { requireTools } from '../helpers/require-tools.js';
import { DEMO_NAME, smallDemoSpec } from '../helpers/spec-builders.js';
import { listTree, makeTempDir } from '../helpers/temp-dir.js';

const hasBuildTools = requireTools('test/faults/bad-inputs.test.ts', ...FAKE_BUILD_TOOLS);

// A corpus of bad inputs beyond the bad specs of test/spec-errors.test.ts (validate/render): versions,
// command-line arguments, specs given to other commands, corrupted manifests (in output/ and in a store),
// a corrupted release index and corrupted cache metadata. Each runs the built CLI as a process in a
// fresh copy of one project (a fake-packer build of v1.0.0, v1.0.0 and v1.0.1 published to a filesystem
// store), and must give exactly one line on stderr — `error: …`, no stack trace — exit 2 for bad input
// or 1 for corrupted state (`imagebuild --help`: "0 ok, 1 failure, 2 bad input or usage, 70 internal
// error"), print nothing on stdout and write nothing at all.

type Case = {
  readonly name: string;
  readonly args: readonly string[];
  /** 2: bad input or usage; 1: corrupted state (or another failure). */
  readonly exit: 1 | 2;
  readonly message: RegExp;
  /** Damages the copy of the project before the command runs. */
  readonly setup?: (dir: string) => Promise<void>;
  /** The command starts a build before it fails: its build directory (logs) may appear under the cache's builds/. */
  readonly startsBuild?: true;
};

const SPEC = ['--spec', 'box.yaml'];
const OUT = (version = '1.0.0') => `output/${DEMO_NAME}/v${version}/image-manifest.json`;
const INDEX = `store/${DEMO_NAME}/releases.json`;

/** Rewrites a JSON file of the copy through `change`. */
const editJson = (path: string, change: (value: Record<string, unknown>) => unknown) => async (dir: string) => {
  const value = JSON.parse(await readFile(join(dir, path), 'utf8')) as Record<string, unknown>;
  await writeFile(join(dir, path), JSON.stringify(change(value), null, 2));
};
/** Cuts a file of the copy to its first half, as a crash mid-write would. */
const truncateHalf = (path: string) => async (dir: string) => {
  const text = await readFile(join(dir, path), 'utf8');
  await truncate(join(dir, path), Math.floor(text.length / 2));
};
const writeText = (path: string, text: string) => async (dir: string) => writeFile(join(dir, path), text);
const without = (key: string) => (value: Record<string, unknown>) => Object.fromEntries(Object.entries(value).filter(([k]) => k !== key));

/** The cache entry of a layer of v1.0.0, by the key its manifest records. */
const entryOf = (layer: number) => async (dir: string) => {
  const manifest = JSON.parse(await readFile(join(dir, OUT()), 'utf8')) as { layers: { key: string }[] };
  return `.imagebuild/cache/layers/${manifest.layers[layer]!.key}/entry.json`;
};
const damageEntry = (layer: number, damage: (path: string) => (dir: string) => Promise<void>) => async (dir: string) => damage(await entryOf(layer)(dir))(dir);
/** A published release's stored manifest, where the release index says it is (each publish has a directory of its own). */
const storedManifest = async (dir: string, version: string): Promise<string> => {
  const index = JSON.parse(await readFile(join(dir, INDEX), 'utf8')) as { releases: { version: string; manifest_key: string }[] };
  const record = index.releases.find((r) => r.version === version);
  if (record === undefined) throw new Error(`the test store lists no ${version}`);
  return `store/${record.manifest_key}`;
};
const damageStored = (version: string, damage: (path: string) => (dir: string) => Promise<unknown>) => async (dir: string) => {
  await damage(await storedManifest(dir, version))(dir);
};

const BUILD = ['build', 'v1.1.0', ...SPEC, '--host-profile', 'cpu', '--no-verify', '--json'];

const CASES: readonly Case[] = [
  // --- versions ---
  { name: 'build 1.2', args: ['build', '1.2'], exit: 2, message: /version "1\.2" is not semver; give vMAJOR\.MINOR\.PATCH/ },
  { name: 'build v01.2.3 (leading zero)', args: ['build', 'v01.2.3'], exit: 2, message: /version "v01\.2\.3" is not semver/ },
  { name: 'build with no version', args: ['build'], exit: 2, message: /build: expected 1 argument\(s\), got 0/ },
  { name: 'build with two versions', args: ['build', 'v1.0.0', 'v1.0.1'], exit: 2, message: /build: expected 1 argument\(s\), got 2/ },
  { name: 'build 1.2.3.4', args: ['build', '1.2.3.4'], exit: 2, message: /version "1\.2\.3\.4" is not semver/ },
  { name: 'build with build metadata', args: ['build', 'v1.0.0+git.abc'], exit: 2, message: /version "v1\.0\.0\+git\.abc" is not semver/ },
  { name: 'build V1.0.0 (capital V)', args: ['build', 'V1.0.0'], exit: 2, message: /version "V1\.0\.0" is not semver/ },
  { name: 'build with an empty version', args: ['build', ''], exit: 2, message: /version "" is not semver/ },
  { name: 'build with a 21-digit major', args: ['build', '999999999999999999999.0.0'], exit: 2, message: /is not semver/ },
  { name: 'publish 1.2', args: ['publish', '1.2', ...SPEC], exit: 2, message: /version "1\.2" is not semver/ },
  { name: 'download vlatest', args: ['download', 'vlatest', ...SPEC], exit: 2, message: /version "vlatest" is not semver/ },
  { name: 'diff with one bad side', args: ['diff', 'v1.0.0', 'newest', ...SPEC], exit: 2, message: /version "newest" is not semver/ },
  { name: 'rollback --to 1', args: ['rollback', '--to', '1', ...SPEC], exit: 2, message: /version "1" is not semver/ },
  { name: 'a version with a newline stays one line', args: ['build', '1.0.0\nerror: forged second line'], exit: 2, message: /is not semver/ },
  // --- command-line arguments ---
  { name: 'a newline in --accel stays one line', args: ['build', 'v1.0.0', '--accel', 'kvm\nerror: forged second line'], exit: 2, message: /--accel .* is not valid; valid: kvm, tcg/ },
  { name: 'a newline in --until-layer stays one line', args: ['build', 'v1.0.0', '--until-layer', 'base\nerror: forged second line'], exit: 2, message: /--until-layer .* is not a layer/ },
  { name: 'a newline in a command name stays one line', args: ['frob\nerror: forged second line'], exit: 2, message: /unknown command .*; valid commands: / },
  { name: 'build --accel foo', args: ['build', 'v1.0.0', '--accel', 'foo'], exit: 2, message: /--accel "foo" is not valid; valid: kvm, tcg/ },
  { name: 'build --until-layer nope', args: ['build', 'v1.0.0', '--until-layer', 'nope'], exit: 2, message: /--until-layer "nope" is not a layer; valid: base, driver, runtime, frameworks, validation/ },
  { name: 'build --host-profile gpus', args: ['build', 'v1.0.0', '--host-profile', 'gpus'], exit: 2, message: /--host-profile "gpus" is not valid; valid: gpu, cpu/ },
  { name: 'build --spec without its value', args: ['build', 'v1.0.0', '--spec'], exit: 2, message: /build: Option '--spec <value>' argument missing/ },
  { name: 'build --from-layer without its value', args: ['build', 'v1.0.0', '--from-layer'], exit: 2, message: /Option '--from-layer <value>' argument missing/ },
  { name: 'build with an unknown flag', args: ['build', 'v1.0.0', '--fast'], exit: 2, message: /build: Unknown option '--fast'.*; valid options: --spec, --from-layer, / },
  { name: 'build with an unknown short flag', args: ['build', 'v1.0.0', '-x'], exit: 2, message: /build: Unknown option '-x'/ },
  { name: 'a boolean flag given a value', args: ['build', 'v1.0.0', '--no-verify=yes'], exit: 2, message: /Option '--no-verify' does not take an argument/ },
  { name: '--verify-user without --verify-key', args: ['build', 'v1.0.0', '--verify-user', 'ops'], exit: 2, message: /--verify-user and --verify-key go together/ },
  { name: '--allow-bump-mismatch without --publish', args: ['build', 'v1.0.0', '--allow-bump-mismatch', 'because'], exit: 2, message: /--allow-bump-mismatch goes with --publish/ },
  { name: 'publish with an empty bump reason', args: ['publish', 'v1.0.2', ...SPEC, '--allow-bump-mismatch', ' '], exit: 2, message: /--allow-bump-mismatch needs a reason/ },
  { name: 'download --limit-rate fast', args: ['download', 'v1.0.0', ...SPEC, '--limit-rate', 'fast'], exit: 2, message: /--limit-rate "fast" is not a rate of at least 1K/ },
  { name: 'download --limit-rate below 1K', args: ['download', 'v1.0.0', ...SPEC, '--limit-rate', '512'], exit: 2, message: /--limit-rate "512" is not a rate of at least 1K/ },
  { name: 'prune --keep 0', args: ['prune', ...SPEC, '--keep', '0'], exit: 2, message: /--keep "0" is not a count; give a whole number from 1 to 100/ },
  { name: 'prune --keep 2.5', args: ['prune', ...SPEC, '--keep', '2.5'], exit: 2, message: /--keep "2\.5" is not a count/ },
  { name: 'cache with an unknown action', args: ['cache', 'purge'], exit: 2, message: /cache: unknown action "purge"; valid: ls, prune/ },
  { name: 'cache with no action', args: ['cache'], exit: 2, message: /cache: expected 1 argument\(s\), got 0/ },
  { name: 'rollback with neither --layer nor --to', args: ['rollback'], exit: 2, message: /rollback: give --layer LAYER .* or --to VERSION/ },
  { name: 'rollback with both --layer and --to', args: ['rollback', '--layer', 'driver', '--to', 'v1.0.0'], exit: 2, message: /give --layer \(a cached layer\) or --to \(a release\), not both/ },
  { name: 'rollback --layer kernel', args: ['rollback', '--layer', 'kernel'], exit: 2, message: /--layer "kernel" is not a layer/ },
  { name: 'verify with no image', args: ['verify'], exit: 2, message: /verify: expected 1 argument\(s\), got 0/ },
  { name: 'verify --accel arm', args: ['verify', 'x.qcow2', '--accel', 'arm'], exit: 2, message: /--accel "arm" is not valid; valid: kvm, tcg/ },
  { name: 'an unknown command that looks like a flag', args: ['--frobnicate'], exit: 2, message: /unknown command "--frobnicate"/ },
  // --- specs given to other commands than validate/render ---
  { name: 'build with an invalid spec', args: ['build', 'v1.1.0', '--spec', 'bad.yaml'], exit: 2, setup: writeText('bad.yaml', smallDemoSpec([[['name'], 'Vault Cube']])), message: /^error: bad\.yaml: name: not a valid image name/ },
  { name: 'publish with an invalid spec', args: ['publish', 'v1.0.2', '--spec', 'bad.yaml'], exit: 2, setup: writeText('bad.yaml', smallDemoSpec([[['os', 'disk_size_gib'], 1]])), message: /^error: bad\.yaml: os\.disk_size_gib: / },
  { name: 'plan with a spec that is a directory', args: ['plan', 'v1.1.0', '--spec', 'store'], exit: 1, message: /store: is a directory, not a spec file$/ },
  { name: 'list with a spec that names no store', args: ['list', '--spec', 'nostore.yaml'], exit: 2, message: /the spec names no artifacts\.store/ },
  { name: 'download with a spec that names no store', args: ['download', 'v1.0.0', '--spec', 'nostore.yaml'], exit: 2, message: /the spec names no artifacts\.store/ },
  // --- corrupted manifests in output/ ---
  { name: 'build over a truncated manifest in output/', args: ['build', 'v1.0.0', ...SPEC, '--host-profile', 'cpu', '--no-verify', '--json'], exit: 1, setup: truncateHalf(OUT()), message: /v1\.0\.0\/image-manifest\.json: / },
  { name: 'build over a manifest with a wrong type in output/', args: ['build', 'v1.0.0', ...SPEC, '--host-profile', 'cpu', '--no-verify', '--json'], exit: 1, setup: editJson(OUT(), (m) => ({ ...m, size_bytes: 'big' })), message: /v1\.0\.0\/image-manifest\.json: not a valid image manifest .*; move it away or restore it/ },
  { name: 'publish a release whose manifest lacks its sha256', args: ['publish', 'v1.0.2', ...SPEC], exit: 1, setup: async (dir) => {
    await cp(join(dir, `output/${DEMO_NAME}/v1.0.1`), join(dir, `output/${DEMO_NAME}/v1.0.2`), { recursive: true });
    await editJson(OUT('1.0.2'), (m) => without('checksum_sha256')({ ...m, version: '1.0.2' }))(dir);
  }, message: /image-manifest\.json: .*checksum_sha256/ },
  { name: 'publish a release built against the test stand-ins', args: ['publish', 'v1.0.2', ...SPEC], exit: 2, setup: async (dir) => {
    await cp(join(dir, `output/${DEMO_NAME}/v1.0.1`), join(dir, `output/${DEMO_NAME}/v1.0.2`), { recursive: true });
    await editJson(OUT('1.0.2'), (m) => ({ ...m, version: '1.0.2', stand_ins: ['deb:nvidia-open', 'pypi:torch'] }))(dir);
  }, message: /v1\.0\.2 was built against imagebuild's test stand-ins \(deb:nvidia-open, pypi:torch\); such an image is never published/ },
  { name: 'diff (no store) with a truncated local manifest', args: ['diff', 'v1.0.0', 'v1.0.1', '--spec', 'nostore.yaml'], exit: 1, setup: truncateHalf(OUT('1.0.1')), message: /v1\.0\.1\/image-manifest\.json: not JSON/ },
  { name: 'rollback --to (no store) onto a manifest with wrong types', args: ['rollback', '--to', 'v1.0.0', '--spec', 'nostore.yaml'], exit: 1, setup: editJson(OUT(), (m) => ({ ...m, layers: 'all of them' })), message: /image-manifest\.json: layers: / },
  { name: 'cache prune over a truncated release manifest', args: ['cache', 'prune', ...SPEC, '--host-profile', 'cpu'], exit: 1, setup: truncateHalf(OUT()), message: /v1\.0\.0\/image-manifest\.json: unreadable or not a valid manifest, so it is unknown which cached layers v1\.0\.0 uses/ },
  { name: 'cache prune --yes over a release manifest of wrong types', args: ['cache', 'prune', '--yes', ...SPEC, '--host-profile', 'cpu'], exit: 1, setup: editJson(OUT(), (m) => ({ ...m, layers: {} })), message: /unknown which cached layers v1\.0\.0 uses/ },
  // --- corrupted manifests in the store ---
  { name: 'download a release whose stored manifest is truncated', args: ['download', 'v1.0.0', ...SPEC], exit: 1, setup: damageStored('1.0.0', truncateHalf), message: /v1\.0\.0\/(?:[^/ ]+\/)?image-manifest\.json: not valid JSON/ },
  { name: 'download a release whose stored manifest lacks its sha256', args: ['download', 'v1.0.0', ...SPEC], exit: 1, setup: damageStored('1.0.0', (path) => editJson(path, without('checksum_sha256'))), message: /image-manifest\.json: .*checksum_sha256/ },
  { name: 'download a release whose stored manifest disagrees with the index', args: ['download', 'v1.0.0', ...SPEC], exit: 1, setup: damageStored('1.0.0', (path) => editJson(path, (m) => ({ ...m, size_bytes: 1 }))), message: /disagrees with the release index/ },
  { name: 'diff with a stored manifest of wrong types', args: ['diff', 'v1.0.0', 'v1.0.1', ...SPEC], exit: 1, setup: damageStored('1.0.1', (path) => editJson(path, (m) => ({ ...m, frameworks: ['torch'] }))), message: /v1\.0\.1\/(?:[^/ ]+\/)?image-manifest\.json: frameworks: / },
  { name: 'rollback --to a release whose stored manifest is missing', args: ['rollback', '--to', 'v1.0.0', ...SPEC], exit: 1, setup: damageStored('1.0.0', (path) => (dir) => rm(join(dir, path))), message: /missing from the store although the release index lists it/ },
  // --- a corrupted release index ---
  { name: 'list with a truncated release index', args: ['list', ...SPEC], exit: 1, setup: truncateHalf(INDEX), message: /releases\.json: not valid JSON/ },
  { name: 'list with a release index that is not an object', args: ['list', ...SPEC], exit: 1, setup: writeText(INDEX, '[]'), message: /releases\.json/ },
  { name: 'download with an index whose current names no release', args: ['download', 'current', ...SPEC], exit: 1, setup: editJson(INDEX, (i) => ({ ...i, current: { ...(i.current as object), version: '9.9.9' } })), message: /releases\.json/ },
  { name: 'diff with an index of another format', args: ['diff', 'v1.0.0', 'v1.0.1', ...SPEC], exit: 1, setup: editJson(INDEX, (i) => ({ ...i, format: 2 })), message: /unsupported release index format/ },
  { name: 'rollback --to with an index listing a version twice', args: ['rollback', '--to', 'v1.0.0', ...SPEC], exit: 1, setup: editJson(INDEX, (i) => ({ ...i, releases: [...(i.releases as unknown[]), (i.releases as unknown[])[0]] })), message: /listed twice/ },
  { name: 'publish with a release index holding a bad sha256', args: ['publish', 'v1.0.2', ...SPEC], exit: 1, setup: async (dir) => {
    await deriveRelease(join(dir, 'output', DEMO_NAME), '1.0.1', '1.0.2');
    await editJson(INDEX, (i) => ({ ...i, releases: (i.releases as Record<string, unknown>[]).map((r) => ({ ...r, sha256: 'abc' })) }))(dir);
  }, message: /releases\.json: .*sha256/ },
  // --- corrupted cache metadata ---
  { name: 'build with a garbage lock file', args: BUILD, exit: 1, setup: writeText('.imagebuild/cache/lock', '\u0000\u0000garbage'), message: /lock: held by a process that left an unreadable lock file; wait for it to finish, or remove the file/ },
  { name: 'build with a lock file of another host', args: BUILD, exit: 1, setup: writeText('.imagebuild/cache/lock', JSON.stringify({ pid: 1, hostname: 'elsewhere', command: 'imagebuild build v9.9.9', startedAt: '2026-01-01T00:00:00Z' })), message: /held by pid 1 on elsewhere \(imagebuild build v9\.9\.9\)/ },
  // A cache entry whose layer image is gone is not an error any more: the build drops and rebuilds it (test/faults/cache-integrity.test.ts).
  { name: 'build on a cache entry without its gate verdict', args: BUILD, exit: 1, startsBuild: true, setup: damageEntry(2, (entry) => editJson(entry, without('gate'))), message: /cache entry has no valid gate verdict; run `imagebuild rollback --layer runtime`/ },
];

describe.skipIf(!hasBuildTools)('bad inputs through the CLI: one line, the right exit code, nothing written', () => {
  let template: { dir: string; cleanup: () => Promise<void> };
  let root: { dir: string; cleanup: () => Promise<void> };
  let index = 0;

  beforeAll(async () => {
    template = await makeTempDir('imagebuild-fault-inputs-template-');
    root = await makeTempDir('imagebuild-fault-inputs-');
    await makeReleasedProject(template.dir);
  });
  afterAll(async () => {
    await template?.cleanup();
    await root?.cleanup();
  });

  it('has at least 40 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.concurrent.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, bad) => {
    const dir = join(root.dir, `case-${index++}`);
    await mkdir(dir);
    await cp(template.dir, dir, { recursive: true });
    await bad.setup?.(dir);
    const before = await listTree(dir);

    const result = await runCli(bad.args, dir);

    const lines = result.stderr.split('\n').filter((l) => l !== '');
    expect(result.stderr).not.toContain('    at ');
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: /);
    expect(lines[0]).toMatch(bad.message);
    expect(result.exitCode, result.stderr).toBe(bad.exit);
    expect(result.stdout).toBe('');
    const after = await listTree(dir);
    expect(after.filter((p) => before.includes(p) || !(bad.startsBuild && p.startsWith('.imagebuild/cache/builds/')))).toEqual(before);
  });

  it('a truncated manifest of another release does not stop a build whose layers are all cached: it is not reused, and the build completes', async () => {
    const dir = join(root.dir, 'other-release');
    await mkdir(dir);
    await cp(template.dir, dir, { recursive: true });
    await truncateHalf(OUT('1.0.1'))(dir);

    const result = await runCli(BUILD, dir);

    expect(result.stderr).not.toContain('    at ');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'built', layers: [{ action: 'reused' }, { action: 'reused' }, { action: 'reused' }, { action: 'reused' }, { action: 'reused' }] });
  });
});
