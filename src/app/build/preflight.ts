import { freeBytes } from '../../adapters/fs/free-bytes.js';
import { pathExists } from '../../adapters/fs/directories.js';
import { whyNotWritableDirectory } from '../../adapters/fs/probe-directory.js';
import { findOvmf, OVMF_INSTALL_HINT } from '../../adapters/qemu/firmware.js';
import { commandExists, filesystemOf, hostKernel, pciDriverOf, probeKvmOncePerBoot } from '../../adapters/host/probe-host.js';
import type { BuildPlan } from '../../core/plan/plan-build.js';
import { checkPreflight, estimateDiskNeeds, type PreflightNeeds } from '../../core/preflight/check-preflight.js';
import { PreflightError } from '../../errors/index.js';
import { chooseAnsibleStrategy, probeMitogen, type AnsibleStrategy, type AnsibleStrategyChoice } from '../../adapters/tools/ansible-strategy.js';
import type { BuildRun } from './build-run.js';

/** The host tools a build runs, and why: what preflight looks for on PATH. */
function toolsNeeded(run: BuildRun): PreflightNeeds['tools'] {
  return [
    { command: 'packer', why: 'to build layers and seal the image' },
    { command: 'qemu-img', why: 'to create and flatten qcow2 images' },
    { command: 'qemu-system-x86_64', why: 'to run build VMs' },
    { command: 'ansible-playbook', why: 'by Packer’s Ansible provisioner' },
    { command: 'ssh-keygen', why: 'to create the build key' },
    ...(run.spec.os.source.kind === 'bootstrap'
      ? [
          { command: 'mmdebstrap', why: 'to bootstrap the base root filesystem (os.source.kind: bootstrap)' },
          { command: 'mke2fs', why: 'to turn the root filesystem into a disk image' },
          { command: 'sfdisk', why: 'to partition the disk image' },
          { command: 'mkfs.fat', why: 'to make the EFI System Partition' },
        ]
      : []),
  ];
}

/**
 * Checks the host can run the plan (disk, tools, KVM, VFIO) and settles the accelerator: `auto`
 * boots a probe kernel under KVM (the bootstrap image's when there is one). Throws PreflightError
 * naming every problem.
 */
export async function runPreflight(
  run: BuildRun,
  plan: BuildPlan,
  accel: 'kvm' | 'tcg' | undefined,
  options: { readonly verify: boolean; readonly ansibleStrategy?: AnsibleStrategyChoice } = { verify: true },
): Promise<{ accelerator: 'kvm' | 'tcg'; ansible: AnsibleStrategy; notices: string[] }> {
  // First, and alone: the disk probes below cannot even measure a path that is a file or a link loop.
  const unwritable = await unwritableDirectories(run);
  if (unwritable.length > 0) throw new PreflightError(unwritable);
  const tools = toolsNeeded(run);
  const accelerator = accel ?? run.spec.hardware.build_vm.accelerator;
  const needs: PreflightNeeds = {
    disk: estimateDiskNeeds(run.spec, plan, { cache: run.cache.root, output: run.release.dir }),
    tools,
    accelerator,
    passthrough: plan.layers.some((l) => l.action === 'build') ? run.spec.hardware.gpu.passthrough : [],
  };
  const commands = Object.fromEntries(await Promise.all(tools.map(async (t) => [t.command, await commandExists(t.command)] as const)));
  const freeBytesByPath = Object.fromEntries(await Promise.all(needs.disk.map(async (d) => [d.path, await freeBytes(d.path)] as const)));
  const filesystems = Object.fromEntries(await Promise.all(needs.disk.map(async (d) => [d.path, await filesystemOf(d.path)] as const)));
  const kvm = accelerator === 'tcg' ? undefined : await probeKvmOncePerBoot(await probeKernel(run, plan), run.cache.root);
  const pciDrivers = Object.fromEntries(await Promise.all(needs.passthrough.map(async (a) => [a, await pciDriverOf(a)] as const)));
  const strategyChoice = options.ansibleStrategy ?? 'auto';
  const ansible = chooseAnsibleStrategy(strategyChoice, strategyChoice === 'linear' || !commands['ansible-playbook'] ? undefined : await probeMitogen(), run.projectDir);
  const result = checkPreflight(needs, { freeBytes: freeBytesByPath, filesystems, commands, kvm, pciDrivers });
  // The verification boot proves every firmware of os.firmware; UEFI's is OVMF, a file rather than a command.
  const firmware =
    options.verify && run.spec.os.firmware.includes('uefi') && findOvmf() === undefined
      ? [`os.firmware includes uefi, and the verification boot runs under OVMF, which is not installed: ${OVMF_INSTALL_HINT} (or build with --no-verify)`]
      : [];
  const strategyProblem = 'error' in ansible ? [ansible.error] : [];
  if (result.problems.length + firmware.length + strategyProblem.length > 0) throw new PreflightError([...result.problems, ...firmware, ...strategyProblem]);
  return { accelerator: result.accelerator, ansible: ansible as AnsibleStrategy, notices: [...result.notices] };
}

/** Every directory the build will write to, with what it is for; a problem line for each it could not. */
async function unwritableDirectories(run: BuildRun): Promise<string[]> {
  const dirs = [
    { path: run.cache.root, what: 'cache directory (cache.dir or $IMAGEBUILD_CACHE_DIR)' },
    { path: run.dir.root, what: "this build's work directory in the cache" },
    { path: run.outputRoot, what: 'output directory (output.dir or $IMAGEBUILD_OUTPUT_DIR)' },
  ];
  const problems: string[] = [];
  for (const { path, what } of dirs) {
    const why = await whyNotWritableDirectory(path);
    if (why !== undefined) problems.push(`${what}: ${why}; point it at a writable directory`);
  }
  return problems;
}

/** The kernel the KVM probe boots: the bootstrap image's when it exists, else the host's. */
async function probeKernel(run: BuildRun, plan: BuildPlan): Promise<string | undefined> {
  const bootstrapKey = plan.layers[0]!.inputs.bootstrapKey;
  const kernel = bootstrapKey === undefined ? undefined : run.cache.bootstrapKernel(bootstrapKey);
  return kernel !== undefined && pathExists(kernel) ? kernel : hostKernel();
}
