import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { acquireShortLock } from '../../fs/lock.js';
import { ImagebuildError, InterruptedError, StoreAccessError, StoredJsonInvalidError, StoreConflictError } from '../../../errors/index.js';
import { assertStoreKey } from '../keys.js';
import { createMeteredStream } from '../../fs/metered-stream.js';
import type { ArtifactStore, CopyOptions, PutFileOptions, PutJsonOptions, StoreObject, StoredJson } from '../types.js';
import type { FilesystemStoreSettings } from './config.js';

const READ_CHUNK = 4 * 1024 * 1024;
const TEMP_MARK = '.tmp-';

/** A store in a directory: every write lands in a temporary file and is renamed (or hard-linked) into place. */
export function createFilesystemStore(settings: FilesystemStoreSettings): ArtifactStore {
  const root = settings.dir;
  const pathOf = (key: string) => join(root, ...assertStoreKey(key).split('/'));
  const describe = (key: string) => pathOf(key);

  /**
   * A read found nothing: fine when the store's directory is there (the key is absent), an error naming
   * the directory when it is not — an unmounted disk or a wrong artifacts.store.dir is not an empty store —
   * unless this store was opened to create it (the first publish).
   */
  async function assertRootExists(): Promise<void> {
    const info = await stat(root).catch((error: unknown) => error as NodeJS.ErrnoException);
    if (!(info instanceof Error)) {
      if (info.isDirectory()) return;
      throw new StoreAccessError(`${root}: the store's directory is not a directory; fix the spec's store dir`);
    }
    if ((info.code === 'ENOENT' || info.code === 'ENOTDIR') && settings.createMissing) return;
    if (info.code === 'ENOENT') {
      throw new StoreAccessError(`${root}: the store's directory does not exist; is its disk mounted, and is the spec's store dir right? (the first publish creates it)`);
    }
    throw new StoreAccessError(`${root}: cannot read the store's directory (${info.code ?? info.message})`, { cause: info });
  }

  async function writeAtomically(key: string, write: (temp: string) => Promise<void>, options: { ifAbsent?: boolean }): Promise<void> {
    const target = pathOf(key);
    await mkdir(dirname(target), { recursive: true }).catch((error: unknown) => fail('create the directory for', key, error));
    const temp = join(dirname(target), `.${basename(target)}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await write(temp);
      if (options.ifAbsent) {
        // link() refuses an existing target atomically, unlike rename().
        await link(temp, target).catch((error: unknown) => {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new StoreConflictError(key, `${target} already exists; it is not replaced`);
          throw error;
        });
      } else {
        await rename(temp, target);
      }
    } catch (error) {
      if (error instanceof ImagebuildError) throw error;
      fail('write', key, error);
    } finally {
      await rm(temp, { force: true });
    }
  }

  const store: ArtifactStore = {
    kind: 'filesystem',
    location: root,
    describe,

    async putFile(key: string, path: string, options: PutFileOptions = {}) {
      const total = (await stat(path).catch((error: unknown) => fail('read the upload source for', key, error))).size;
      if (options.ifAbsent && (await store.head(key))) throw new StoreConflictError(key, `${describe(key)} already exists; it is not replaced`);
      const meter = createMeteredStream({ sha256: options.sha256, onBytes: (bytes) => options.onProgress?.(bytes, total) });
      await writeAtomically(key, (temp) => pipeline(createReadStream(path, { highWaterMark: READ_CHUNK }), meter, createWriteStream(temp), { signal: options.signal }), options);
      options.onProgress?.(meter.bytes(), total);
      return { size: meter.bytes(), ...(options.sha256 ? { sha256: meter.digest() } : {}) };
    },

    async putJson(key: string, value: unknown, options: PutJsonOptions = {}) {
      const text = `${JSON.stringify(value, null, 2)}\n`;
      if (options.ifMatch === undefined) {
        await writeAtomically(key, (temp) => writeFile(temp, text), options);
        return;
      }
      const target = pathOf(key);
      await mkdir(dirname(target), { recursive: true });
      const lock = await acquireShortLock(`${target}.lock`, `imagebuild: update ${key}`);
      try {
        const current = await store.getJson(key);
        if (current?.etag !== options.ifMatch) throw new StoreConflictError(key, `${target} changed since it was read (another publish, prune or rollback?); run the command again`);
        await writeAtomically(key, (temp) => writeFile(temp, text), {});
      } finally {
        await lock.release();
      }
    },

    async getJson(key: string): Promise<StoredJson | undefined> {
      let bytes: Buffer;
      try {
        bytes = await readFile(pathOf(key));
      } catch (error) {
        if (!isAbsence(error)) fail('read', key, error);
        await assertRootExists();
        return undefined;
      }
      try {
        return { value: JSON.parse(bytes.toString('utf8')) as unknown, etag: createHash('sha256').update(bytes).digest('hex') };
      } catch (error) {
        throw new StoredJsonInvalidError(`${describe(key)}: not valid JSON (${(error as Error).message})`);
      }
    },

    async head(key: string): Promise<StoreObject | undefined> {
      try {
        const info = await stat(pathOf(key));
        return info.isFile() ? { key, size: info.size } : undefined;
      } catch (error) {
        if (!isAbsence(error)) fail('stat', key, error);
        await assertRootExists();
        return undefined;
      }
    },

    async getStream(key: string, options: { start?: number; signal?: AbortSignal } = {}): Promise<Readable> {
      const path = pathOf(key);
      const stream = createReadStream(path, { start: options.start ?? 0, highWaterMark: READ_CHUNK, signal: options.signal });
      // Surface a missing file here, not as a stream error later.
      await new Promise<void>((resolve, reject) => {
        stream.once('open', () => resolve());
        stream.once('error', (error) => reject(error));
      }).catch(async (error: unknown) => {
        if (isAbsence(error)) await assertRootExists();
        fail('read', key, error);
      });
      return stream;
    },

    async list(prefix: string): Promise<StoreObject[]> {
      const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
      const dir = base === '' ? root : pathOf(base);
      let names: string[];
      try {
        names = (await readdir(dir, { recursive: true })).map(String);
      } catch (error) {
        if (!isAbsence(error)) throw new StoreAccessError(`${dir}: cannot list it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
        await assertRootExists();
        return [];
      }
      const objects: StoreObject[] = [];
      for (const name of names) {
        const file = basename(name);
        if (file.includes(TEMP_MARK) || file.endsWith('.lock')) continue;
        const key = relative(root, join(dir, name)).split(sep).join('/');
        if (!key.startsWith(prefix)) continue;
        const info = await stat(join(dir, name)).catch(() => undefined);
        if (info?.isFile()) objects.push({ key, size: info.size });
      }
      return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },

    async copy(from: string, to: string, options: CopyOptions = {}) {
      const source = pathOf(from);
      const info = await stat(source).catch(async (error: unknown) => {
        if (isAbsence(error)) await assertRootExists();
        throw new StoreAccessError(`${source}: cannot copy it to ${describe(to)} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
      });
      if (!info.isFile()) throw new StoreAccessError(`${source}: cannot copy it to ${describe(to)}: not a file`);
      if (options.ifAbsent && (await store.head(to))) throw new StoreConflictError(to, `${describe(to)} already exists; it is not replaced`);
      if (options.signal?.aborted) throw new InterruptedError(`${describe(to)}: copy interrupted`);
      // A copy of its own (a reflink where the filesystem has them), never a hard link: one release's bytes must not change with another's.
      await writeAtomically(to, (temp) => copyFile(source, temp, constants.COPYFILE_FICLONE), options);
      return { size: info.size };
    },

    async delete(keys: readonly string[]) {
      for (const key of keys) {
        const path = pathOf(key);
        await rm(path, { force: true }).catch((error: unknown) => fail('delete', key, error));
        // Drop directories left empty, up to the store's root.
        for (let dir = dirname(path); dir.startsWith(root + sep); dir = dirname(dir)) {
          if (!(await rmdir(dir).then(() => true, () => false))) break;
        }
      }
    },

    close() {},
  };
  return store;

  function fail(action: string, key: string, error: unknown): never {
    if ((error as Error).name === 'AbortError') throw new InterruptedError(`${describe(key)}: ${action} interrupted`);
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new StoreAccessError(`${describe(key)}: cannot ${action} it (${code})`, { cause: error });
  }
}

/** A path that is not there: missing, or under something that is not a directory. */
function isAbsence(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
