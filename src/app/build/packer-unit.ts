import { join } from 'node:path';
import { ensureDirectory, pathExists, removeTree } from '../../adapters/fs/directories.js';
import { runPackerBuild } from '../../adapters/packer/run-packer.js';
import { InterruptedError, ImagebuildError } from '../../errors/index.js';
import type { BuildRun } from './build-run.js';

/** What a Packer run builds on: the image below it and how the build VM runs. */
export type UnitBase = {
  /** The qcow2 the unit is an overlay of; undefined for a base layer made by an installer or from a cloud image. */
  readonly parentImage: string | undefined;
  /** The bootstrap image's directory, whose kernel boots the build VM (bootstrap sources). */
  readonly kernelDir: string | undefined;
  readonly accelerator: 'kvm' | 'tcg';
  /** The qemu-img shim directory, first on Packer's PATH. */
  readonly shimDir: string;
  /** The build VM's apt proxy (package_cache_apt_proxy, passed at run time: never in the rendered files or a layer key); "" = none. */
  readonly aptProxy: string;
  /** Whether that proxy fetches HTTPS repositories named http://HTTPS///… (imagebuild's own apt-cacher-ng): package_cache_https_proxied. */
  readonly aptHttpsProxied: boolean;
  /** The frameworks layer's pip wheelhouse as the build VM reaches it (ai_frameworks_wheelhouse_url, passed at run time like aptProxy); "" = none. */
  readonly wheelhouseUrl: string;
  /** The runtime layer's saved container images as the build VM reaches them (container_runtime_image_cache_url, passed at run time); "" = none. */
  readonly imageCacheUrl: string;
  /** The Ansible strategy's environment for ansible-playbook (Packer passes its own environment on). */
  readonly ansibleEnv: Readonly<Record<string, string>>;
};

/** Runs `packer build` for one unit (a layer or the seal) of the rendered files; returns the qcow2 it made. */
export async function runPackerUnit(run: BuildRun, unit: string, base: UnitBase, onLine: (line: string) => void): Promise<{ image: string; durationS: number }> {
  const vars = {
    project_dir: run.projectDir,
    report_dir: run.dir.reportsOf(unit),
    output_directory: run.dir.outputOf(unit),
    parent_image: base.parentImage ?? '',
    kernel_dir: base.kernelDir ?? '',
    ssh_private_key_file: run.buildKey.privateKeyFile,
    build_key_pub: run.buildKey.publicKeyFile,
    verify_key_pub: run.verifyKey?.publicKey ?? '',
    apt_proxy: base.aptProxy,
    apt_https_proxied: String(base.aptHttpsProxied),
    wheelhouse_url: base.wheelhouseUrl,
    image_cache_url: base.imageCacheUrl,
    accelerator: base.accelerator,
  };
  await ensureDirectory(vars.report_dir);
  await removeTree(vars.output_directory);
  if (run.signal.aborted) throw new InterruptedError('interrupted');
  const { durationS } = await runPackerBuild({
    templateDir: run.dir.renderedOf(unit),
    templateFile: `${unit}.pkr.hcl`,
    vars,
    logFile: run.dir.log(unit),
    env: { ...base.ansibleEnv, PATH: `${base.shimDir}:${process.env.PATH ?? ''}` },
    signal: run.signal,
    // The log keeps Packer's own timestamps; the progress display has its own.
    onLine: (line) => onLine(line.replace(/^\d{4}-\d\d-\d\dT[\d:]+Z: /, '')),
  });
  const image = join(vars.output_directory, `${unit}.qcow2`);
  if (!pathExists(image)) throw new ImagebuildError('PACKER_NO_ARTIFACT', `packer build ${unit} succeeded but produced no ${image}; log: ${run.dir.log(unit)}`);
  return { image, durationS };
}
