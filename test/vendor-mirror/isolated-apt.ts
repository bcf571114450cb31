import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

// apt with a configuration of its own: state, cache, sources, preferences, trusted keys and config parts all under
// one directory, an empty dpkg status, amd64 only, no locking. The host's apt state and settings are never read
// or written (APT_CONFIG is read before Dir::Etc::Parts, so this file also redirects the host's apt.conf.d).

export type VersionPriority = { readonly version: string; readonly priority: number };
export type Policy = ReadonlyMap<string, { readonly candidate: string; readonly versions: readonly VersionPriority[] }>;
export type AptRun = { readonly exitCode: number; readonly stdout: string; readonly stderr: string };

export type IsolatedApt = {
  readonly dir: string;
  aptGet(args: readonly string[]): Promise<AptRun>;
  /** `apt-cache policy` of the names, parsed: each name's candidate and every version with its priority. */
  policy(names: readonly string[]): Promise<Policy>;
  /** `apt-get install -s`: the packages apt would install, with their versions, or the failure. */
  simulateInstall(specs: readonly string[]): Promise<{ run: AptRun; installs: ReadonlyMap<string, string> }>;
};

/** Sets up apt under `dir` with these sources lines and preferences files (name → text). */
export async function makeIsolatedApt(dir: string, options: { sources: readonly string[]; preferences?: Readonly<Record<string, string>> }): Promise<IsolatedApt> {
  for (const sub of ['etc/apt.conf.d', 'etc/sources.list.d', 'etc/preferences.d', 'etc/trusted.gpg.d', 'state/lists/partial', 'cache/archives/partial', 'log']) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  await writeFile(join(dir, 'status'), '');
  await writeFile(join(dir, 'etc/sources.list'), `${options.sources.join('\n')}\n`);
  for (const [name, text] of Object.entries(options.preferences ?? {})) await writeFile(join(dir, 'etc/preferences.d', name), text);
  const config = join(dir, 'apt.conf');
  await writeFile(
    config,
    [
      `Dir::Etc "${dir}/etc/";`,
      `Dir::Etc::Parts "${dir}/etc/apt.conf.d/";`,
      'Dir::Etc::SourceList "sources.list";',
      'Dir::Etc::SourceParts "sources.list.d/";',
      'Dir::Etc::Preferences "preferences";',
      'Dir::Etc::PreferencesParts "preferences.d/";',
      'Dir::Etc::Trusted "trusted.gpg";',
      'Dir::Etc::TrustedParts "trusted.gpg.d/";',
      `Dir::State "${dir}/state/";`,
      `Dir::State::status "${dir}/status";`,
      `Dir::Cache "${dir}/cache/";`,
      `Dir::Log "${dir}/log/";`,
      'APT::Architecture "amd64";',
      'APT::Architectures { "amd64"; };',
      'Debug::NoLocking "true";',
      // Root would hand downloads to _apt, which cannot enter a 0700 temporary directory.
      'APT::Sandbox::User "root";',
      'Acquire::Languages "none";',
      'Acquire::Retries "0";',
      '',
    ].join('\n'),
  );
  // No proxy from the environment: the mirror is on loopback.
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', APT_CONFIG: config, LC_ALL: 'C' };
  const run = async (tool: string, args: readonly string[]): Promise<AptRun> => {
    // In its own directory: `apt-get download` writes there.
    const result = await execa(tool, args, { env, extendEnv: false, reject: false, cwd: dir });
    return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
  };
  return {
    dir,
    aptGet: (args) => run('apt-get', args),
    async policy(names) {
      const result = await run('apt-cache', ['policy', ...names]);
      if (result.exitCode !== 0) throw new Error(`apt-cache policy failed: ${result.stderr}`);
      return parsePolicy(result.stdout);
    },
    async simulateInstall(specs) {
      const result = await run('apt-get', ['install', '-s', '-y', ...specs]);
      const installs = new Map<string, string>();
      for (const match of result.stdout.matchAll(/^Inst (\S+) (?:\[\S+\] )?\((\S+) /gm)) installs.set(match[1] ?? '', match[2] ?? '');
      return { run: result, installs };
    },
  };
}

function parsePolicy(text: string): Policy {
  const policy = new Map<string, { candidate: string; versions: VersionPriority[] }>();
  let current: { candidate: string; versions: VersionPriority[] } | undefined;
  for (const line of text.split('\n')) {
    const name = /^(\S+):$/.exec(line)?.[1];
    if (name) {
      current = { candidate: '', versions: [] };
      policy.set(name, current);
      continue;
    }
    const candidate = /^ {2}Candidate: (\S+)$/.exec(line)?.[1];
    if (candidate && current) current.candidate = candidate;
    const version = /^ {5}(?:\*\*\* )?(\S+) (-?\d+)$/.exec(line);
    if (version && current) current.versions.push({ version: version[1] ?? '', priority: Number(version[2]) });
  }
  return policy;
}
