import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { progress } from './measure.js';

/** A non-sparse file of incompressible bytes and its SHA-256, kept between bench runs. */
export type RandomArtifact = { readonly path: string; readonly bytes: number; readonly sha256: string };

const CHUNK = 4 * 1024 * 1024;
const GIB = 1024 * 1024 * 1024;

/**
 * The cached `random-<N>GiB.bin` in `cacheDir`, written once: an AES-128-CTR keystream (as incompressible
 * as /dev/urandom, at memory speed), every block allocated. Its SHA-256 is computed while writing and
 * kept beside it.
 */
export async function ensureRandomArtifact(cacheDir: string, sizeGiB: number): Promise<RandomArtifact> {
  const bytes = Math.round(sizeGiB * GIB);
  const path = join(cacheDir, `random-${sizeGiB}GiB.bin`);
  const sumPath = `${path}.sha256`;
  if (existsSync(path) && existsSync(sumPath) && (await stat(path)).size === bytes) {
    return { path, bytes, sha256: (await readFile(sumPath, 'utf8')).trim() };
  }
  progress(`writing a ${sizeGiB} GiB random artifact to ${path} (once; kept for later runs)`);
  await mkdir(cacheDir, { recursive: true });
  const partial = `${path}.partial`;
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(CHUNK);
  const hash = createHash('sha256');
  const out = createWriteStream(partial);
  try {
    for (let left = bytes; left > 0; left -= CHUNK) {
      const chunk = cipher.update(left >= CHUNK ? zeros : zeros.subarray(0, left));
      hash.update(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
  } catch (error) {
    out.destroy();
    await rm(partial, { force: true });
    throw error;
  }
  const sha256 = hash.digest('hex');
  await writeFile(sumPath, `${sha256}\n`);
  await rename(partial, path);
  return { path, bytes, sha256 };
}
