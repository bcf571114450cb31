import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRIVER_ROLE, localPlayHead, renderSpecInto, resolveDriverRoleData, runLocalPlay, type DriverRoleData } from './helpers/role-data.js';
import { DEMO_SPEC_PATH, LOCAL_DEV_SPEC_PATH, mutateManifest } from './helpers/spec-builders.js';
import { makeTempDir } from './helpers/temp-dir.js';
import { requireTools } from './helpers/require-tools.js';

// The nvidia_driver role chooses its packages and apt pins from data (defaults/main.yml) and the rendered driver
// vars. This evaluates exactly that with the real ansible-playbook, on a local connection whose only effects are
// files in a temporary directory (nothing is installed), and has the real apt parse the pins it writes. Whether
// the names exist in NVIDIA's and Canonical's archives is for the hermetic-mirror build (issue 16).
const hasTools = requireTools('test/driver-role-data.test.ts', 'ansible-playbook', 'apt-cache');

// One at a time: six ansible-playbook runs at once on CI's two cores could pass the test timeout. Each case is a
// render and an ansible-playbook run: ~15 s alone on 2 cores, 36-120 s seen beside a TCG build and a second test
// worker (load 6-8), so the bound is 300 s.
describe.skipIf(!hasTools)('nvidia_driver package and pin data (real ansible-playbook, real apt)', { timeout: 300_000 }, () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    work = await makeTempDir();
  });
  afterAll(async () => {
    await work.cleanup();
  });

  async function resolve(name: string, specText: string): Promise<DriverRoleData> {
    const dir = join(work.dir, name);
    const resolved = await resolveDriverRoleData(dir, specText);
    // apt reads only these preferences (not the host's) and must accept every stanza and regex in them: it exits 0
    // even then, but warns ("W: Invalid regular expression", "W: Did not understand pin type").
    const apt = await execa(
      'apt-cache',
      ['-o', 'Dir::Etc::Preferences=/dev/null', '-o', `Dir::Etc::PreferencesParts=${dir}/preferences.d`, 'policy', 'nvidia-open'],
      { reject: false },
    );
    expect(apt.exitCode).toBe(0);
    expect(apt.stderr.slice(0, 2000)).not.toMatch(/^[WE]:/m);
    return resolved;
  }

  it("installs Canonical's signed server modules for the demo box and refuses NVIDIA's same-named builds", async () => {
    const resolved = await resolve('demo', mutateManifest(DEMO_SPEC_PATH, []));

    expect(resolved.set).toBe('ubuntu-ubuntu-branched');
    expect(resolved.packages).toEqual(['nvidia-driver-580-server-open', 'linux-modules-nvidia-580-server-open-generic']);
    expect(resolved.pinning).toBe('');
    expect(resolved.preferences).toContain('Pin: origin "developer.download.nvidia.com"\nPin-Priority: -1');
    // And while the build's apt cache carries the repository (apt sees its origin as "HTTPS" then).
    expect(resolved.preferences).toContain('Pin: origin "HTTPS"\nPin-Priority: -1');
    expect(resolved.preferences).toContain('Pin: version 580.173.02-*\nPin-Priority: 1001');
    expect(resolved.preferences).toContain('Package: cuda-toolkit-13-0\nPin: version 13.0.2-*');
  });

  it("installs NVIDIA's branch-named DKMS packages before 590 and refuses Ubuntu's same-named builds", async () => {
    const resolved = await resolve('nvidia-580', mutateManifest(DEMO_SPEC_PATH, [[['layers', 'driver', 'source'], 'nvidia']]));

    expect(resolved.set).toBe('nvidia-ubuntu-branched');
    expect(resolved.packages).toEqual(['nvidia-driver-580-open', 'nvidia-dkms-580-open']);
    expect(resolved.preferences).toContain('Pin: release o=Ubuntu\nPin-Priority: -1');
    expect(resolved.patterns[0]).toBe('/^(lib)?nvidia-.*-580(-|$)/');
  });

  it("installs NVIDIA's branch-less packages from 590 on, with the pinning package for the exact version", async () => {
    const resolved = await resolve(
      'nvidia-595',
      mutateManifest(DEMO_SPEC_PATH, [
        [['layers', 'driver', 'source'], 'nvidia'],
        [['layers', 'driver', 'nvidia_driver'], '595.71.05'],
      ]),
    );

    expect(resolved.set).toBe('nvidia-ubuntu-unbranched');
    expect(resolved.packages).toEqual(['nvidia-open']);
    expect(resolved.pinning).toBe('nvidia-driver-pinning-595.71.05');
    expect(resolved.preferences).toContain('Pin: version 595.71.05-*');
    expect(resolved.preferences).toMatch(/Package: .*\/\^nvidia-\(open\|driver\|/);
  });

  it("uses NVIDIA's Debian names (never branch-named) for local-dev and refuses Debian's own nvidia packages", async () => {
    const resolved = await resolve('local-dev', mutateManifest(LOCAL_DEV_SPEC_PATH, []));

    expect(resolved.set).toBe('nvidia-debian-unbranched');
    expect(resolved.packages).toEqual(['nvidia-open']);
    expect(resolved.pinning).toBe('nvidia-driver-pinning-580.95.05');
    expect(resolved.preferences).toContain('Pin: release o=Debian\nPin-Priority: -1');
  });

  it("takes the proprietary flavour's packages from the same data", async () => {
    const resolved = await resolve(
      'proprietary',
      mutateManifest(DEMO_SPEC_PATH, [
        [['hardware', 'gpu', 'model'], 'rtx-4090'],
        // The demo box's memory gate is the RTX 5090's; a 4090 has 24 GiB.
        [['layers', 'driver', 'gate', 'min_memory_mib'], 24000],
        [['layers', 'driver', 'kernel_module'], 'proprietary'],
      ]),
    );

    expect(resolved.packages).toEqual(['nvidia-driver-580-server', 'linux-modules-nvidia-580-server-generic']);
  });

  it("fails before installing, naming every driver package the sources lack at the spec's version (real apt-cache madison)", async () => {
    // This machine's apt sources are Debian's, without NVIDIA's repository: the check must fail and say what is missing.
    const dir = join(work.dir, 'lookup');
    await renderSpecInto(dir, mutateManifest(LOCAL_DEV_SPEC_PATH, []));
    const playbook = [
      ...localPlayHead("Run the driver role's package check here, read-only (apt-cache madison)", [`${DRIVER_ROLE}/defaults/main.yml`, `${dir}/rendered/driver/vars.yml`]),
      '    - name: The role\'s check',
      `      ansible.builtin.include_tasks: ${DRIVER_ROLE}/tasks/check-packages.yml`,
    ];

    const run = await runLocalPlay(dir, playbook, { reject: false });

    expect(run.exitCode).not.toBe(0);
    expect(run.all).toContain('apt has no nvidia-driver-pinning-580.95.05, nvidia-open at driver 580.95.05 in the configured sources.');
    expect(run.all).toContain('nvidia_driver_source nvidia installs from https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/');
  });

  it("refuses the mirror's host, not NVIDIA's, when the spec names a mirror (apt matches the host without its port)", async () => {
    const resolved = await resolve(
      'mirror',
      mutateManifest(DEMO_SPEC_PATH, [[['layers', 'driver', 'repository'], { url: 'http://10.0.2.2:8765/compute/cuda/repos/ubuntu2404/x86_64/' }]]),
    );

    expect(resolved.preferences).toContain('Pin: origin "10.0.2.2"\nPin-Priority: -1');
  });
});
