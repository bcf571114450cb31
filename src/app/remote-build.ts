import { join, posix } from 'node:path';
import { replaceDirectory, replaceDirectoryWith } from '../adapters/fs/write-files.js';
import { connectRemoteHost, type RemoteAuth, type RemoteHost } from '../adapters/ssh/remote-host.js';
import { readManifestFile } from '../adapters/workspace/manifest-file.js';
import { releaseLayout } from '../adapters/workspace/release-layout.js';
import { remoteStagingDir } from '../adapters/workspace/project-layout.js';
import type { ImageManifest } from '../core/manifest/image-manifest.js';
import { REMOTE_PID_MARKER, remoteBuildCommand, shellQuote, type RemoteHostSpec } from '../core/remote/remote-command.js';
import { applyHostProfile } from '../core/spec/host-profile.js';
import { firstLine, ImagebuildError, InterruptedError } from '../errors/index.js';
import { loadSpec } from './load-spec.js';
import { renderSpec } from './prepare-image.js';
import { releaseDirName } from '../core/version/release-version.js';
import { encodeBuildRequest, type BuildRequest } from './build/options.js';

export type RemoteBuildOptions = {
  /** The build the host runs, as `imagebuild build` here read it; its spec and rendered files go up with it. */
  readonly request: BuildRequest;
  readonly cwd: string;
  readonly target: RemoteHostSpec;
  readonly auth: RemoteAuth;
  /** The build directory's parent on the host (relative paths are from the login directory). */
  readonly remoteDir: string;
  /** How imagebuild is run on the host: `imagebuild`, `npx imagebuild`, a path… */
  readonly imagebuild: string;
  /** The imagebuild version here; the host must run the same one. */
  readonly localVersion: string;
  readonly signal: AbortSignal;
  readonly onLine: (line: string, from: 'stdout' | 'stderr') => void;
  /** Progress of the steps around the remote build (connect, upload, fetch). */
  readonly onStep: (message: string) => void;
};

export type RemoteBuildReport = {
  readonly host: string;
  readonly remoteBuildDir: string;
  readonly remoteVersionDir: string;
  /** Where the manifest, SHA256SUMS, logs and gate reports were brought home (the qcow2 stays on the host). */
  readonly localDir: string;
  readonly filesFetched: number;
  readonly manifest: ImageManifest;
  readonly durationS: number;
};

/**
 * Drives a build on a GPU host over SSH: checks the host runs the same imagebuild, renders the spec
 * here for the host's Packer, uploads the spec and the rendered directory, runs `imagebuild build
 * --rendered` there (which refuses files that differ from what it renders), streams its output
 * back, and brings the manifest, logs and gate reports home. An abort interrupts the remote build,
 * which stops Packer and its VMs and keeps what it cached.
 */
export async function remoteBuild(options: RemoteBuildOptions): Promise<RemoteBuildReport> {
  const started = Date.now();
  const { request } = options;
  const loaded = await loadSpec(request.specArg, options.cwd);
  const spec = applyHostProfile(loaded.spec, request.hostProfile);
  options.onStep(`connecting to ${options.target.username}@${options.target.host}:${options.target.port}`);
  const host = await connectRemoteHost(options.target, options.auth);
  try {
    const versions = await host.run(`${options.imagebuild} --version && (packer version 2>/dev/null | sed -n 1p || true)`);
    if (versions.code !== 0) {
      throw new ImagebuildError('REMOTE_NO_IMAGEBUILD', `${host.name}: \`${options.imagebuild} --version\` failed (${firstLine(versions.stderr.trim()) || `exit ${versions.code}`}); install imagebuild on the host or pass --remote-command`);
    }
    const [remoteVersion, packerLine = ''] = versions.stdout.trim().split('\n');
    if (remoteVersion?.trim() !== options.localVersion) {
      throw new ImagebuildError('REMOTE_VERSION_MISMATCH', `${host.name} runs imagebuild ${remoteVersion?.trim()}, this is ${options.localVersion}; install the same version on both so the host builds what was rendered here`);
    }
    const packerVersion = /v?(\d+\.\d+\.\d+)/.exec(packerLine)?.[1];

    const buildDir = posix.join(options.remoteDir, spec.name);
    const stage = remoteStagingDir(options.cwd, options.target.host, options.target.port, spec.name);
    await replaceDirectory(join(stage, 'rendered'), await renderSpec(spec, packerVersion));
    options.onStep(`uploading the spec and the rendered files (for Packer ${packerVersion ?? 'unknown'}) to ${host.name}:${buildDir}`);
    const cleared = await host.run(`mkdir -p ${shellQuote(buildDir)} && rm -rf ${shellQuote(posix.join(buildDir, 'rendered'))}`);
    if (cleared.code !== 0) throw new ImagebuildError('REMOTE_FAILED', `${host.name}: cannot prepare ${buildDir}: ${firstLine(cleared.stderr.trim()) || `exit ${cleared.code}`}`);
    await host.uploadFile(loaded.path, posix.join(buildDir, 'spec.yaml'));
    await host.uploadTree(join(stage, 'rendered'), posix.join(buildDir, 'rendered'));

    const command = remoteBuildCommand({
      dir: buildDir,
      imagebuild: options.imagebuild,
      // Paths as the host's build directory sees them: the uploaded spec and rendered files.
      args: encodeBuildRequest({ ...request, specArg: 'spec.yaml', renderedDir: 'rendered' }),
    });
    options.onStep(`building v${request.version} on ${host.name}`);
    const exit = await runInterruptible(host, command, options);

    if (exit.interrupted) {
      throw new InterruptedError(`remote build on ${host.name} interrupted; it stopped Packer and kept what it cached — re-run the same command to resume`);
    }
    if (exit.code !== 0) {
      throw new ImagebuildError(exit.code === 2 ? 'REMOTE_BUILD_REFUSED' : 'REMOTE_BUILD_FAILED', `remote build on ${host.name} failed (exit ${exit.code ?? exit.signal ?? 'unknown'}); its output is above, its logs are on the host under ${buildDir}`);
    }

    const remoteVersionDir = posix.join(buildDir, 'output', spec.name, releaseDirName(request.version));
    const home = releaseLayout(stage, spec.name, request.version);
    const localDir = home.dir;
    options.onStep(`bringing the manifest, logs and gate reports home to ${localDir}`);
    const files = await replaceDirectoryWith(localDir, (temp) => host.downloadTree(remoteVersionDir, temp, (path) => !path.endsWith('.qcow2')));
    const manifest = await readManifestFile(home.manifest);
    if (!manifest) throw new ImagebuildError('REMOTE_NO_MANIFEST', `${host.name}:${remoteVersionDir} has no image-manifest.json after a successful build`);
    return { host: host.name, remoteBuildDir: buildDir, remoteVersionDir, localDir, filesFetched: files, manifest, durationS: (Date.now() - started) / 1000 };
  } finally {
    host.close();
  }
}

/** Runs the remote build; on abort, sends SIGINT to its PID (read from the marker line) and waits for it to stop. */
async function runInterruptible(host: RemoteHost, command: string, options: RemoteBuildOptions): Promise<{ code: number | null; signal?: string; interrupted: boolean }> {
  let pid: string | undefined;
  let interrupted = false;
  const interrupt = () => {
    interrupted = true;
    if (pid) void host.run(`kill -INT ${pid}`).catch(() => undefined);
  };
  options.signal.addEventListener('abort', interrupt, { once: true });
  try {
    const exit = await host.stream(command, (line, from) => {
      const marker = new RegExp(`^${REMOTE_PID_MARKER} (\\d+)$`).exec(line);
      if (marker && pid === undefined) {
        pid = marker[1];
        if (interrupted) interrupt();
        return;
      }
      options.onLine(line, from);
    });
    return { ...exit, interrupted };
  } finally {
    options.signal.removeEventListener('abort', interrupt);
  }
}
