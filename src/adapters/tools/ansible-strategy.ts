import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { firstLine } from '../../errors/index.js';
import { fileStamp, locate, toolVersionCacheFile } from './tool-versions.js';

/**
 * How Packer's Ansible provisioner drives a build VM. `linear` is Ansible's own strategy: every task
 * starts a Python interpreter in the guest and unpacks its module there, seconds per task in a TCG
 * guest. `mitogen` is Mitogen for Ansible's `mitogen_linear` strategy (Debian and Ubuntu package it as
 * ansible-mitogen): one interpreter per guest for the whole play, modules run in it, the same results.
 * `auto` uses Mitogen when the host has a release of it that supports the host's Ansible.
 */
export const ANSIBLE_STRATEGIES = ['auto', 'mitogen', 'linear'] as const;
export type AnsibleStrategyChoice = (typeof ANSIBLE_STRATEGIES)[number];

/** The strategy a build runs with: the environment Packer passes to ansible-playbook, and a line for the build's output. */
export type AnsibleStrategy = {
  readonly strategy: 'mitogen_linear' | 'linear';
  readonly env: Readonly<Record<string, string>>;
  readonly summary: string;
};

/** Mitogen for Ansible as the host's Ansible would load it, or why it would not. */
export type MitogenProbe = { readonly ok: true; readonly strategyDir: string; readonly version: string } | { readonly ok: false; readonly why: string };

// Run by the interpreter ansible-playbook runs under. Importing ansible_mitogen.loaders is what the strategy plugin
// does first, and it raises for an Ansible release that Mitogen does not support: the probe fails exactly when the
// build would.
const PROBE_SCRIPT = [
  'import os, sys',
  'try:',
  '    import mitogen, ansible_mitogen, ansible_mitogen.loaders',
  'except Exception as error:',
  "    print('no:' + ((str(error).strip().splitlines() or [type(error).__name__])[0]))",
  '    sys.exit(0)',
  "print('dir:' + os.path.join(os.path.dirname(ansible_mitogen.__file__), 'plugins', 'strategy'))",
  "print('version:' + '.'.join(str(part) for part in mitogen.__version__))",
].join('\n');

/**
 * The Python interpreter of an executable Python script (its `#!` line), e.g. `/usr/bin/python3` for Debian's
 * ansible-playbook; undefined for anything that is not Python (a wrapper script must not be handed Python code).
 */
export function interpreterOf(shebang: string): string[] | undefined {
  const match = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(shebang);
  if (!match) return undefined;
  const [, program, argument] = match;
  const isPython = (path: string | undefined) => path !== undefined && /^python[\d.]*$/.test(path.split('/').at(-1)!);
  // `#!/usr/bin/env python3`: the interpreter is env's argument, found on PATH.
  if (program!.split('/').at(-1) === 'env') return isPython(argument) ? [program!, argument!] : undefined;
  if (!isPython(program)) return undefined;
  return argument === undefined ? [program!] : [program!, argument];
}

/** Parses the probe script's output. */
export function parseMitogenProbe(stdout: string): MitogenProbe {
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(stdout)?.[1]?.trim();
  const why = field('no');
  if (why !== undefined) return { ok: false, why: why === '' ? 'Mitogen for Ansible cannot be imported' : why };
  const strategyDir = field('dir');
  const version = field('version');
  if (!strategyDir || !version) return { ok: false, why: `unrecognised probe output: ${firstLine(stdout) || '(none)'}` };
  return { ok: true, strategyDir, version };
}

async function readShebang(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(256);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString('utf8').split('\n')[0] ?? '';
  } finally {
    await handle.close();
  }
}

/** A usable Mitogen as found before, valid while ansible-playbook and Mitogen's strategy and loader files are the same files. */
type RememberedProbe = { readonly stamps: readonly string[]; readonly strategyDir: string; readonly version: string };

async function currentStamps(playbook: string, strategyDir: string): Promise<(string | undefined)[]> {
  return Promise.all([playbook, join(strategyDir, 'mitogen_linear.py'), join(strategyDir, '..', '..', 'loaders.py')].map(fileStamp));
}

/**
 * Asks the Python that runs the host's ansible-playbook whether it can load Mitogen's strategy (about 0.5 s of
 * Python start-up and imports). A usable answer is remembered beside the tool-version cache and trusted while
 * ansible-playbook and Mitogen's files are unchanged; an unusable one is asked again each time (installing
 * ansible-mitogen changes no file the answer could be keyed on).
 */
export async function probeMitogen(env: NodeJS.ProcessEnv = process.env): Promise<MitogenProbe> {
  const playbook = (await locate('ansible-playbook', env))?.path;
  if (playbook === undefined) return { ok: false, why: 'ansible-playbook is not on PATH' };
  const memo = join(dirname(toolVersionCacheFile(env)), 'mitogen-probe.json');
  const remembered = (JSON.parse(await readFile(memo, 'utf8').catch(() => '{}')) as Record<string, RememberedProbe | undefined>)[playbook];
  if (remembered && JSON.stringify(await currentStamps(playbook, remembered.strategyDir)) === JSON.stringify(remembered.stamps)) {
    return { ok: true, strategyDir: remembered.strategyDir, version: remembered.version };
  }
  const probe = await askInterpreter(playbook, env);
  if (probe.ok) {
    const stamps = await currentStamps(playbook, probe.strategyDir);
    if (stamps.every((stamp) => stamp !== undefined)) {
      // Best effort, atomically: a read-only home only means asking again next time.
      const temp = `${memo}.${process.pid}`;
      await mkdir(dirname(memo), { recursive: true })
        .then(() => writeFile(temp, `${JSON.stringify({ [playbook]: { stamps, strategyDir: probe.strategyDir, version: probe.version } }, null, 2)}\n`))
        .then(() => rename(temp, memo))
        .catch(() => rm(temp, { force: true }).catch(() => undefined));
    }
  }
  return probe;
}

async function askInterpreter(playbook: string, env: NodeJS.ProcessEnv): Promise<MitogenProbe> {
  const interpreter = interpreterOf(await readShebang(playbook).catch(() => ''));
  if (interpreter === undefined) return { ok: false, why: `${playbook} is not a Python script (no #! line naming Python)` };
  try {
    const { execa } = await import('execa');
    const [program, ...args] = interpreter;
    const { stdout } = await execa(program!, [...args, '-c', PROBE_SCRIPT], { timeout: 30_000, env: { ...env, ANSIBLE_NOCOLOR: '1' }, extendEnv: false });
    return parseMitogenProbe(stdout);
  } catch (error) {
    return { ok: false, why: `${interpreter.join(' ')} could not be asked: ${firstLine(error)}` };
  }
}

const LINEAR: Omit<AnsibleStrategy, 'summary'> = { strategy: 'linear', env: { ANSIBLE_STRATEGY: 'linear' } };

/** imagebuild's wrapper of Mitogen's mitogen_linear strategy, under the project's ansible/ (see the file for why). */
export const MITOGEN_STRATEGY = { name: 'imagebuild_mitogen_linear', dir: 'ansible/strategy_plugins' } as const;

/**
 * Settles the strategy for a build. `auto` falls back to Ansible's own when Mitogen is missing or too old or new
 * for the host's Ansible (the summary says why); `mitogen` asked for and unusable is an error the caller reports.
 * Mitogen runs through imagebuild's strategy plugin under `projectDir`, which loads the host's Mitogen.
 */
export function chooseAnsibleStrategy(choice: AnsibleStrategyChoice, probe: MitogenProbe | undefined, projectDir: string): AnsibleStrategy | { readonly error: string } {
  if (choice === 'linear') return { ...LINEAR, summary: "Ansible's linear strategy (--ansible-strategy linear)" };
  if (probe?.ok) {
    return {
      strategy: 'mitogen_linear',
      env: { ANSIBLE_STRATEGY: MITOGEN_STRATEGY.name, ANSIBLE_STRATEGY_PLUGINS: join(projectDir, MITOGEN_STRATEGY.dir) },
      summary: `Mitogen ${probe.version} (mitogen_linear strategy)`,
    };
  }
  const why = probe?.why ?? 'not probed';
  if (choice === 'mitogen') {
    return { error: `--ansible-strategy mitogen: Mitogen for Ansible is not usable here (${why}); install it (Debian/Ubuntu: apt-get install ansible-mitogen) or use --ansible-strategy auto|linear` };
  }
  return { ...LINEAR, summary: `Ansible's linear strategy (Mitogen not usable: ${why})` };
}
