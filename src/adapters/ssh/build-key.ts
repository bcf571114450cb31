import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { ToolFailedError } from '../../errors.js';

export type BuildKey = { readonly privateKeyFile: string; readonly publicKeyFile: string; readonly publicKey: string };

/**
 * The per-cache SSH key Packer and Ansible use to reach build VMs. Cached layers carry its public half
 * (the seal step removes it from the shipped image), so it lives with the cache, never in git or logs.
 */
export async function ensureBuildKey(cacheDir: string): Promise<BuildKey> {
  const dir = join(cacheDir, 'keys');
  const privateKeyFile = join(dir, 'build_ed25519');
  const publicKeyFile = `${privateKeyFile}.pub`;
  if (!existsSync(privateKeyFile) || !existsSync(publicKeyFile)) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const temp = join(dir, `.build_ed25519.${process.pid}`);
    await rm(temp, { force: true });
    await rm(`${temp}.pub`, { force: true });
    const result = await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'imagebuild-build-key', '-f', temp], { reject: false, stdin: 'ignore' });
    if (result.exitCode !== 0) {
      throw new ToolFailedError('ssh-keygen', `ssh-keygen could not create the build key: ${result.stderr.split('\n')[0] ?? result.exitCode}`, result.exitCode);
    }
    await rename(`${temp}.pub`, publicKeyFile);
    await rename(temp, privateKeyFile);
  }
  return { privateKeyFile, publicKeyFile, publicKey: (await readFile(publicKeyFile, 'utf8')).trim() };
}
