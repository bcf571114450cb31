import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, lchown, link, mkdir, readFile, rename, stat, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { listTree, useTempDir } from '../../../test/helpers/temp-dir.js';
import { testManifest } from '../../../test/helpers/test-manifest.js';
import { DownloadDestinationUnsafeError, FileAccessError } from '../../errors/index.js';
import { createMeteredStream } from '../fs/metered-stream.js';
import { absorbPart, appendToPart, closePart, completeDownload, discardPart, downloadDestination, inspectDownloaded, lockDownload, openPart, prepareDownloadDir, type PartRecord, type ReleaseDocument } from './download-destination.js';

const work = useTempDir();
const wanted: PartRecord = { name: 'box', version: '1.0.0', sha256: 'a'.repeat(64), size_bytes: 10 };
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

/** A .part of `bytes` for `record`, written and closed as an interrupted download leaves it. */
async function leavePart(dest: ReturnType<typeof downloadDestination>, record: PartRecord, bytes: string): Promise<void> {
  const part = await openPart(dest, record);
  await appendToPart(part, Readable.from([Buffer.from(bytes)]), []);
  await closePart(part);
}

describe('download destination', () => {
  it('keeps the bytes of a .part file whose record names the same image', async () => {
    const dest = downloadDestination(work.dir, 'box-v1.0.0.qcow2');
    await leavePart(dest, wanted, '12345');

    const part = await openPart(dest, wanted);
    await closePart(part);

    expect(part.kept).toBe(5);
    expect(part.discarded).toBeUndefined();
  });

  it('starts over from a .part file of another image, or one without a record, or one longer than the image, or one with another link', async () => {
    const dest = downloadDestination(work.dir, 'box-v1.0.0.qcow2');
    await leavePart(dest, { ...wanted, version: '0.9.0' }, '12345');
    const foreign = await openPart(dest, wanted);
    await appendToPart(foreign, Readable.from([Buffer.from('12345678901')]), []);
    await closePart(foreign);
    const tooLong = await openPart(dest, wanted);
    await discardPart(dest, tooLong);
    await writeFile(dest.part, '123');
    const unrecorded = await openPart(dest, wanted);
    await appendToPart(unrecorded, Readable.from([Buffer.from('1234')]), []);
    await closePart(unrecorded);
    await link(dest.part, join(work.dir, 'elsewhere'));
    const shared = await openPart(dest, wanted);
    await closePart(shared);

    expect([foreign, tooLong, unrecorded, shared].map((p) => [p.kept, p.discarded])).toEqual([
      [0, 'foreign'],
      [0, 'too-long'],
      [0, 'foreign'],
      [0, 'shared'],
    ]);
    expect(await readFile(join(work.dir, 'elsewhere'), 'utf8')).toBe('1234');
  });

  it('hashes the kept part first, so the digest covers the whole image after the rest is appended', async () => {
    const dest = downloadDestination(work.dir, 'box-v1.0.0.qcow2');
    await leavePart(dest, wanted, 'hello ');
    const meter = createMeteredStream({ sha256: true });
    const part = await openPart(dest, wanted);

    const absorbed = await absorbPart(part, part.kept, meter, () => undefined);
    await appendToPart(part, Readable.from([Buffer.from('world')]), [meter]);
    await closePart(part);

    expect(absorbed).toBe(6);
    expect(meter.digest()).toBe(createHash('sha256').update('hello world').digest('hex'));
    expect(await readFile(dest.part, 'utf8')).toBe('hello world');
  });

  it('completes with the release documents (exact bytes) beside the image under its final name, and no .part or record left', async () => {
    const manifest = testManifest();
    const dest = downloadDestination(work.dir, manifest.artifact);
    const part = await openPart(dest, wanted);
    await appendToPart(part, Readable.from([Buffer.from('image')]), []);
    const sums = `${manifest.checksum_sha256}  ${manifest.artifact}\n`;

    await completeDownload(dest, part, documentsOf(manifest, sums));

    expect(await listTree(work.dir)).toEqual(['SHA256SUMS', 'image-manifest.json', manifest.artifact].sort());
    expect(await readFile(dest.sums, 'utf8')).toBe(sums);
    expect(await readFile(dest.manifest, 'utf8')).toBe(`${JSON.stringify(manifest)}\n`);
  });

  it('never follows a link at the .part name, a dangling one included: refuses, naming it, and leaves its target alone', async () => {
    const outside = join(work.dir, 'outside.txt');
    await writeFile(outside, 'precious\n');
    const dest = downloadDestination(join(work.dir, 'dl'), 'box-v1.0.0.qcow2');
    await mkdir(dest.dir);
    await symlink(outside, dest.part);
    const other = downloadDestination(dest.dir, 'box-v2.0.0.qcow2');
    const nowhere = join(work.dir, 'nowhere');
    await symlink(nowhere, other.part);

    await expect(openPart(dest, wanted)).rejects.toThrow(new DownloadDestinationUnsafeError(`${dest.part}: a symbolic link (to ${outside}) is there, not a file this download wrote; imagebuild neither follows nor replaces it: remove it (it holds no bytes of this download), or choose another --dest`));
    await expect(openPart(other, wanted)).rejects.toThrow(`${other.part}: a symbolic link (to ${nowhere}) is there`);
    expect(await readFile(outside, 'utf8')).toBe('precious\n');
    expect(existsSync(nowhere)).toBe(false);
  });

  it('refuses a directory or a FIFO at the .part name, and a link or a directory at the final name', async () => {
    const dest = downloadDestination(work.dir, 'box-v1.0.0.qcow2');
    await mkdir(dest.part);
    const other = downloadDestination(work.dir, 'box-v2.0.0.qcow2');
    execFileSync('mkfifo', [other.part]);
    const someoneElses = join(work.dir, 'someone-elses.qcow2');
    await writeFile(someoneElses, 'theirs');
    await symlink(someoneElses, dest.artifact);
    await mkdir(other.artifact);

    const refusals = await Promise.all([openPart(dest, wanted), openPart(other, wanted), inspectDownloaded(dest), inspectDownloaded(other)].map((p) => p.then(() => 'resolved', (e: Error) => e.message)));

    expect(refusals).toEqual([
      expect.stringContaining(`${dest.part}: a directory is there`),
      expect.stringContaining(`${other.part}: a special file (FIFO, socket or device) is there`),
      expect.stringContaining(`${dest.artifact}: a symbolic link (to ${someoneElses}) is there`),
      expect.stringContaining(`${other.artifact}: a directory is there`),
    ]);
  });

  it('does not give the final name when the .part was replaced by a link while it downloaded', async () => {
    const manifest = testManifest();
    const dest = downloadDestination(work.dir, manifest.artifact);
    const outside = join(work.dir, 'outside.qcow2');
    await writeFile(outside, 'not verified');
    const part = await openPart(dest, wanted);
    await appendToPart(part, Readable.from([Buffer.from('image')]), []);
    await rename(dest.part, `${dest.part}.moved`);
    await symlink(outside, dest.part);

    await expect(completeDownload(dest, part, documentsOf(manifest, 'sums'))).rejects.toBeInstanceOf(DownloadDestinationUnsafeError);
    await closePart(part);

    expect((await listTree(work.dir)).includes(manifest.artifact)).toBe(false);
    expect(await readFile(outside, 'utf8')).toBe('not verified');
  });

  it('refuses a directory anybody may write without the sticky bit, and accepts one with it', async () => {
    const open = join(work.dir, 'open');
    const sticky = join(work.dir, 'sticky');
    await mkdir(open);
    await chmod(open, 0o777);
    await mkdir(sticky);
    await chmod(sticky, 0o1777);

    await expect(prepareDownloadDir(open)).rejects.toThrow(`${open}: anybody may write to this directory (mode 777, no sticky bit)`);
    await expect(prepareDownloadDir(sticky)).resolves.toBeUndefined();
  });

  it('creates a missing destination directory that only its owner may write, whatever the umask', async () => {
    const dir = join(work.dir, 'a', 'b');
    const umask = process.umask(0);
    try {
      await prepareDownloadDir(dir);
    } finally {
      process.umask(umask);
    }

    expect((await stat(dir)).mode & 0o777).toBe(0o755);
  });

  it('says in one line when the lock cannot be taken (a destination this user may not write)', async () => {
    const dest = downloadDestination(join(work.dir, 'gone'), 'box-v1.0.0.qcow2');

    const locked = lockDownload(dest, 'imagebuild download v1.0.0');

    await expect(locked).rejects.toThrow(new FileAccessError(`${dest.lock}: cannot take the download's lock there: no such file or directory (ENOENT); choose a --dest this user may write`));
  });

  describe.skipIf(!isRoot)('other users (needs root to own files as another uid)', () => {
    it("refuses another user's link as the destination directory, another user's directory, and another user's .part or image", async () => {
      const target = join(work.dir, 'target');
      await mkdir(target);
      const linked = join(work.dir, 'linked');
      await symlink(target, linked);
      await lchown(linked, NOBODY, NOBODY);
      const theirs = join(work.dir, 'theirs');
      await mkdir(theirs);
      await chown(theirs, NOBODY, NOBODY);
      const dest = downloadDestination(work.dir, 'box-v1.0.0.qcow2');
      await writeFile(dest.part, 'their bytes');
      await chown(dest.part, NOBODY, NOBODY);
      await writeFile(dest.artifact, 'their image');
      await chown(dest.artifact, NOBODY, NOBODY);

      await expect(prepareDownloadDir(linked)).rejects.toThrow(`${linked}: a symbolic link (to ${target}) owned by uid ${NOBODY} is there; imagebuild does not download through another user's link`);
      await expect(prepareDownloadDir(theirs)).rejects.toThrow(`${theirs}: the directory belongs to uid ${NOBODY}, not this user`);
      await expect(openPart(dest, wanted)).rejects.toThrow(`${dest.part}: a file owned by uid ${NOBODY}, not this user (uid 0) is there`);
      await expect(inspectDownloaded(dest)).rejects.toThrow(`${dest.artifact}: a file owned by uid ${NOBODY}, not this user (uid 0) is there`);
      expect(await readFile(dest.part, 'utf8')).toBe('their bytes');
    });

    it('follows a link to the destination directory that this user owns', async () => {
      const target = join(work.dir, 'target');
      await mkdir(target);
      const linked = join(work.dir, 'linked');
      await symlink(target, linked);

      await expect(prepareDownloadDir(linked)).resolves.toBeUndefined();
    });
  });
});

/** A release's documents as a download hands them over: the manifest's and SHA256SUMS's bytes. */
function documentsOf(manifest: object, sums: string): ReleaseDocument[] {
  return [
    { name: 'image-manifest.json', bytes: Buffer.from(`${JSON.stringify(manifest)}\n`) },
    { name: 'SHA256SUMS', bytes: Buffer.from(sums) },
  ];
}
