import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import {
  containerToolkitPackages,
  cudaKeyringPackage,
  cudaPackages,
  cudnnPackages,
  debianDriverPackages,
  MIRROR_VERSIONS,
  nvidiaUbuntuBranchedExtras,
  REVISION,
  ubuntuBranchedDriverPackages,
  ubuntuKernelModulePackages,
  ubuntuUnbranchedDriverPackages,
  type KernelModuleLicense,
  type MirrorKeyName,
  type StandInPackage,
  type StandInPrograms,
  type StandInRepo,
} from './apt-packages.js';
import {
  MODULE_REMOVE_PRERM,
  NVIDIA_CONTAINER_RUNTIME,
  NVIDIA_PERSISTENCED,
  NVIDIA_SMI,
  alternativePostinst,
  alternativePrerm,
  moduleInstallPostinst,
  nvccScript,
  nvidiaContainerCliScript,
  nvidiaCtkScript,
} from './stand-in-programs.js';

/** Where each repository lies under the mirror's web root, in NVIDIA's and Canonical's URL layout. */
export const APT_MIRROR_PATHS = {
  debian12: 'compute/cuda/repos/debian12/x86_64',
  ubuntu2404: 'compute/cuda/repos/ubuntu2404/x86_64',
  /** A dists/ layout: `deb URL/ubuntu noble-updates restricted`. */
  ubuntuArchive: 'ubuntu',
  containerToolkit: 'libnvidia-container/stable/deb/amd64',
  containerToolkitGpgKey: 'libnvidia-container/gpgkey',
  containerToolkitList: 'libnvidia-container/stable/deb/nvidia-container-toolkit.list',
  /** A flat repository signed by the `other` key, which no source trusts: apt must refuse it. */
  wrongKey: 'bad/wrong-key',
  /** Binary keyrings of the four keys, for `signed-by=` on the host (the guest gets them as NVIDIA's users do). */
  keyrings: 'keyrings',
} as const;

export const UBUNTU_ARCHIVE_SUITE = { suite: 'noble-updates', component: 'restricted' } as const;

/** Every stand-in's Maintainer: no stand-in can be taken for a vendor's package. */
export const STAND_IN_MAINTAINER = 'imagebuild test stand-in <stand-in@imagebuild.invalid>';

export type AptMirror = {
  /** The web root everything was written under. */
  readonly dir: string;
  /** The base URL baked into what the guest installs (cuda-keyring's sources entry, the toolkit's .list). */
  readonly guestUrl: string;
  /** Absolute paths of the binary keyrings (cuda, container, ubuntu, other) for `signed-by=`. */
  readonly keyrings: Readonly<Record<MirrorKeyName, string>>;
  readonly fingerprints: Readonly<Record<MirrorKeyName, string>>;
  /** Every repository with the packages it holds (paths relative to `dir`). */
  readonly repos: readonly StandInRepo[];
};

const PROGRAMS: StandInPrograms = {
  postinst: moduleInstallPostinst,
  prerm: MODULE_REMOVE_PRERM,
  nvidiaSmi: NVIDIA_SMI,
  nvidiaPersistenced: NVIDIA_PERSISTENCED,
  nvcc: nvccScript(MIRROR_VERSIONS.cuda.release, MIRROR_VERSIONS.cuda.nvcc),
  alternativePostinst,
  alternativePrerm,
  nvidiaCtk: nvidiaCtkScript,
  nvidiaContainerCli: nvidiaContainerCliScript,
  nvidiaContainerRuntime: NVIDIA_CONTAINER_RUNTIME,
};

const KEY_UIDS: Readonly<Record<MirrorKeyName, string>> = {
  cuda: 'imagebuild stand-in CUDA repository <cuda@imagebuild.invalid>',
  container: 'imagebuild stand-in Container Toolkit repository <container@imagebuild.invalid>',
  ubuntu: 'imagebuild stand-in Ubuntu archive <ubuntu@imagebuild.invalid>',
  other: 'imagebuild stand-in stranger <other@imagebuild.invalid>',
};
const KEY_NAMES = Object.keys(KEY_UIDS) as MirrorKeyName[];

/**
 * Builds NVIDIA's and Canonical's apt repositories with stand-in packages under `dir` (the web root), signed with
 * keys made for this run in a throwaway GNUPGHOME whose agent is stopped before returning. Test-only.
 */
export async function buildAptMirror(options: { dir: string; guestUrl: string }): Promise<AptMirror> {
  const { dir, guestUrl } = options;
  // A short path: gpg-agent's socket lives in GNUPGHOME and sockets have a 108-byte path limit.
  const gnupgHome = await mkdtemp(join(tmpdir(), 'ib-gpg-'));
  const work = await mkdtemp(join(tmpdir(), 'ib-apt-mirror-'));
  const env = { GNUPGHOME: gnupgHome };
  try {
    await chmod(gnupgHome, 0o700);
    const fingerprints = await generateKeys(env);
    const keyrings = await exportKeyrings(dir, fingerprints, env);
    const cudaKeyring = await readFile(keyrings.cuda);
    const repos = planRepos(guestUrl, cudaKeyring);
    const modules = await buildKernelModules(work, repos);
    const built = new Map<string, Promise<string>>();
    for (const repo of repos) {
      await buildRepo(dir, repo, { modules, work, built });
      await indexRepo(join(dir, repo.path), repo, fingerprints[repo.key], env);
    }
    await writePublicFiles(dir, guestUrl, fingerprints, env);
    return { dir, guestUrl, keyrings, fingerprints, repos };
  } finally {
    // gpg leaves an agent running per GNUPGHOME; it must not outlive the run.
    await execa('gpgconf', ['--kill', 'gpg-agent'], { env, reject: false });
    await rm(gnupgHome, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  }
}

/** The repositories and what each holds; the newer versions are there so the role's pins have something to refuse. */
function planRepos(guestUrl: string, cudaKeyring: Uint8Array): StandInRepo[] {
  const nvidia = { origin: 'NVIDIA', label: 'NVIDIA CUDA', key: 'cuda', layout: { kind: 'flat' } } as const;
  const toolkit = [...cudaPackages(PROGRAMS), ...cudnnPackages()];
  const ubuntuBranched = MIRROR_VERSIONS.nvidia580.flatMap((v) => {
    const driver = ubuntuBranchedDriverPackages('580', v, REVISION.nvidiaUbuntu, '', PROGRAMS);
    return [...driver, ...nvidiaUbuntuBranchedExtras('580', v, driver.map((p) => p.name))];
  });
  return [
    {
      ...nvidia,
      path: APT_MIRROR_PATHS.debian12,
      packages: [
        cudaKeyringPackage('debian12', `${guestUrl}/${APT_MIRROR_PATHS.debian12}/`, cudaKeyring),
        ...MIRROR_VERSIONS.nvidia580.flatMap((v) => debianDriverPackages(v, PROGRAMS)),
        ...toolkit,
      ],
    },
    {
      ...nvidia,
      path: APT_MIRROR_PATHS.ubuntu2404,
      packages: [
        cudaKeyringPackage('ubuntu2404', `${guestUrl}/${APT_MIRROR_PATHS.ubuntu2404}/`, cudaKeyring),
        ...ubuntuBranched,
        ...MIRROR_VERSIONS.nvidia590.flatMap((v) => ubuntuUnbranchedDriverPackages(v, PROGRAMS)),
        ...toolkit,
      ],
    },
    {
      path: APT_MIRROR_PATHS.ubuntuArchive,
      layout: { kind: 'dists', ...UBUNTU_ARCHIVE_SUITE },
      origin: 'Ubuntu',
      label: 'Ubuntu',
      key: 'ubuntu',
      packages: [
        ...MIRROR_VERSIONS.ubuntuServer580.flatMap((v) => ubuntuBranchedDriverPackages('580', v, REVISION.ubuntuArchive, '-server', PROGRAMS)),
        ...MIRROR_VERSIONS.ubuntuArchive580.flatMap((v) => ubuntuBranchedDriverPackages('580', v, REVISION.ubuntuArchive, '', PROGRAMS)),
        ...ubuntuKernelModulePackages('580', MIRROR_VERSIONS.ubuntuServer580[0], PROGRAMS),
      ],
    },
    {
      path: APT_MIRROR_PATHS.containerToolkit,
      layout: { kind: 'flat' },
      origin: 'NVIDIA',
      label: 'libnvidia-container',
      key: 'container',
      packages: MIRROR_VERSIONS.containerToolkit.flatMap((v) => containerToolkitPackages(v, PROGRAMS)),
    },
    { ...nvidia, path: APT_MIRROR_PATHS.wrongKey, key: 'other', packages: cudaPackages(PROGRAMS) },
  ];
}

async function gpg(args: readonly string[], env: Record<string, string>): Promise<string> {
  const { stdout } = await execa('gpg', ['--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { env });
  return stdout;
}

async function generateKeys(env: Record<string, string>): Promise<Record<MirrorKeyName, string>> {
  const fingerprints: Partial<Record<MirrorKeyName, string>> = {};
  for (const name of KEY_NAMES) {
    // ed25519: made in milliseconds, where RSA-4096 (NVIDIA's) takes seconds per key; apt's gpgv checks either.
    await gpg(['--quick-gen-key', KEY_UIDS[name], 'ed25519', 'sign', '2d'], env);
    const listing = await gpg(['--with-colons', '--list-keys', `=${KEY_UIDS[name]}`], env);
    const fingerprint = /^fpr:(?:[^:]*:){8}([0-9A-F]{40}):/m.exec(listing)?.[1];
    if (!fingerprint) throw new Error(`gpg made no key for ${KEY_UIDS[name]}:\n${listing}`);
    fingerprints[name] = fingerprint;
  }
  return fingerprints as Record<MirrorKeyName, string>;
}

async function exportKeyrings(dir: string, fingerprints: Record<MirrorKeyName, string>, env: Record<string, string>): Promise<Record<MirrorKeyName, string>> {
  const keyrings: Partial<Record<MirrorKeyName, string>> = {};
  await mkdir(join(dir, APT_MIRROR_PATHS.keyrings), { recursive: true });
  for (const name of KEY_NAMES) {
    const path = join(dir, APT_MIRROR_PATHS.keyrings, `${name}.gpg`);
    await gpg(['--yes', '--output', path, '--export', fingerprints[name]], env);
    keyrings[name] = path;
  }
  return keyrings as Record<MirrorKeyName, string>;
}

/** The armored keys and the toolkit's .list at the URLs NVIDIA publishes them under. */
async function writePublicFiles(dir: string, guestUrl: string, fingerprints: Record<MirrorKeyName, string>, env: Record<string, string>): Promise<void> {
  const cudaPub = join(dir, APT_MIRROR_PATHS.debian12, `${fingerprints.cuda.slice(-8).toLowerCase()}.pub`);
  await gpg(['--yes', '--armor', '--output', cudaPub, '--export', fingerprints.cuda], env);
  await copyFile(cudaPub, join(dir, APT_MIRROR_PATHS.ubuntu2404, `${fingerprints.cuda.slice(-8).toLowerCase()}.pub`));
  await gpg(['--yes', '--armor', '--output', join(dir, APT_MIRROR_PATHS.containerToolkitGpgKey), '--export', fingerprints.container], env);
  // As NVIDIA ships it: no signed-by (their install guide seds it in), apt expands the literal $(ARCH).
  const base = `${guestUrl}/${dirname(APT_MIRROR_PATHS.containerToolkit)}`;
  await writeFile(join(dir, APT_MIRROR_PATHS.containerToolkitList), `deb ${base}/$(ARCH) /\n#deb ${guestUrl}/libnvidia-container/experimental/deb/$(ARCH) /\n`);
}

function moduleKey(version: string, license: KernelModuleLicense): string {
  return `${version}|${license}`;
}

/**
 * One stand-in nvidia.ko per driver version and licence: a tiny ELF object with a .modinfo section, which is all
 * modinfo and depmod read. It holds no code; loading it fails, as the real module's load fails without a GPU.
 */
async function buildKernelModules(work: string, repos: readonly StandInRepo[]): Promise<ReadonlyMap<string, string>> {
  const source = join(work, 'stand-in.c');
  const object = join(work, 'stand-in.o');
  await writeFile(source, 'int imagebuild_stand_in_module;\n');
  await execa('gcc', ['-c', '-o', object, source]);
  const modules = new Map<string, string>();
  for (const file of repos.flatMap((r) => r.packages.flatMap((p) => p.files ?? []))) {
    if (!('kernelModule' in file)) continue;
    const { version, license } = file.kernelModule;
    const key = moduleKey(version, license);
    if (modules.has(key)) continue;
    const path = join(work, `nvidia-${modules.size}.ko`);
    const info = join(work, `modinfo-${modules.size}`);
    const fields = [`version=${version}`, `license=${license}`, 'description=NVIDIA kernel module (imagebuild test stand-in)', 'author=imagebuild test stand-in', 'name=nvidia'];
    await writeFile(info, fields.map((f) => `${f}\0`).join(''));
    await execa('objcopy', ['--add-section', `.modinfo=${info}`, '--set-section-flags', '.modinfo=alloc,readonly', object, path]);
    modules.set(key, path);
  }
  return modules;
}

type DebBuild = {
  readonly modules: ReadonlyMap<string, string>;
  readonly work: string;
  /** .debs already built, by file name and content: the CUDA and cuDNN packages are in several repositories. */
  readonly built: Map<string, Promise<string>>;
};

async function buildRepo(dir: string, repo: StandInRepo, build: DebBuild): Promise<void> {
  const out = repo.layout.kind === 'flat' ? join(dir, repo.path) : join(dir, repo.path, 'pool', repo.layout.component);
  await mkdir(out, { recursive: true });
  const pending = [...repo.packages];
  // A few at a time: dpkg-deb is a process per package and CI has two cores.
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let next = pending.shift(); next; next = pending.shift()) await placeDeb(next, out, build);
    }),
  );
}

async function placeDeb(pkg: StandInPackage, out: string, build: DebBuild): Promise<void> {
  const file = `${pkg.name}_${pkg.version}_${pkg.architecture}.deb`;
  const key = `${file} ${JSON.stringify(pkg, (_, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value))}`;
  let deb = build.built.get(key);
  if (!deb) {
    deb = buildDeb(pkg, join(out, file), build);
    build.built.set(key, deb);
  }
  const path = await deb;
  if (path !== join(out, file)) await copyFile(path, join(out, file));
}

async function buildDeb(pkg: StandInPackage, deb: string, { modules, work }: DebBuild): Promise<string> {
  const stage = await mkdtemp(join(work, 'stage-'));
  // mkdtemp makes 0700, which the .deb would ship as the mode of /.
  await chmod(stage, 0o755);
  let size = 0;
  for (const file of pkg.files ?? []) {
    const target = join(stage, file.path);
    await mkdir(dirname(target), { recursive: true });
    if ('kernelModule' in file) {
      const built = modules.get(moduleKey(file.kernelModule.version, file.kernelModule.license));
      if (!built) throw new Error(`no stand-in module for ${pkg.name}`);
      await copyFile(built, target);
    } else {
      await writeFile(target, 'text' in file ? file.text : file.bytes);
    }
    await chmod(target, 'text' in file && file.mode !== undefined ? file.mode : 0o644);
    size += (await readFile(target)).length;
  }
  await mkdir(join(stage, 'DEBIAN'));
  await writeFile(join(stage, 'DEBIAN/control'), controlFile(pkg, Math.ceil(size / 1024)));
  if (pkg.conffiles?.length) await writeFile(join(stage, 'DEBIAN/conffiles'), `${pkg.conffiles.join('\n')}\n`);
  for (const [script, text] of [['postinst', pkg.postinst], ['prerm', pkg.prerm]] as const) {
    if (text === undefined) continue;
    await writeFile(join(stage, 'DEBIAN', script), text);
    await chmod(join(stage, 'DEBIAN', script), 0o755);
  }
  await execa('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', stage, deb]);
  await rm(stage, { recursive: true, force: true });
  return deb;
}

function controlFile(pkg: StandInPackage, installedKiB: number): string {
  return [
    `Package: ${pkg.name}`,
    `Version: ${pkg.version}`,
    `Architecture: ${pkg.architecture}`,
    `Maintainer: ${STAND_IN_MAINTAINER}`,
    `Installed-Size: ${installedKiB}`,
    ...(pkg.depends?.length ? [`Depends: ${pkg.depends.join(', ')}`] : []),
    'Section: misc',
    'Priority: optional',
    'X-Imagebuild-Stand-In: yes',
    `Description: ${pkg.summary} (imagebuild test stand-in)`,
    " Stand-in made by imagebuild's tests (test/vendor-mirror): the vendor package's name, version and",
    ' dependencies with none of its contents. It must never reach a real image.',
    '',
  ].join('\n');
}

/** Packages, Release, InRelease and Release.gpg, as apt-ftparchive and gpg make them for a flat or dists/ layout. */
async function indexRepo(root: string, repo: StandInRepo, fingerprint: string, env: Record<string, string>): Promise<void> {
  const release = ['-o', `APT::FTPArchive::Release::Origin=${repo.origin}`, '-o', `APT::FTPArchive::Release::Label=${repo.label}`, '-o', 'APT::FTPArchive::Release::Architectures=amd64'];
  let releaseDir = root;
  if (repo.layout.kind === 'flat') {
    // "Filename: ./x.deb", as in NVIDIA's flat repositories.
    const { stdout } = await execa('apt-ftparchive', ['packages', '.'], { cwd: root });
    await writeFile(join(root, 'Packages'), `${stdout}\n`);
    await execa('gzip', ['-9nkf', 'Packages'], { cwd: root });
    release.push('release', '.');
  } else {
    const { suite, component } = repo.layout;
    const binary = join(root, 'dists', suite, component, 'binary-amd64');
    await mkdir(binary, { recursive: true });
    const { stdout } = await execa('apt-ftparchive', ['packages', `pool/${component}`], { cwd: root });
    await writeFile(join(binary, 'Packages'), `${stdout}\n`);
    await execa('gzip', ['-9nkf', 'Packages'], { cwd: binary });
    releaseDir = join(root, 'dists', suite);
    release.push('-o', `APT::FTPArchive::Release::Suite=${suite}`, '-o', `APT::FTPArchive::Release::Codename=${suite.split('-')[0] ?? suite}`);
    release.push('-o', `APT::FTPArchive::Release::Components=${component}`, 'release', '.');
  }
  // Written beside, then moved in: apt-ftparchive would otherwise list its own half-written Release.
  const { stdout } = await execa('apt-ftparchive', release, { cwd: releaseDir });
  await writeFile(join(releaseDir, '..', `.Release-${repo.key}.tmp`), `${stdout}\n`);
  await rename(join(releaseDir, '..', `.Release-${repo.key}.tmp`), join(releaseDir, 'Release'));
  await gpg(['--yes', '--local-user', fingerprint, '--clearsign', '--output', join(releaseDir, 'InRelease'), join(releaseDir, 'Release')], env);
  await gpg(['--yes', '--local-user', fingerprint, '--detach-sign', '--armor', '--output', join(releaseDir, 'Release.gpg'), join(releaseDir, 'Release')], env);
}
