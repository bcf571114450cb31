import { BUILD_REQUEST_FLAGS, decodeBuildFlags, type BuildRequestFlag } from '../../app/build/options.js';
import type { Command, FlagSpec } from '../command.js';
import { HOST_PROFILE_FLAG, SPEC_FLAG, stringFlag, versionArg } from '../flags.js';
import { withInterrupt } from '../interrupt.js';
import { createProgressRenderer } from '../transfer-progress.js';
import { runRemoteBuild } from './build-remote.js';

/** A flag the build request codec reads, with its type from the codec so the two cannot disagree. */
function requestFlag(name: BuildRequestFlag, help: Omit<FlagSpec, 'type'>): FlagSpec {
  return { ...help, type: BUILD_REQUEST_FLAGS[name] };
}

/** `imagebuild build`: here, or on a GPU host with --host. */
export const buildCommand: Command = {
  name: 'build',
  usage:
    'imagebuild build <version> [--spec FILE] [--from-layer L] [--until-layer L] [--accel kvm|tcg] [--host-profile gpu|cpu] [--verify-user U --verify-key K | --no-verify] [--no-package-cache | --offline] [--ansible-strategy auto|mitogen|linear] [--publish [--allow-bump-mismatch REASON]] [--json]\n' +
    '       imagebuild build <version> --host [USER@]HOST[:PORT] [--identity FILE] [--known-hosts FILE] [--remote-dir DIR] [--remote-command CMD] [build options]',
  positionals: { min: 1, max: 1 },
  summary: 'build a versioned image: layers (cached or built with Packer and gated), seal, flatten, manifest',
  description:
    'Runs preflight (disk, tools, KVM boot probe, VFIO binding, lock), then each layer: reused from the cache when its key\n' +
    "is there, otherwise built with `packer build` on top of the layer below and judged by the layer's gate; a layer is\n" +
    'cached only after its gate passed. Then seals, flattens the chain into <output>/<name>/vX.Y.Z/<name>-vX.Y.Z.qcow2,\n' +
    'hashes it once and writes image-manifest.json. Re-running a version built from identical inputs is a no-op; the\n' +
    'same version from different inputs is refused. After a failure or Ctrl-C, the same command resumes from the first\n' +
    'layer not in the cache. GPU checks that cannot run (no GPU passed through) are reported as skipped, never passed.',
  flags: {
    spec: requestFlag('spec', SPEC_FLAG),
    'from-layer': requestFlag('from-layer', { value: 'LAYER', help: 'rebuild from this layer up even if cached' }),
    'until-layer': requestFlag('until-layer', { value: 'LAYER', help: 'stop after this layer (e.g. base on a machine without NVIDIA repositories)' }),
    accel: requestFlag('accel', { value: 'kvm|tcg', help: "override the spec's accelerator (default: the spec's; auto runs a KVM boot probe)" }),
    'host-profile': requestFlag('host-profile', HOST_PROFILE_FLAG),
    'verify-user': requestFlag('verify-user', { value: 'USER', help: 'a spec user to log in as in the verification boot (with --verify-key)' }),
    'verify-key': requestFlag('verify-key', { value: 'FILE', help: "that user's private SSH key; without it the in-guest checks of the verification boot are skipped" }),
    'no-verify': requestFlag('no-verify', { help: 'skip the verification boot of the finished artifact (the manifest then records none)' }),
    'no-package-cache': requestFlag('no-package-cache', { help: "no apt cache of imagebuild's own: the build VMs download every package directly (a spec's cache.apt_proxy still applies)" }),
    offline: requestFlag('offline', {
      help: "build from the package caches alone (an air-gapped host, after one build with the network): the apt cache serves only what it holds and never connects upstream, the pip wheelhouse must be filled already (else OFFLINE_CACHE_MISS, exit 1)",
    }),
    'ansible-strategy': requestFlag('ansible-strategy', {
      value: 'auto|mitogen|linear',
      help: "how Ansible drives the build VMs: mitogen (Mitogen for Ansible: one Python per VM, several times faster under TCG), linear (Ansible's own), auto (default: mitogen when the host's is usable with its Ansible); never part of a layer key",
    }),
    publish: requestFlag('publish', { help: "publish the release to the spec's store after a successful build (checked before the build starts)" }),
    'allow-bump-mismatch': requestFlag('allow-bump-mismatch', { value: 'REASON', help: 'with --publish: publish although the semver bump does not match the changes; recorded' }),
    json: { type: 'boolean', help: 'no live progress; print the build report as JSON at the end' },
    host: { type: 'string', value: '[USER@]HOST[:PORT]', help: 'build on this GPU host over SSH: upload the spec and rendered files, stream the build, bring the manifest, logs and gate reports home' },
    identity: { type: 'string', value: 'FILE', help: 'with --host: private key to log in with (default: ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa)' },
    'known-hosts': { type: 'string', value: 'FILE', help: "with --host: known_hosts file the host's key must be in (default ~/.ssh/known_hosts); unknown or changed keys are refused" },
    'remote-dir': { type: 'string', value: 'DIR', help: 'with --host: where builds live on the host (default imagebuild-remote, under the login directory); its cache persists between builds' },
    'remote-command': { type: 'string', value: 'CMD', help: 'with --host: how to run imagebuild on the host (default imagebuild; e.g. "npx imagebuild")' },
    rendered: requestFlag('rendered', { value: 'DIR', help: 'build only if DIR holds exactly the files this imagebuild renders for the spec (used by --host)' }),
  },
  async run(invocation) {
    const { positionals, flags, cwd, output } = invocation;
    const version = versionArg(positionals[0]!);
    if (stringFlag(flags.host) !== undefined) return runRemoteBuild(version, invocation);
    const { publish, allowBumpMismatch, ...request } = { version, ...decodeBuildFlags(flags, cwd) };
    // Loaded only under GitHub Actions, like the other heavy modules only in the commands using them.
    const github = process.env.GITHUB_ACTIONS === 'true' ? (await import('../ci-output.js')).createGithubObserver(output, { version }) : undefined;
    const publishing = publish ? await import('../../app/release-publish.js') : undefined;
    // Refuse an existing version or a wrong bump before hours of building, not after.
    await publishing?.checkPublishable({ specArg: request.specArg, cwd, version, allowBumpMismatch }).catch((error: unknown) => {
      github?.failed(error);
      throw error;
    });
    const { buildImage } = await import('../../app/build/pipeline.js');
    try {
      await withInterrupt(output, 'stopping Packer and its VMs; nothing half-done will be registered', async (signal) => {
        const report = await buildImage({
          ...request,
          cwd,
          // GitHub Actions has no terminal: plain timestamped lines inside its groups.
          renderer: flags.json === true ? 'silent' : output.interactive && !github ? 'default' : 'simple',
          signal,
          onEvent: github?.onEvent,
        });
        const published = publishing
          ? await publishing.publishRelease({ specArg: request.specArg, cwd, version, allowBumpMismatch, onProgress: createProgressRenderer(output), signal })
          : undefined;
        github?.succeeded(report, published ? `v${published.version} to ${published.store}` : undefined);
        if (flags.json === true) {
          // The report's manifest is for observers (CI output); --json keeps its shape: the manifest is at manifestPath.
          const { manifest: _manifest, ...json } = report;
          output.json(published ? { ...json, published } : json);
          return;
        }
        if (published) output.out(`${output.paint('green', '✔')} published v${published.version} to ${published.store}`);
        const reused = report.layers.filter((l) => l.action === 'reused').length;
        const built = report.layers.filter((l) => l.action === 'built').length;
        output.out('');
        output.out(
          report.status === 'unchanged'
            ? `${output.paint('green', '✔')} v${report.version} is already built from identical inputs: ${report.artifact} (nothing to do, ${report.durationS.toFixed(1)} s)`
            : `${output.paint('green', '✔')} built ${report.artifact} in ${report.durationS.toFixed(0)} s (${built} layer(s) built, ${reused} reused)`,
        );
        output.out(`  manifest ${report.manifestPath}`);
        if (report.logsDir) output.out(`  logs     ${report.logsDir}`);
        if (!report.gpuValidated) output.out(`  ${output.paint('yellow', 'not GPU-validated:')} GPU checks were skipped (no GPU passed through); see the manifest's gates`);
        for (const notice of report.notices) output.err(`${output.paint('yellow', 'notice:')} ${notice}`);
      });
      return 0;
    } catch (error) {
      github?.failed(error);
      throw error;
    }
  },
};
