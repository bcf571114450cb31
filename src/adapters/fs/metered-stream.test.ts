import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createMeteredStream } from './metered-stream.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const sink = () => new Writable({ write: (_chunk, _encoding, callback) => callback() });

describe('createMeteredStream', () => {
  it('counts and hashes what flows through, reporting the running total', async () => {
    const totals: number[] = [];
    const meter = createMeteredStream({ sha256: true, onBytes: (bytes) => totals.push(bytes) });

    await pipeline(Readable.from([Buffer.from('abc'), Buffer.from('defg')]), meter, sink());

    expect(meter.bytes()).toBe(7);
    expect(meter.digest()).toBe(sha256('abcdefg'));
    expect(totals).toEqual([3, 7]);
  });

  it('hashes absorbed bytes ahead of the streamed ones without passing them on or reporting them', async () => {
    const passed: string[] = [];
    const totals: number[] = [];
    const meter = createMeteredStream({ sha256: true, onBytes: (bytes) => totals.push(bytes) });

    meter.absorb(Buffer.from('abc'));
    await pipeline(Readable.from([Buffer.from('def')]), meter, new Writable({ write: (chunk: Buffer, _encoding, callback) => callback(void passed.push(chunk.toString())) }));

    expect(passed).toEqual(['def']);
    expect(totals).toEqual([6]);
    expect(meter.digest()).toBe(sha256('abcdef'));
  });

  it('gives the digest of absorbed bytes alone when nothing was streamed', () => {
    const meter = createMeteredStream({ sha256: true });

    meter.absorb(Buffer.from('whole file'));

    expect(meter.bytes()).toBe(10);
    expect(meter.digest()).toBe(sha256('whole file'));
    expect(meter.digest()).toBe(sha256('whole file'));
  });

  it('only counts without sha256', async () => {
    const meter = createMeteredStream();

    await pipeline(Readable.from([Buffer.from('abc')]), meter, sink());

    expect(meter.bytes()).toBe(3);
    expect(meter.digest()).toBeUndefined();
  });
});
