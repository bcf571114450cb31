import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { listTree, useTempDir } from '../../../test/helpers/temp-dir.js';
import { testManifest } from '../../../test/helpers/test-manifest.js';
import { createMeteredStream } from '../fs/metered-stream.js';
import { absorbPart, appendToPart, completeDownload, discardPart, downloadDestination, resumablePartBytes, startPart, type PartRecord } from './download-destination.js';

const work = useTempDir();
const wanted: PartRecord = { name: 'box', version: '1.0.0', sha256: 'a'.repeat(64), size_bytes: 10 };

describe('download destination', () => {
  it('keeps the bytes of a .part file whose record names the same image', async () => {
    const dest = downloadDestination(work.dir, 'box-v1.0.0.qcow2');
    await startPart(dest, wanted);
    await appendToPart(dest, Readable.from([Buffer.from('12345')]), []);

    expect(await resumablePartBytes(dest, wanted)).toEqual({ bytes: 5 });
  });

  it('starts over from a .part file of another image, or one without a record, or one longer than the image', async () => {
    const dest = downloadDestination(work.dir, 'box-v1.0.0.qcow2');
    await startPart(dest, { ...wanted, version: '0.9.0' });
    await appendToPart(dest, Readable.from([Buffer.from('12345')]), []);
    const foreign = await resumablePartBytes(dest, wanted);
    await startPart(dest, wanted);
    await appendToPart(dest, Readable.from([Buffer.from('12345678901')]), []);
    const tooLong = await resumablePartBytes(dest, wanted);
    await discardPart(dest);
    await writeFile(dest.part, '123');
    const unrecorded = await resumablePartBytes(dest, wanted);

    expect([foreign, tooLong, unrecorded]).toEqual([
      { bytes: 0, discarded: 'foreign' },
      { bytes: 0, discarded: 'too-long' },
      { bytes: 0, discarded: 'foreign' },
    ]);
  });

  it('hashes the kept part first, so the digest covers the whole image after the rest is appended', async () => {
    const dest = downloadDestination(work.dir, 'box-v1.0.0.qcow2');
    await startPart(dest, wanted);
    await appendToPart(dest, Readable.from([Buffer.from('hello ')]), []);
    const meter = createMeteredStream({ sha256: true });

    const absorbed = await absorbPart(dest, 6, meter, () => undefined);
    await appendToPart(dest, Readable.from([Buffer.from('world')]), [meter]);

    expect(absorbed).toBe(6);
    expect(meter.digest()).toBe(createHash('sha256').update('hello world').digest('hex'));
    expect(await readFile(dest.part, 'utf8')).toBe('hello world');
  });

  it('completes with the manifest and SHA256SUMS beside the image under its final name, and no .part or record left', async () => {
    const manifest = testManifest();
    const dest = downloadDestination(work.dir, manifest.artifact);
    await startPart(dest, wanted);
    await appendToPart(dest, Readable.from([Buffer.from('image')]), []);

    await completeDownload(dest, manifest);

    expect(await listTree(work.dir)).toEqual(['SHA256SUMS', 'image-manifest.json', manifest.artifact].sort());
    expect(await readFile(dest.sums, 'utf8')).toBe(`${manifest.checksum_sha256}  ${manifest.artifact}\n`);
  });
});
