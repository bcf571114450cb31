import { existsSync } from 'node:fs';
import { copyFile, chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyFingerprint } from '../../core/remote/known-hosts.js';
import { firstLine, ImagebuildError, ToolFailedError } from '../../errors/index.js';
import { cacheLayout } from '../workspace/cache-layout.js';

export type BuildKey = {
  readonly privateKeyFile: string;
  readonly publicKeyFile: string;
  readonly publicKey: string;
  /** `SHA256:…` of the public key, as `ssh-keygen -l` prints it; recorded in cache entries (never the key itself). */
  readonly fingerprint: string;
};

/** The environment variable naming a private key every runner of a shared layer cache uses as its build key. */
export const SHARED_BUILD_KEY_ENV = 'IMAGEBUILD_BUILD_KEY_FILE';

/**
 * The per-cache SSH key Packer and Ansible use to reach build VMs. Cached layers carry its public half
 * (the seal step removes it from the shipped image), so it lives with the cache, never in git or logs.
 * With $IMAGEBUILD_BUILD_KEY_FILE set (a runner secret), that key becomes the cache's key, so layers
 * pulled from a shared cache can be built upon by every runner holding it.
 */
export async function ensureBuildKey(cacheDir: string, env: NodeJS.ProcessEnv = process.env): Promise<BuildKey> {
  const { keys: dir, buildKey: privateKeyFile } = cacheLayout(cacheDir);
  const publicKeyFile = `${privateKeyFile}.pub`;
  const shared = env[SHARED_BUILD_KEY_ENV];
  if (shared) {
    await adoptSharedKey(shared, dir, privateKeyFile, publicKeyFile);
  } else if (!existsSync(privateKeyFile) || !existsSync(publicKeyFile)) {
    // Made in a private directory and renamed into place as a pair: two builds starting at once on a
    // fresh cache (before either holds the lock) end up with the same key, the one renamed first.
    await mkdir(cacheDir, { recursive: true });
    const temp = join(cacheDir, `.keys-${process.pid}`);
    await rm(temp, { recursive: true, force: true });
    await mkdir(temp, { mode: 0o700 });
    await generateKeyPair(join(temp, 'build_ed25519'), 'imagebuild-build-key', temp);
    try {
      await rename(temp, dir);
    } catch (error) {
      await rm(temp, { recursive: true, force: true });
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      if (!existsSync(publicKeyFile)) throw new ImagebuildError('CACHE_BROKEN', `${dir}: holds no build key (build_ed25519.pub); remove the directory to have a new key made`);
    }
  }
  const publicKey = (await readFile(publicKeyFile, 'utf8')).trim();
  return { privateKeyFile, publicKeyFile, publicKey, fingerprint: publicKeyFingerprint(publicKey) };
}

/**
 * The cache's verification key: the verification boot logs in with it as the spec's verify_login user, whose
 * authorized_keys the users role gives its public half (from the build host's user-mode address only). Made once
 * per cache, with the cache lock held; never in git, logs or the rendered files (Packer gets it as a variable).
 */
export async function ensureVerifyKey(cacheDir: string): Promise<BuildKey> {
  const { keys: dir, verifyKey: privateKeyFile } = cacheLayout(cacheDir);
  const publicKeyFile = `${privateKeyFile}.pub`;
  if (!existsSync(privateKeyFile) || !existsSync(publicKeyFile)) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = join(dir, `.verify-${process.pid}`);
    await rm(temp, { recursive: true, force: true });
    await mkdir(temp, { mode: 0o700 });
    try {
      await generateKeyPair(join(temp, 'verify_ed25519'), 'imagebuild-verify-key', temp);
      // The public half last: it says the pair is complete, so a crash in between is redone next time.
      await rename(join(temp, 'verify_ed25519'), privateKeyFile);
      await rename(join(temp, 'verify_ed25519.pub'), publicKeyFile);
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }
  const publicKey = (await readFile(publicKeyFile, 'utf8')).trim();
  return { privateKeyFile, publicKeyFile, publicKey, fingerprint: publicKeyFingerprint(publicKey) };
}

/** The fingerprint of the cache's verification key, without creating one; undefined when there is none yet. */
export async function readVerifyKeyFingerprint(cacheDir: string): Promise<string | undefined> {
  try {
    return publicKeyFingerprint(await readFile(`${cacheLayout(cacheDir).verifyKey}.pub`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** ssh-keygen makes an unencrypted ed25519 pair at `file` and `file`.pub; `cleanup` is removed when it fails. */
async function generateKeyPair(file: string, comment: string, cleanup: string): Promise<void> {
  const { execa } = await import('execa');
  const result = await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], { reject: false, stdin: 'ignore' });
  if (result.exitCode !== 0) {
    await rm(cleanup, { recursive: true, force: true });
    throw new ToolFailedError('ssh-keygen', `ssh-keygen could not create the ${comment}: ${firstLine(result.stderr) || `exit ${result.exitCode}`}`, result.exitCode);
  }
}

/**
 * The fingerprint of the build key a build on this cache would use, without creating one: the shared
 * key's when $IMAGEBUILD_BUILD_KEY_FILE is set, else the cache's; undefined when the cache has none yet.
 */
export async function readBuildKeyFingerprint(cacheDir: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const shared = env[SHARED_BUILD_KEY_ENV];
  if (shared) return publicKeyFingerprint(await derivePublicKey(shared));
  try {
    return publicKeyFingerprint(await readFile(`${cacheLayout(cacheDir).buildKey}.pub`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** `SHA256:…` of an OpenSSH public key line (`type base64 [comment]`). */
export function publicKeyFingerprint(publicKeyLine: string): string {
  return keyFingerprint(publicKeyLine.trim().split(/\s+/)[1] ?? '');
}

/** Installs the key at `source` as the cache's build key (unchanged when it already is), atomically. */
async function adoptSharedKey(source: string, dir: string, privateKeyFile: string, publicKeyFile: string): Promise<void> {
  const publicKey = await derivePublicKey(source);
  if (existsSync(publicKeyFile) && existsSync(privateKeyFile) && publicKeyFingerprint(await readFile(publicKeyFile, 'utf8')) === publicKeyFingerprint(publicKey)) return;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.shared_ed25519.${process.pid}`);
  await copyFile(source, temp);
  await chmod(temp, 0o600);
  await writeFile(`${temp}.pub`, `${publicKey}\n`, { mode: 0o644 });
  // The public half last: it is what says which key the cache holds, so a crash in between is redone next time.
  await rename(temp, privateKeyFile);
  await rename(`${temp}.pub`, publicKeyFile);
}

/** The public key line of the private key at `source` (ssh-keygen -y, which refuses anything unusable or passphrase-protected). */
async function derivePublicKey(source: string): Promise<string> {
  if (!existsSync(source)) {
    throw new ImagebuildError('BUILD_KEY_MISSING', `${SHARED_BUILD_KEY_ENV}=${source}: no such file; point it at an unencrypted ed25519 private key (e.g. a runner secret written to a file)`);
  }
  // Through a private 0600 copy: a secret written to a file is often mode 0644, which ssh-keygen refuses.
  const temp = await mkdtemp(join(tmpdir(), 'imagebuild-key-'));
  let derived;
  try {
    await copyFile(source, join(temp, 'key'));
    await chmod(join(temp, 'key'), 0o600);
    const { execa } = await import('execa');
    derived = await execa('ssh-keygen', ['-y', '-P', '', '-f', join(temp, 'key')], { reject: false, stdin: 'ignore' });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  if (derived.exitCode !== 0) {
    throw new ImagebuildError('BUILD_KEY_INVALID', `${SHARED_BUILD_KEY_ENV}=${source}: not an unencrypted OpenSSH private key (ssh-keygen -y failed); give an ed25519 key without a passphrase`);
  }
  return `${derived.stdout.trim().split(/\s+/).slice(0, 2).join(' ')} imagebuild-build-key`;
}
