import { join } from 'node:path';

/** A registered layer's record, in its directory under layers/ (and in a pulled copy's staging directory). */
export const CACHE_ENTRY_FILE = 'entry.json';

/**
 * Where everything lives under a spec's cache directory. The one owner of the cache's layout: every
 * other module asks it for a path instead of joining names of its own.
 */
export type CacheLayout = {
  readonly root: string;
  /** The lock file one build, prune or rollback holds at a time. */
  readonly lock: string;
  /** Registered layers, one directory per key; dot-named entries are staging and are skipped by readers. */
  readonly layers: string;
  readonly bootstrap: string;
  /** Failed layers kept for debugging; never used as parents. */
  readonly failed: string;
  /** One directory per build run (logs, reports, rendered files, work). */
  readonly builds: string;
  /** The qemu-img shim Packer 1.6 needs (it omits -F on backing files). */
  readonly shim: string;
  readonly keys: string;
  readonly buildKey: string;
  /** The key the verification boot logs in with as the spec's verify_login user (its public half is in the image). */
  readonly verifyKey: string;
  /** The KVM probe's verdict for the host's current boot. */
  readonly kvmProbe: string;
  /** Host-side pip wheelhouses, one directory per key (a hash of what they hold); dot-named entries are staging. */
  readonly wheelhouses: string;
  /** Host-side container images, one directory per image (its manifest digest); dot-named entries are staging. */
  readonly images: string;
  /** The build's apt cache (apt-cacher-ng's package pool, logs and generated config), kept across builds. */
  readonly aptCache: string;
  /** `<cache>/layers/<key>/`: a registered layer's entry.json, layer.qcow2 and reports. */
  layerDir(key: string): string;
  layerImage(key: string): string;
  layerEntry(key: string): string;
  /** A dot-named sibling of a layer directory for staging, dropping or pulling it (pid-named: one owner). */
  layerScratch(purpose: 'staging' | 'drop' | 'pull', key: string, pid: number): string;
  bootstrapDir(key: string): string;
  bootstrapImage(key: string): string;
  bootstrapRecord(key: string): string;
  /** The kernel the bootstrap extracted, which the KVM probe boots. */
  bootstrapKernel(key: string): string;
  bootstrapScratch(key: string, pid: number): string;
  bootstrapPull(key: string, pid: number): string;
  buildDir(stamp: string, version: string): string;
  /** `<cache>/wheelhouses/<key>/`: a filled wheelhouse (its record, lock files and wheels/). */
  wheelhouseDir(key: string): string;
  /** A dot-named sibling of a wheelhouse directory for filling or dropping it (pid-named: one owner). */
  wheelhouseScratch(purpose: 'staging' | 'drop', key: string, pid: number): string;
  /** `<cache>/images/<digest hex>/`: one saved image (image.tar, a docker-archive, and image.json). */
  imageDir(digestHex: string): string;
  /** A dot-named sibling of an image directory for filling or dropping it (pid-named: one owner). */
  imageScratch(purpose: 'staging' | 'drop', digestHex: string, pid: number): string;
  /** A failed layer's directory under failed/, by its name there. */
  failedDir(name: string): string;
  /** A build run's directory under builds/, by its name there. */
  buildRunDir(name: string): string;
};

/** The layout of the cache directory `cacheDir`. */
export function cacheLayout(cacheDir: string): CacheLayout {
  const layers = join(cacheDir, 'layers');
  const bootstrap = join(cacheDir, 'bootstrap');
  const keys = join(cacheDir, 'keys');
  const wheelhouses = join(cacheDir, 'wheelhouses');
  const images = join(cacheDir, 'images');
  const layerDir = (key: string) => join(layers, key);
  const bootstrapDir = (key: string) => join(bootstrap, key);
  return {
    root: cacheDir,
    lock: join(cacheDir, 'lock'),
    layers,
    bootstrap,
    failed: join(cacheDir, 'failed'),
    builds: join(cacheDir, 'builds'),
    shim: join(cacheDir, 'shim'),
    keys,
    buildKey: join(keys, 'build_ed25519'),
    verifyKey: join(keys, 'verify_ed25519'),
    kvmProbe: join(cacheDir, 'kvm-probe.json'),
    wheelhouses,
    images,
    aptCache: join(cacheDir, 'apt-cache'),
    layerDir,
    layerImage: (key) => join(layerDir(key), 'layer.qcow2'),
    layerEntry: (key) => join(layerDir(key), CACHE_ENTRY_FILE),
    layerScratch: (purpose, key, pid) => join(layers, `.${purpose}-${key.slice(0, 16)}-${pid}`),
    bootstrapDir,
    bootstrapImage: (key) => join(bootstrapDir(key), 'base.qcow2'),
    bootstrapRecord: (key) => join(bootstrapDir(key), 'bootstrap.json'),
    bootstrapKernel: (key) => join(bootstrapDir(key), 'vmlinuz'),
    bootstrapScratch: (key, pid) => `${bootstrapDir(key)}.staging-${pid}`,
    bootstrapPull: (key, pid) => join(bootstrap, `.pull-${key.slice(0, 16)}-${pid}`),
    wheelhouseDir: (key) => join(wheelhouses, key),
    wheelhouseScratch: (purpose, key, pid) => join(wheelhouses, `.${purpose}-${key.slice(0, 16)}-${pid}`),
    imageDir: (digestHex) => join(images, digestHex),
    imageScratch: (purpose, digestHex, pid) => join(images, `.${purpose}-${digestHex.slice(0, 16)}-${pid}`),
    buildDir: (stamp, version) => join(cacheDir, 'builds', `${stamp}-v${version}`),
    failedDir: (name) => join(cacheDir, 'failed', name),
    buildRunDir: (name) => join(cacheDir, 'builds', name),
  };
}

/** Where one build run keeps its files: `<cache>/builds/<stamp>-v<version>/`. */
export type BuildDirLayout = {
  readonly root: string;
  readonly logs: string;
  readonly reports: string;
  readonly work: string;
  readonly rendered: string;
  /** The Packer log of a layer or of the seal. */
  log(unit: string): string;
  /** Where a unit's guest reports (gate.json, facts.json, ansible runs) land. */
  reportsOf(unit: string): string;
  /** Packer's output directory for a unit; removed once its image is registered. */
  outputOf(unit: string): string;
  renderedOf(unit: string): string;
  /** A scratch directory under work/ (the verification boot's overlay and VM files). */
  scratch(name: string): string;
};

/** The layout of a build run's directory. */
export function buildDirLayout(root: string): BuildDirLayout {
  return {
    root,
    logs: join(root, 'logs'),
    reports: join(root, 'reports'),
    work: join(root, 'work'),
    rendered: join(root, 'rendered'),
    log: (unit) => join(root, 'logs', `${unit}.log`),
    reportsOf: (unit) => join(root, 'reports', unit),
    outputOf: (unit) => join(root, 'work', `${unit}-out`),
    renderedOf: (unit) => join(root, 'rendered', unit),
    scratch: (name) => join(root, 'work', name),
  };
}
