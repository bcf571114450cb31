import { mkdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { firstLine } from '../../errors/index.js';

/** A tool's version as read from its own `--version` output, or why it could not be read. */
export type ToolVersion = { readonly tool: string; readonly version: string | null; readonly error?: string };

/** Parses `packer version` output ("Packer v1.6.6", possibly followed by an update notice). */
export function parsePackerVersion(stdout: string): string | null {
  return /Packer v(\d+\.\d+\.\d+)/.exec(stdout)?.[1] ?? null;
}

/** Parses `ansible --version` output; ansible-core's first line is "ansible [core 2.14.18]". */
export function parseAnsibleVersion(stdout: string): string | null {
  return /^ansible(?:-playbook)? \[core (\d+\.\d+\.\d+)\]/m.exec(stdout)?.[1] ?? /^ansible(?:-playbook)? (\d+\.\d+\.\d+)/m.exec(stdout)?.[1] ?? null;
}

/** Parses `qemu-img --version` output ("qemu-img version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"). */
export function parseQemuImgVersion(stdout: string): string | null {
  return /qemu-img version (\d+\.\d+\.\d+)/.exec(stdout)?.[1] ?? null;
}

const PROBES = {
  packer: { args: ['version'], parse: parsePackerVersion },
  ansible: { args: ['--version'], parse: parseAnsibleVersion },
  'qemu-img': { args: ['--version'], parse: parseQemuImgVersion },
} as const;

/** A stamp of a file (real path, size, mtime, inode) that changes when it is replaced; undefined when it is not there. */
export async function fileStamp(path: string): Promise<string | undefined> {
  try {
    const real = await realpath(path);
    const info = await stat(real);
    return `${real}:${info.size}:${info.mtimeMs}:${info.ino}`;
  } catch {
    return undefined;
  }
}

/** Where a tool lives on PATH (an executable file), and its fileStamp. */
export async function locate(tool: string, env: NodeJS.ProcessEnv): Promise<{ path: string; stamp: string } | undefined> {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      const real = await realpath(join(dir, tool));
      const info = await stat(real);
      if (info.isFile() && (info.mode & 0o111) !== 0) return { path: join(dir, tool), stamp: (await fileStamp(real))! };
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** The per-user file remembering each tool binary's version (tools are probed again when their file changes). */
export function toolVersionCacheFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'imagebuild', 'tool-versions.json');
}

type VersionCache = Record<string, { stamp: string; version: string }>;

async function readVersionCache(file: string): Promise<VersionCache> {
  try {
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as VersionCache) : {};
  } catch {
    return {};
  }
}

/**
 * A tool's version: remembered from an earlier run while its binary is the same file, otherwise read
 * from its version command (with CHECKPOINT_DISABLE so Packer does not phone home) and parsed.
 * `ansible --version` alone starts Python for about 0.3 s, which every `plan` and `build` paid.
 */
export async function readToolVersion(tool: keyof typeof PROBES, options: { env?: NodeJS.ProcessEnv; cache?: VersionCache } = {}): Promise<ToolVersion> {
  const env = options.env ?? process.env;
  const probe = PROBES[tool];
  const found = await locate(tool, env);
  if (!found) return { tool, version: null, error: 'not installed (not on PATH)' };
  const remembered = options.cache?.[found.path];
  if (remembered && remembered.stamp === found.stamp && typeof remembered.version === 'string') return { tool, version: remembered.version };
  try {
    const { execa } = await import('execa');
    const { stdout } = await execa(found.path, probe.args, { timeout: 20_000, env: { CHECKPOINT_DISABLE: '1', ANSIBLE_NOCOLOR: '1' } });
    const version = probe.parse(stdout);
    if (version && options.cache) options.cache[found.path] = { stamp: found.stamp, version };
    return version ? { tool, version } : { tool, version: null, error: `unrecognised \`${tool} ${probe.args.join(' ')}\` output` };
  } catch (error) {
    return { tool, version: null, error: firstLine(error) };
  }
}

/** Reads the versions of packer, ansible and qemu-img in parallel, through the per-user version cache. */
export async function readToolVersions(env: NodeJS.ProcessEnv = process.env): Promise<{ packer: ToolVersion; ansible: ToolVersion; qemuImg: ToolVersion }> {
  const file = toolVersionCacheFile(env);
  const cache = await readVersionCache(file);
  const before = JSON.stringify(cache);
  const [packer, ansible, qemuImg] = await Promise.all([readToolVersion('packer', { env, cache }), readToolVersion('ansible', { env, cache }), readToolVersion('qemu-img', { env, cache })]);
  if (JSON.stringify(cache) !== before) {
    // Best effort, atomically: a read-only home only means probing again next time.
    const temp = `${file}.${process.pid}`;
    await mkdir(dirname(file), { recursive: true })
      .then(() => writeFile(temp, `${JSON.stringify(cache, null, 2)}\n`))
      .then(() => rename(temp, file))
      .catch(() => rm(temp, { force: true }).catch(() => undefined));
  }
  return { packer, ansible, qemuImg };
}
