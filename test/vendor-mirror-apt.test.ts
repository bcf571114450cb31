import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveDriverRoleData, resolveRuntimeRoleData, type DriverRoleData } from './helpers/role-data.js';
import { requireTools } from './helpers/require-tools.js';
import { DEMO_SPEC_PATH, LOCAL_DEV_SPEC_PATH, mutateManifest, type ManifestChanges } from './helpers/spec-builders.js';
import { makeTempDir, type TempDir } from './helpers/temp-dir.js';
import { APT_MIRROR_PATHS, UBUNTU_ARCHIVE_SUITE, buildAptMirror, type AptMirror } from './vendor-mirror/apt-mirror.js';
import { MIRROR_VERSIONS } from './vendor-mirror/apt-packages.js';
import { makeIsolatedApt, type IsolatedApt } from './vendor-mirror/isolated-apt.js';
import { serveMirror, type ServedMirror } from './vendor-mirror/serve-mirror.js';

// The stand-in apt mirror against the roles' own package data, with the real apt (no VM): the roles' Debian and
// Ubuntu package names, apt version patterns and pins are resolved by ansible-playbook from rendered specs, and apt
// must find every name in the mirror's signed index, choose the spec's version over the newer one, and hold every
// package it would install with one of the role's pins. Neither name map can rot unseen.
const hasTools = requireTools('test/vendor-mirror-apt.test.ts', 'apt-ftparchive', 'gpg', 'gpgconf', 'dpkg-deb', 'objcopy', 'gcc', 'ansible-playbook', 'apt-get');

type DriverCase = {
  readonly name: string;
  readonly spec: string;
  readonly changes: ManifestChanges;
  readonly repo: string;
  readonly set: string;
  readonly driver: string;
  /** The revision apt must choose: NVIDIA's or Canonical's build. */
  readonly revision: RegExp;
  /** The other source's same-named build of the top package, which the role's origin pin must refuse (-1). */
  readonly refused?: string;
};

const DRIVER_CASES: readonly DriverCase[] = [
  { name: 'debian-nvidia', spec: LOCAL_DEV_SPEC_PATH, changes: [], repo: APT_MIRROR_PATHS.debian12, set: 'nvidia-debian-unbranched', driver: MIRROR_VERSIONS.nvidia580[0], revision: /-1$/ },
  {
    name: 'ubuntu-nvidia-580',
    spec: DEMO_SPEC_PATH,
    changes: [[['layers', 'driver', 'source'], 'nvidia'], [['layers', 'driver', 'nvidia_driver'], MIRROR_VERSIONS.nvidia580[0]]],
    repo: APT_MIRROR_PATHS.ubuntu2404,
    set: 'nvidia-ubuntu-branched',
    driver: MIRROR_VERSIONS.nvidia580[0],
    revision: /-0ubuntu1$/,
    refused: `${MIRROR_VERSIONS.nvidia580[0]}-0ubuntu0.24.04.1`,
  },
  {
    name: 'ubuntu-nvidia-590',
    spec: DEMO_SPEC_PATH,
    changes: [[['layers', 'driver', 'source'], 'nvidia'], [['layers', 'driver', 'nvidia_driver'], MIRROR_VERSIONS.nvidia590[0]]],
    repo: APT_MIRROR_PATHS.ubuntu2404,
    set: 'nvidia-ubuntu-unbranched',
    driver: MIRROR_VERSIONS.nvidia590[0],
    revision: /-0ubuntu1$/,
  },
  { name: 'ubuntu-ubuntu', spec: DEMO_SPEC_PATH, changes: [], repo: APT_MIRROR_PATHS.ubuntu2404, set: 'ubuntu-ubuntu-branched', driver: MIRROR_VERSIONS.ubuntuServer580[0], revision: /-0ubuntu0\.24\.04\.1$/ },
];

/** An apt version pattern as the role gives it to the apt module (`580.95.05-*`, `9.28.1.*`) as a RegExp. */
function versionPattern(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\?]/g, '\\$&').replace(/\*/g, '.*')}$`);
}

/** Packages that carry a version of their own, which no driver-version pin can hold (the role says so too). */
function ownVersioned(name: string, role: DriverRoleData): boolean {
  // The pinning package names the version; Canonical's module metapackages follow the kernel's version; the CUDA
  // toolkit's components are series-named (-13-0) with their own versions (nvcc 13.0.88).
  return name === role.pinning || name.startsWith('linux-modules-') || (name !== role.cudaPackage && /^cuda-.*(-13-0|config-common)$/.test(name));
}

describe.skipIf(!hasTools)('stand-in NVIDIA apt mirror against the roles (real ansible-playbook, real apt)', { timeout: 120_000 }, () => {
  let work: TempDir;
  let mirror: AptMirror;
  let served: ServedMirror;

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-apt-mirror-');
    mirror = await buildAptMirror({ dir: join(work.dir, 'www'), guestUrl: 'http://10.0.2.2:8765' });
    served = await serveMirror(mirror.dir);
  }, 120_000);
  afterAll(async () => {
    await served?.stop();
    await work?.cleanup();
  });

  /** NVIDIA's repositories on 127.0.0.1, Canonical's archive on localhost: apt's origin pins tell them apart by host. */
  function sources(repo: string): string[] {
    const port = served.port;
    return [
      `deb [signed-by=${mirror.keyrings.cuda}] http://127.0.0.1:${port}/${repo}/ /`,
      `deb [signed-by=${mirror.keyrings.ubuntu}] http://localhost:${port}/${APT_MIRROR_PATHS.ubuntuArchive} ${UBUNTU_ARCHIVE_SUITE.suite} ${UBUNTU_ARCHIVE_SUITE.component}`,
    ];
  }

  async function updatedApt(name: string, aptSources: readonly string[], preferences: Record<string, string>): Promise<IsolatedApt> {
    const apt = await makeIsolatedApt(join(work.dir, 'apt', name), { sources: aptSources, preferences });
    const update = await apt.aptGet(['update']);
    expect(update.exitCode, update.stderr).toBe(0);
    expect(update.stderr).not.toMatch(/^[WE]:/m);
    return apt;
  }

  for (const driverCase of DRIVER_CASES) {
    it(`${driverCase.name}: the role's packages resolve at the spec's version, each one held by the role's pins`, async () => {
      const specText = mutateManifest(driverCase.spec, [
        ...driverCase.changes,
        [['layers', 'driver', 'repository'], { url: `http://127.0.0.1:${served.port}/${driverCase.repo}/` }],
      ]);
      const role = await resolveDriverRoleData(join(work.dir, 'roles', driverCase.name), specText);
      const apt = await updatedApt(driverCase.name, sources(driverCase.repo), { 'imagebuild-nvidia': role.preferences });
      const requested = [
        ...role.packages.map((name) => ({ name, glob: name.startsWith('linux-modules-') ? undefined : role.aptVersion })),
        { name: role.cudaPackage, glob: role.cudaAptVersion },
        ...role.cudnnPackages.map((name) => ({ name, glob: role.cudnnAptVersion })),
      ];
      const names = [...(role.pinning ? [role.pinning] : []), ...requested.map((r) => r.name)];

      // The apt module turns name=glob into the matching version: here, the candidate under the role's pins.
      const wanted = await apt.policy(names);
      const specs = names.map((name) => {
        const glob = requested.find((r) => r.name === name)?.glob;
        return glob ? `${name}=${wanted.get(name)?.candidate ?? ''}` : name;
      });
      const { run, installs } = await apt.simulateInstall(specs);
      const held = await apt.policy([...installs.keys()]);

      expect(role.set).toBe(driverCase.set);
      for (const { name, glob } of requested) {
        expect(wanted.get(name)?.candidate, `${name}: no candidate in the mirror`).toMatch(glob ? versionPattern(glob) : /./);
      }
      const top = wanted.get(role.packages[0] ?? '');
      expect(top?.candidate).toMatch(driverCase.revision);
      if (driverCase.refused) expect(top?.versions.find((v) => v.version === driverCase.refused)?.priority).toBe(-1);
      // The mirror has a newer driver than the spec's: the pins, not the mirror, chose the version.
      expect(top?.versions.some((v) => !v.version.startsWith(`${driverCase.driver}-`))).toBe(true);
      expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(installs.size).toBeGreaterThan(requested.length);
      const unheld = [...installs].filter(([name, version]) => !ownVersioned(name, role) && held.get(name)?.versions.find((v) => v.version === version)?.priority !== 1001);
      expect(unheld, "packages apt would install that none of the role's pins hold").toEqual([]);
      const driverPackages = [...installs].filter(([name]) => !ownVersioned(name, role) && name !== role.cudaPackage && !role.cudnnPackages.includes(name));
      expect(driverPackages.filter(([, version]) => !version.startsWith(`${driverCase.driver}-`) || !driverCase.revision.test(version))).toEqual([]);
      // The role's own arguments, globs and all, as its list refresh simulates them against this repository alone.
      const own = await apt.simulateInstall(role.specs);
      expect(own.run.exitCode, own.run.stderr).toBe(0);
      expect(new Map(own.installs)).toEqual(new Map(installs));
    });
  }

  it("installs the Container Toolkit's packages at the spec's version from the libnvidia-container repository, held by the role's pin", async () => {
    const specText = mutateManifest(LOCAL_DEV_SPEC_PATH, [
      [['layers', 'runtime', 'repository'], { url: `http://127.0.0.1:${served.port}/libnvidia-container/stable/deb/$(ARCH)`, gpgkey_url: `http://127.0.0.1:${served.port}/${APT_MIRROR_PATHS.containerToolkitGpgKey}` }],
    ]);
    const role = await resolveRuntimeRoleData(join(work.dir, 'roles', 'runtime'), specText);
    // The role's keyring is the armored key as served (an .asc for signed-by=), fetched from its gpgkey URL.
    const keyring = join(work.dir, 'nvidia-container-toolkit.asc');
    await writeFile(keyring, await (await fetch(role.gpgkeyUrl)).text());
    const apt = await updatedApt('runtime', [`deb [signed-by=${keyring}] ${role.repoLine}`], { 'imagebuild-nvidia-container-toolkit': role.preferences });

    const wanted = await apt.policy(role.packages);
    const { run, installs } = await apt.simulateInstall(role.packages.map((name) => `${name}=${wanted.get(name)?.candidate ?? ''}`));
    const held = await apt.policy([...installs.keys()]);

    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect([...installs.keys()].sort()).toEqual([...role.packages].sort());
    for (const [name, version] of installs) {
      expect(version, name).toMatch(versionPattern(role.aptVersion));
      expect(held.get(name)?.versions.find((v) => v.version === version)?.priority, name).toBe(1001);
    }
    expect(wanted.get('nvidia-container-toolkit')?.versions.map((v) => v.version).sort()).toEqual(['1.17.8-1', '1.20.0-1']);
    const own = await apt.simulateInstall(role.specs);
    expect(own.run.exitCode, own.run.stderr).toBe(0);
    expect(new Map(own.installs)).toEqual(new Map(installs));
    expect(await readFile(join(mirror.dir, APT_MIRROR_PATHS.containerToolkitList), 'utf8')).toContain(
      `deb ${mirror.guestUrl}/libnvidia-container/stable/deb/$(ARCH) /`,
    );
  });

  it('refuses a repository signed by a key no source trusts (apt exits 100)', async () => {
    const apt = await makeIsolatedApt(join(work.dir, 'apt', 'wrong-key'), {
      sources: [`deb [signed-by=${mirror.keyrings.cuda}] http://127.0.0.1:${served.port}/${APT_MIRROR_PATHS.wrongKey}/ /`],
    });

    const update = await apt.aptGet(['update']);
    const policy = await apt.policy(['cuda-toolkit-13-0']);

    expect(update.exitCode).toBe(100);
    expect(`${update.stdout}\n${update.stderr}`).toMatch(/NO_PUBKEY|not signed/);
    expect(policy.get('cuda-toolkit-13-0')?.versions ?? []).toEqual([]);
  });
});
