import { execa } from 'execa';

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

/** Runs a tool's version command (with CHECKPOINT_DISABLE so Packer does not phone home) and parses it. */
export async function readToolVersion(tool: keyof typeof PROBES): Promise<ToolVersion> {
  const probe = PROBES[tool];
  try {
    const { stdout } = await execa(tool, probe.args, { timeout: 20_000, env: { CHECKPOINT_DISABLE: '1', ANSIBLE_NOCOLOR: '1' } });
    const version = probe.parse(stdout);
    return version ? { tool, version } : { tool, version: null, error: `unrecognised \`${tool} ${probe.args.join(' ')}\` output` };
  } catch (error) {
    const code = (error as { code?: string }).code;
    return { tool, version: null, error: code === 'ENOENT' ? 'not installed (not on PATH)' : (error as Error).message.split('\n')[0] };
  }
}

/** Reads the versions of packer, ansible and qemu-img in parallel. */
export async function readToolVersions(): Promise<{ packer: ToolVersion; ansible: ToolVersion; qemuImg: ToolVersion }> {
  const [packer, ansible, qemuImg] = await Promise.all([readToolVersion('packer'), readToolVersion('ansible'), readToolVersion('qemu-img')]);
  return { packer, ansible, qemuImg };
}
