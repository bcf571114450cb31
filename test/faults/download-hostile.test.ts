import { existsSync } from 'node:fs';
import { chmod, chown, lchown, link, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ImageManifest } from '../../src/core/manifest/image-manifest.js';
import { isRoot, makePublishedRelease, runCli, startCli, type CliResult } from '../helpers/fault-harness.js';
import { deriveRelease, sha256Of } from '../helpers/release-project.js';
import { makeTempDir, type TempDir } from '../helpers/temp-dir.js';
import { DEMO_NAME } from '../helpers/spec-builders.js';
import { waitForSize } from '../helpers/wait.js';

// Rule 2 of issue 17: a download destination is hostile ground. Whatever another user (or an earlier
// accident) left at the names a download uses — the .part, its record, the final name, the lock, the
// destination directory itself — is never followed: no byte lands outside --dest, no link or foreign
// file is ever reported as the verified image. One downloader per release and destination: a second
// is refused naming the first's pid, a killed one's lock does not block, and different releases may
// share a destination. Against the built CLI and a filesystem store (the destination is what is tested).

const MIB = 1024 * 1024;
const SIZE = 4 * MIB;
const NOBODY = 65534;

describe('a download destination someone else prepared', () => {
  let temp: TempDir | undefined;
  let project: string;
  let manifest: ImageManifest;
  let second: ImageManifest;
  let image: Buffer;
  const dest = () => join(project, 'dl');
  const at = (name: string) => join(dest(), name);
  const finalPath = () => at(manifest.artifact);
  const partPath = () => `${finalPath()}.part`;
  const partRecord = () => ({ name: DEMO_NAME, version: '1.0.0', sha256: manifest.checksum_sha256, size_bytes: manifest.size_bytes });
  const download = (version = 'v1.0.0', ...more: string[]) => runCli(['download', version, '--spec', 'box.yaml', '--dest', 'dl', ...more], project);
  /** The error lines (and any stack line) of a run: a refusal must be exactly one. */
  const errorLines = (result: CliResult) => result.stderr.split('\n').filter((l) => l.startsWith('error') || l.includes('    at '));

  beforeAll(async () => {
    temp = await makeTempDir('imagebuild-fault-hostile-');
    project = temp.dir;
    manifest = await makePublishedRelease(project, SIZE);
    image = await readFile(join(project, 'output', DEMO_NAME, 'v1.0.0', manifest.artifact));
    second = await deriveRelease(join(project, 'output', DEMO_NAME), '1.0.0', '1.0.1', () => ({ kernel: '6.8.0-60-generic' }), SIZE);
    for (const version of ['v1.0.0', 'v1.0.1']) {
      const published = await runCli(['publish', version, '--spec', 'box.yaml'], project);
      expect(published.exitCode, published.stderr).toBe(0);
    }
  });
  afterEach(async () => {
    await rm(dest(), { recursive: true, force: true });
    await rm(join(project, 'outside'), { recursive: true, force: true });
  });
  afterAll(async () => {
    await temp?.cleanup();
  });

  /** A directory beside --dest, standing for someone else's files. */
  async function outside(name: string, content: string | Buffer): Promise<string> {
    await mkdir(join(project, 'outside'), { recursive: true });
    const path = join(project, 'outside', name);
    await writeFile(path, content);
    return path;
  }

  it('never appends to a file outside --dest through a link at the .part name, even with a matching record beside it', async () => {
    const victim = await outside('victim.log', 'precious log line\n');
    await mkdir(dest());
    await symlink(victim, partPath());
    await writeFile(`${partPath()}.json`, `${JSON.stringify(partRecord())}\n`);

    const result = await download();

    expect(result.exitCode).toBe(1);
    expect(errorLines(result)).toEqual([`error: ${partPath()}: a symbolic link (to ${victim}) is there, not a file this download wrote; imagebuild neither follows nor replaces it: remove it (it holds no bytes of this download), or choose another --dest`]);
    expect(await readFile(victim, 'utf8')).toBe('precious log line\n');
    expect(existsSync(finalPath())).toBe(false);
  });

  it('refuses a dangling link at the .part name rather than creating its target', async () => {
    const target = join(project, 'outside', 'created-by-download');
    await mkdir(dest());
    await symlink(target, partPath());

    const result = await download();

    expect(result.exitCode).toBe(1);
    expect(errorLines(result)).toEqual([expect.stringContaining(`error: ${partPath()}: a symbolic link (to ${target}) is there`)]);
    expect(existsSync(target)).toBe(false);
  });

  it('never changes a file outside --dest through a hard link at the .part name: starts over in a file of its own', async () => {
    const prefix = image.subarray(0, MIB);
    const victim = await outside('hard-linked.bin', prefix);
    await mkdir(dest());
    await link(victim, partPath());
    await writeFile(`${partPath()}.json`, `${JSON.stringify(partRecord())}\n`);

    const result = await download();

    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('has another link or others may write it, so its bytes prove nothing; starting over');
    expect((await readFile(victim)).equals(prefix)).toBe(true);
    expect(await sha256Of(finalPath())).toBe(manifest.checksum_sha256);
  });

  it('never reports a link at the final name as the verified image, even with a matching manifest beside it', async () => {
    const theirs = await outside('their.qcow2', randomBytes(SIZE));
    await mkdir(dest());
    await symlink(theirs, finalPath());
    await writeFile(at('image-manifest.json'), await readFile(join(project, 'output', DEMO_NAME, 'v1.0.0', 'image-manifest.json')));

    const result = await download();

    expect(result.exitCode).toBe(1);
    expect(result.stdout).not.toContain('already here');
    expect(errorLines(result)).toEqual([`error: ${finalPath()}: a symbolic link (to ${theirs}) is there, not a file this download wrote; imagebuild neither follows nor replaces it: remove it, or choose another --dest`]);
    expect((await stat(theirs)).size).toBe(SIZE);
  });

  it('refuses a directory at the final name with one line (exit 1), leaving it as it is', async () => {
    await mkdir(join(finalPath(), 'inside'), { recursive: true });

    const result = await download();

    expect(result.exitCode).toBe(1);
    expect(errorLines(result)).toEqual([expect.stringContaining(`error: ${finalPath()}: a directory is there, not a file this download wrote`)]);
    expect(await readdir(finalPath())).toEqual(['inside']);
  });

  it('refuses a second download of the same release into the same directory, naming the first one’s pid; the first finishes verified', async () => {
    // 8 s at 512K: the second run meets a live first one even on a busy machine.
    const first = startCli(['download', 'v1.0.0', '--spec', 'box.yaml', '--dest', 'dl', '--limit-rate', '512K'], project);
    await waitForSize(partPath(), 256 * 1024, 30_000);

    const concurrent = await download();
    const done = await first;

    expect(concurrent.exitCode).toBe(1);
    expect(errorLines(concurrent)).toEqual([expect.stringMatching(new RegExp(`^error: ${finalPath().replaceAll('.', '\\.')}\\.lock: held by pid ${first.pid} on .* \\(imagebuild download v1\\.0\\.0\\) since `))]);
    expect(done.exitCode, String(done.stderr)).toBe(0);
    expect(await sha256Of(finalPath())).toBe(manifest.checksum_sha256);
    expect((await readdir(dest())).sort()).toEqual(['SHA256SUMS', 'SHA256SUMS.sig', manifest.artifact, 'download.json', 'image-manifest.json'].sort());
  });

  it('lets two different releases download into the same directory at once, each verified', async () => {
    const first = startCli(['download', 'v1.0.0', '--spec', 'box.yaml', '--dest', 'dl', '--limit-rate', '2M'], project);
    await waitForSize(partPath(), 256 * 1024, 30_000);

    const other = await download('v1.0.1');
    const done = await first;

    expect(other.exitCode, other.stderr).toBe(0);
    expect(done.exitCode, String(done.stderr)).toBe(0);
    expect(await sha256Of(finalPath())).toBe(manifest.checksum_sha256);
    expect(await sha256Of(at(second.artifact))).toBe(second.checksum_sha256);
    expect((await readdir(dest())).filter((n) => n.endsWith('.part') || n.endsWith('.lock') || n.endsWith('.part.json'))).toEqual([]);
  });

  it('is not blocked by the lock of a download killed with SIGKILL: the next run takes it over, says so, and resumes', async () => {
    const child = startCli(['download', 'v1.0.0', '--spec', 'box.yaml', '--dest', 'dl', '--limit-rate', '1M'], project);
    await waitForSize(partPath(), MIB, 30_000);
    child.kill('SIGKILL');
    await child;
    const left = JSON.parse(await readFile(`${finalPath()}.lock`, 'utf8')) as { pid: number };

    const resumed = await download();

    expect(left.pid).toBe(child.pid);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`notice: a download killed earlier (pid ${child.pid}) left ${manifest.artifact}.lock; it is no longer running, so this one took over`);
    expect(resumed.stdout).toMatch(/resumed at \d/);
    expect(await sha256Of(finalPath())).toBe(manifest.checksum_sha256);
    expect((await readdir(dest())).sort()).toEqual(['SHA256SUMS', 'SHA256SUMS.sig', manifest.artifact, 'download.json', 'image-manifest.json'].sort());
  });

  it('refuses a destination directory anybody may write without the sticky bit', async () => {
    await mkdir(dest(), { mode: 0o777 });
    await chmod(dest(), 0o777);

    const result = await download();

    expect(result.exitCode).toBe(1);
    expect(errorLines(result)).toEqual([expect.stringContaining(`error: ${dest()}: anybody may write to this directory (mode 777, no sticky bit)`)]);
    expect(await readdir(dest())).toEqual([]);
  });

  describe.skipIf(!isRoot)('other users’ files (root owns files as another uid)', () => {
    it('never downloads through a link to the destination directory that another user planted', async () => {
      const target = join(project, 'outside', 'their-dir');
      await mkdir(target, { recursive: true });
      await symlink(target, dest());
      await lchown(dest(), NOBODY, NOBODY);

      const result = await download();

      expect(result.exitCode).toBe(1);
      expect(errorLines(result)).toEqual([`error: ${dest()}: a symbolic link (to ${target}) owned by uid ${NOBODY} is there; imagebuild does not download through another user's link: name the directory itself with --dest`]);
      expect(await readdir(target)).toEqual([]);
    });

    it("never resumes into another user's .part, nor reports another user's file as the verified image", async () => {
      await mkdir(dest());
      await writeFile(partPath(), image.subarray(0, MIB));
      await chown(partPath(), NOBODY, NOBODY);
      await writeFile(`${partPath()}.json`, `${JSON.stringify(partRecord())}\n`);
      const theirPart = await download();
      await rm(partPath());
      await writeFile(finalPath(), image);
      await chown(finalPath(), NOBODY, NOBODY);
      await writeFile(at('image-manifest.json'), await readFile(join(project, 'output', DEMO_NAME, 'v1.0.0', 'image-manifest.json')));
      const theirImage = await download();

      expect(theirPart.exitCode).toBe(1);
      expect(errorLines(theirPart)).toEqual([expect.stringContaining(`error: ${partPath()}: a file owned by uid ${NOBODY}, not this user (uid 0) is there`)]);
      expect(theirImage.exitCode).toBe(1);
      expect(theirImage.stdout).not.toContain('already here');
      expect(errorLines(theirImage)).toEqual([expect.stringContaining(`error: ${finalPath()}: a file owned by uid ${NOBODY}, not this user (uid 0) is there`)]);
    });
  });
});
