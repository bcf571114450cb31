import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { decodeBuildFlags } from '../../app/build/options.js';
import { parseHostArg } from '../../core/remote/remote-command.js';
import { UsageError } from '../../errors/index.js';
import type { Invocation } from '../command.js';
import { stringFlag } from '../flags.js';
import { withInterrupt } from '../interrupt.js';
import { packageVersion } from '../../adapters/tools/package-version.js';

/** `build --host`: the same build on a GPU host over SSH, its output streamed here. */
export async function runRemoteBuild(version: string, { flags, cwd, output }: Invocation): Promise<number> {
  for (const local of ['verify-key', 'rendered'] as const) {
    if (flags[local] !== undefined) throw new UsageError(`--${local} cannot be used with --host (it names a file on this machine); run the build on the host for it`);
  }
  const target = parseHostArg(stringFlag(flags.host)!, userInfo().username);
  if ('error' in target) throw new UsageError(target.error);
  const request = { version, ...decodeBuildFlags(flags, cwd) };
  const pathFlag = (name: string) => (stringFlag(flags[name]) === undefined ? undefined : resolve(cwd, stringFlag(flags[name])!));
  const { remoteBuild } = await import('../../app/remote-build.js');
  const report = await withInterrupt(output, 'interrupting the remote build (it stops Packer and its VMs there)', (signal) =>
    remoteBuild({
      request,
      cwd,
      target,
      auth: { identity: pathFlag('identity'), knownHosts: pathFlag('known-hosts') },
      remoteDir: stringFlag(flags['remote-dir']) ?? 'imagebuild-remote',
      imagebuild: stringFlag(flags['remote-command']) ?? 'imagebuild',
      localVersion: packageVersion(),
      signal,
      onLine: (line, from) => (flags.json === true ? undefined : from === 'stdout' ? output.out(line) : output.err(line)),
      onStep: (message) => (flags.json === true ? undefined : output.err(`${output.paint('cyan', '»')} ${message}`)),
    }),
  );
  if (flags.json === true) {
    output.json(report);
    return 0;
  }
  output.out(`${output.paint('green', '✔')} built v${report.manifest.version} on ${report.host} in ${report.durationS.toFixed(0)} s: ${report.remoteVersionDir}/${report.manifest.artifact}`);
  output.out(`  brought home ${report.filesFetched} file(s) (manifest, SHA256SUMS, logs, gate reports) to ${report.localDir}`);
  return 0;
}
