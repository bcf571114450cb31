import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../core/digest.js';
import { serveWheelhouse, type ServedWheelhouse } from './wheel-server.js';
import { renderWheelhouseLock, wheelhousePaths, type WheelhouseFile, type WheelhouseRecord } from './wheelhouse-record.js';

const KEY = 'a'.repeat(64);
const WHEEL = 'torch-2.13.0+cu130-py3-none-any.whl';
const BYTES = Buffer.from('a wheel of torch, as far as this server can tell');

describe('serveWheelhouse', () => {
  let dir: string;
  let served: ServedWheelhouse;
  const get = (path: string, init?: RequestInit) => fetch(`${served.hostUrl}${path}`, init);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imagebuild-wheel-server-'));
    const paths = wheelhousePaths(dir);
    await mkdir(paths.wheels);
    await writeFile(join(paths.wheels, WHEEL), BYTES);
    // In the directory, not in the record: never served.
    await writeFile(join(paths.wheels, 'stray-1.0-py3-none-any.whl'), 'not recorded');
    const files: WheelhouseFile[] = [{ name: WHEEL, sha256: sha256Hex(BYTES), bytes: BYTES.length }];
    await writeFile(paths.resolvedLock, renderWheelhouseLock(KEY, files));
    await writeFile(paths.record, '{}');
    const record = { key: KEY, resolved: files, noDeps: [] } as unknown as WheelhouseRecord;
    served = await serveWheelhouse({ dir, files, record });
  });
  afterAll(async () => {
    await served.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('listens on the loopback only, and names the guest view of it', () => {
    expect(served.hostUrl).toBe(`http://127.0.0.1:${served.port}`);
    expect(served.guestUrl).toBe(`http://10.0.2.2:${served.port}`);
  });

  it('serves a --find-links page linking each recorded wheel with its SHA-256', async () => {
    const page = await (await get('/wheels/')).text();

    expect(page).toContain(`<a href="torch-2.13.0%2Bcu130-py3-none-any.whl#sha256=${sha256Hex(BYTES)}">${WHEEL}</a>`);
    expect(page).not.toContain('stray');
  });

  it('serves recorded wheels and the lock, and counts the wheel bytes it sent', async () => {
    const before = served.bytesServed();

    const wheel = await get(`/wheels/${encodeURIComponent(WHEEL)}`);
    const body = Buffer.from(await wheel.arrayBuffer());
    const lock = await (await get('/requirements.lock')).text();

    expect(wheel.status).toBe(200);
    expect(body.equals(BYTES)).toBe(true);
    expect(lock).toContain(`torch==2.13.0+cu130 --hash=sha256:${sha256Hex(BYTES)}`);
    expect(served.bytesServed() - before).toBe(BYTES.length);
  });

  it.each([
    ['a file in wheels/ that the record does not list', '/wheels/stray-1.0-py3-none-any.whl'],
    ['the record itself', '/wheelhouse.json'],
    ['a path out of the directory', '/wheels/..%2Fwheelhouse.json'],
    ['a no-deps lock the record has none of', '/no-deps.lock'],
  ])('answers 404 for %s', async (_what, path) => {
    const response = await get(path);

    expect(response.status).toBe(404);
    expect(await response.text()).toContain(`not in wheelhouse ${KEY}`);
  });

  it('answers 400 for a path that does not decode, and goes on serving', async () => {
    expect((await get('/wheels/%E0%A4%A')).status).toBe(400);
    expect((await get('/requirements.lock')).status).toBe(200);
  });

  it('refuses anything but GET and HEAD', async () => {
    expect((await get('/requirements.lock', { method: 'POST', body: 'x' })).status).toBe(405);
    const head = await get(`/wheels/${encodeURIComponent(WHEEL)}`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length')]).toEqual([200, String(BYTES.length)]);
  });

  it('stops listening when closed, and a second close is harmless', async () => {
    const other = await serveWheelhouse({ dir, files: [], record: { key: KEY, resolved: [], noDeps: [] } as unknown as WheelhouseRecord });

    await other.close();
    await other.close();

    await expect(fetch(`${other.hostUrl}/wheels/`)).rejects.toThrow();
  });
});
