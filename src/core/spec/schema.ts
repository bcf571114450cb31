import { z } from 'zod';
import { COMPAT_TABLE } from '../compat/table.js';
import { CONTAINER_TOOLKIT_REPOSITORY } from './vendor-sources.js';

// Every object is strict: a typo in a key must fail validation, not silently fall back to a default.
// Messages follow "what is wrong; what is valid" so the CLI can print them as one line per problem.

function closestKey(key: string, valid: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of valid) {
    const distance = editDistance(key, candidate);
    if (distance <= Math.max(2, Math.floor(candidate.length / 3)) && (!best || distance < best.distance)) {
      best = { key: candidate, distance };
    }
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** A strict object whose unknown-key error lists the valid keys and suggests the nearest one. */
function specObject<Shape extends z.ZodRawShape>(shape: Shape) {
  const valid = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== 'unrecognized_keys') return undefined;
      const [key] = issue.keys;
      const suggestion = key === undefined ? undefined : closestKey(key, valid);
      const hint = suggestion ? `did you mean "${suggestion}"? ` : '';
      return `unknown key; ${hint}valid keys: ${valid.join(', ')}`;
    },
  });
}

// Parts as the roles use them: a driver or CUDA version they can pin and check exactly (not a bare branch),
// Python as major.minor. Each part at most 9 digits, as compareDottedVersions reads them.
const dottedVersion = (what: string, example: string, parts: readonly [min: number, max: number] = [1, 4]) => {
  const [min, max] = parts;
  const count = min === max ? `${min}` : `${min} to ${max}`;
  return z.string({ error: `expected ${what} as a quoted string; e.g. "${example}"` }).regex(new RegExp(`^\\d{1,9}(\\.\\d{1,9}){${min - 1},${max - 1}}$`), {
    error: `not a ${what}; use ${count} dotted numbers, e.g. "${example}"`,
  });
};

const guestPath = z
  .string()
  .regex(/^\/(?:[A-Za-z0-9._-]+\/?)*$/, { error: 'not a safe absolute path; use /letters/digits/._- only, e.g. /opt/ai/venv' })
  .refine((p) => !p.split('/').includes('..'), { error: 'path contains ".."; give a plain absolute path' });

const hostPath = z
  .string()
  .min(1)
  .regex(/^[A-Za-z0-9._/ -]+$/, { error: 'path has unsupported characters; use letters, digits, space and ._/- only' })
  .refine((p) => p.startsWith('/') || !p.split('/').includes('..'), {
    error: 'relative path escapes the project with ".."; keep it inside the project or give an absolute path',
  });

// A plain pattern first: z.url() alone strips newlines before checking, which would let one through.
const url = z
  .string()
  .regex(/^https?:\/\/[^\s"'`\\<>{}|^]+$/, { error: 'not an http(s) URL; e.g. https://example.com/path (no spaces, quotes or braces)' })
  .refine((value) => URL.canParse(value), { error: 'not a valid URL; e.g. https://example.com/path' });

const checksum = z
  .string()
  .regex(/^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}|file:https?:\/\/[^\s"'`\\<>{}|^]+)$/, {
    error: 'not a checksum; use sha256:<64 hex>, sha512:<128 hex> or file:<URL of a SUMS file>',
  });

const sshPublicKey = z
  .string()
  .regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+={0,2}( [^\n\r]{0,200})?$/, {
    error: 'not an OpenSSH public key line; e.g. "ssh-ed25519 AAAAC3Nza... user@host"',
  })
  .refine((k) => !/PRIVATE KEY/.test(k), { error: 'looks like a private key; give the public key only' });

const linuxName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, {
  error: 'not a valid Linux user/group name; use lower-case letters, digits, _ and -, starting with a letter or _',
});

const port = z.number().int().min(1).max(65535);
const percent = z.number().min(0).max(100);
const duration = z.string().regex(/^\d+(s|m|h)$/, { error: 'not a duration; use a number with s, m or h, e.g. "24h"' });

const GPU_MODELS = Object.keys(COMPAT_TABLE.gpus) as [string, ...string[]];

/** Boot firmware an image can be made for: legacy BIOS (SeaBIOS in verification) and UEFI (OVMF). */
export const FIRMWARES = ['bios', 'uefi'] as const;
export type Firmware = (typeof FIRMWARES)[number];

export const OsSource = z.discriminatedUnion(
  'kind',
  [
    specObject({
      kind: z.literal('iso'),
      url,
      checksum,
    }),
    specObject({
      kind: z.literal('cloud_image'),
      url,
      checksum,
    }),
    specObject({
      kind: z.literal('bootstrap'),
      suite: z.string().regex(/^[a-z]+$/, { error: 'not a suite name; e.g. "bookworm" or "noble"' }),
      mirror: url,
      security_mirror: url.optional(),
      components: z.array(z.string().regex(/^[a-z-]+$/)).min(1).default(['main']),
      include: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, { error: 'not a Debian package name' })).default([]),
    }),
  ],
  { error: 'unknown source kind; valid kinds: iso, cloud_image, bootstrap' },
);
export type OsSource = z.infer<typeof OsSource>;

export const OsSpec = specObject({
  distro: z.enum(['ubuntu', 'debian'], { error: 'unsupported distro; valid: ubuntu, debian' }),
  release: z.string().regex(/^\d+(\.\d+)?$/, { error: 'not a release number; e.g. "24.04" or "12"' }),
  source: OsSource,
  disk_size_gib: z.number().int().min(4).max(4096),
  locale: z.string().regex(/^[A-Za-z]{2,3}(_[A-Z]{2})?(\.[A-Za-z0-9-]+)?$/, { error: 'not a locale; e.g. en_US.UTF-8' }).default('en_US.UTF-8'),
  timezone: z.string().regex(/^(UTC|[A-Z][A-Za-z_]+(\/[A-Za-z0-9_+-]+){1,2})$/, { error: 'not a tz database name; e.g. UTC or Europe/Berlin' }).default('UTC'),
  keyboard_layout: z.string().regex(/^[a-z]{2,8}$/).default('us'),
  hostname: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, { error: 'not a hostname; lower-case letters, digits and - (RFC 1123)' }),
  /** Firmware the image must boot under (GRUB for each; the verification boots under each); both by default. */
  firmware: z
    .array(z.enum(FIRMWARES, { error: 'unknown firmware; valid: bios, uefi' }))
    .min(1, { error: 'name at least one firmware: bios, uefi' })
    .refine((list) => new Set(list).size === list.length, { error: 'a firmware is listed twice' })
    .default([...FIRMWARES]),
});
export type OsSpec = z.infer<typeof OsSpec>;

export const UserSpec = specObject({
  name: linuxName.refine((n) => n !== 'root', { error: 'root cannot be a login user (SSH hardening forbids root login); pick another name' }),
  groups: z.array(linuxName).default([]),
  sudo: z.enum(['nopasswd', 'none']).default('nopasswd'),
  ssh_authorized_keys: z.array(sshPublicKey).min(1, { error: 'no SSH key; password login is disabled, so give at least one public key' }),
  /**
   * The build's verification boot logs in as this user with a key generated under the cache, whose public half the
   * image authorises for this user (from the build host's user-mode network address only), so the artifact's gates
   * run in it without a --verify-key. For development images built and used on one machine; at most one user.
   */
  verify_login: z.boolean().default(false),
});
export type UserSpec = z.infer<typeof UserSpec>;

export const HardwareSpec = specObject({
  gpu: specObject({
    model: z.enum(GPU_MODELS, { error: `unknown GPU model; valid: ${GPU_MODELS.join(', ')}` }),
    count: z.number().int().min(0).max(16),
    passthrough: z
      .array(z.string().regex(/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/, { error: 'not a PCI address; use domain:bus:slot.function, e.g. 0000:01:00.0' }))
      .default([]),
  }),
  build_vm: specObject({
    cpus: z.number().int().min(1).max(256).default(4),
    memory_mib: z.number().int().min(1024).max(2_097_152).default(8192),
    accelerator: z.enum(['auto', 'kvm', 'tcg'], { error: 'unknown accelerator; valid: auto, kvm, tcg' }).default('auto'),
    machine: z.enum(['q35', 'pc']).default('q35'),
  }).default({ cpus: 4, memory_mib: 8192, accelerator: 'auto', machine: 'q35' }),
});
export type HardwareSpec = z.infer<typeof HardwareSpec>;

// Every layer's gate re-runs its playbook and fails if the second run changes anything (default on).
const idempotence = z.boolean().default(true);

const BaseLayer = specObject({
  packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, { error: 'not a Debian package name' })).default([]),
  docker: specObject({
    source: z.enum(['docker-ce', 'distro']).default('docker-ce'),
    // A trailing * pins the upstream version and accepts Debian's binary rebuilds (+b1, +b6, …).
    version: z.string().regex(/^[A-Za-z0-9.:~+-]+\*?$/, { error: 'not an apt version string; e.g. "5:28.3.3-1~ubuntu.24.04~noble" or "20.10.24+dfsg1-1+deb12u1*"' }),
  }),
  ssh: specObject({
    port: port.default(22),
    allow_users: z.array(linuxName).optional(),
  }).default({ port: 22 }),
  firewall: specObject({
    allow_tcp: z.array(port).default([22]),
    allow_udp: z.array(port).default([]),
  }).default({ allow_tcp: [22], allow_udp: [] }),
  fail2ban: specObject({
    bantime_minutes: z.number().int().min(1).default(10),
    maxretry: z.number().int().min(1).default(5),
  }).default({ bantime_minutes: 10, maxretry: 5 }),
  unattended_upgrades: specObject({
    security_only: z.boolean().default(true),
  }).default({ security_only: true }),
  gate: specObject({
    idempotence,
    min_root_fs_gib: z.number().min(1).optional(),
  }).prefault({}),
});

const DriverLayer = specObject({
  nvidia_driver: dottedVersion('driver version', '580.173.02', [2, 3]),
  kernel_module: z.enum(['open', 'proprietary'], { error: 'unknown kernel module flavour; valid: open, proprietary' }),
  // ubuntu: Canonical's prebuilt, Canonical-signed modules (load under Secure Boot with no MOK enrolment);
  // nvidia: NVIDIA's CUDA repository, modules built by DKMS. Default: ubuntu on Ubuntu, nvidia elsewhere.
  source: z.enum(['ubuntu', 'nvidia'], { error: 'unknown driver source; valid: ubuntu (Canonical-signed prebuilt modules), nvidia (NVIDIA repository, DKMS)' }).optional(),
  // NVIDIA's CUDA apt repository (CUDA toolkit, cuDNN, and the driver when source is nvidia). Defaults to
  // https://developer.download.nvidia.com/compute/cuda/repos/<distro><release>/x86_64/ and its cuda-keyring package.
  repository: specObject({
    url: url.optional(),
    keyring_url: url.optional(),
  }).default({}),
  cuda: dottedVersion('CUDA version', '13.0.2', [2, 3]),
  cudnn: dottedVersion('cuDNN version', '9.28.1', [2, 4]),
  persistenced: z.boolean().default(true),
  gate: specObject({
    gpu_count: z.number().int().min(0).optional(),
    gpu_name: z.string().regex(/^[A-Za-z0-9 ._-]+$/).optional(),
    min_memory_mib: z.number().int().min(1).optional(),
    max_idle_temp_c: z.number().min(20).max(110).default(60),
    min_pcie_gen: z.number().int().min(1).max(6).optional(),
    min_pcie_width: z.union([z.literal(1), z.literal(2), z.literal(4), z.literal(8), z.literal(16)]).optional(),
    idempotence,
  }).prefault({}),
});

// An image reference by tag, optionally on another registry (a mirror): registry.example:5000/nvidia/cuda:13.0.2-base-ubuntu24.04
const imageReference = z.string().regex(/^(?:[a-z0-9][a-z0-9.-]*(?::[0-9]{1,5})?\/)?[a-z0-9._/-]+(:[A-Za-z0-9._-]+)?$/, {
  error: 'not an image reference; e.g. nvidia/cuda:13.0.2-base-ubuntu24.04 or mirror.example:5000/nvidia/cuda:13.0.2-base-ubuntu24.04',
});

const RuntimeLayer = specObject({
  container_toolkit: dottedVersion('NVIDIA Container Toolkit version', '1.20.0', [2, 3]),
  // A flat apt repository (suite "/"); apt expands $(ARCH).
  repository: specObject({
    url: url.default(CONTAINER_TOOLKIT_REPOSITORY.url),
    gpgkey_url: url.default(CONTAINER_TOOLKIT_REPOSITORY.gpgkey_url),
  }).default(CONTAINER_TOOLKIT_REPOSITORY),
  docker_default_shm_size: z.string().regex(/^\d+[kmgKMG]?$/, { error: 'not a size; e.g. "8G"' }).default('8G'),
  // Images put into the image, through the build's image cache; list the gate's cuda_image to have the gate find it.
  images: z.array(imageReference).refine((refs) => new Set(refs).size === refs.length, { error: 'lists an image twice' }).default([]),
  gate: specObject({
    cuda_image: imageReference,
    containers: z.number().int().min(1).max(16).default(2),
    idempotence,
  }),
});

const FrameworksLayer = specObject({
  python: specObject({
    version: dottedVersion('Python version', '3.12', [2, 2]).optional(),
    venv: guestPath.optional(),
  }),
  pip: specObject({
    // PyPI or a mirror of it (devpi, Artifactory); default https://pypi.org/simple
    index_url: url.optional(),
    cache_dir: guestPath.optional(),
  }).default({}),
  pytorch: specObject({
    version: dottedVersion('PyTorch version', '2.13.0', [2, 3]),
    cuda_variant: z.string().regex(/^cu\d{3}$/, { error: 'not a wheel variant; e.g. cu130' }),
    // PyTorch's wheel index for the variant; default https://download.pytorch.org/whl/<cuda_variant>
    index_url: url.optional(),
  }),
  // An NCCL wheel (nvidia-nccl-cuXX) installed over the one torch pins, e.g. to get past a known NCCL bug.
  nccl: specObject({ version: dottedVersion('NCCL version', '2.31.2', [3, 3]) }).optional(),
  tensorflow: specObject({ version: dottedVersion('TensorFlow version', '2.21.0') }).optional(),
  vllm: specObject({ version: dottedVersion('vLLM version', '0.29.0') }).optional(),
  gate: specObject({
    matmul_size: z.number().int().min(64).max(65536).default(4096),
    idempotence,
  }).prefault({}),
});

const ValidationLayer = specObject({
  suite_dir: guestPath.default('/opt/imagebuild/validation'),
  monitoring: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/)).default(['htop', 'iotop', 'nvtop']),
  tuning: specObject({
    persistence_mode: z.boolean().default(true),
    power_limit_w: z.number().int().min(50).max(1500).optional(),
    cpu_governor: z.enum(['performance', 'powersave', 'schedutil', 'ondemand']).default('performance'),
  }).default({ persistence_mode: true, cpu_governor: 'performance' }),
  gate: specObject({
    ddp_min_scaling_efficiency: z.number().gt(0).max(1).default(0.8),
    ddp_model: z.enum(['resnet50', 'resnet18']).default('resnet50'),
    ddp_batch_size: z.number().int().min(1).default(32),
    vllm_model: z.string().regex(/^[A-Za-z0-9._/-]+$/, { error: 'not a model name or path; e.g. facebook/opt-1.3b' }).default('facebook/opt-1.3b'),
    vllm_min_tokens_per_s: z.number().gt(0).default(10),
    vllm_prompts: z.number().int().min(1).default(30),
    vllm_max_tokens: z.number().int().min(1).default(50),
    min_gpu_utilization_pct: percent.default(90),
    soak_duration: duration.default('24h'),
    soak_max_temp_c: z.number().min(40).max(110).default(85),
    sample_interval_s: z.number().int().min(1).max(600).default(5),
    idempotence,
  }).prefault({}),
});

export const LayersSpec = specObject({
  base: BaseLayer,
  driver: DriverLayer,
  runtime: RuntimeLayer,
  frameworks: FrameworksLayer,
  validation: ValidationLayer,
});
export type LayersSpec = z.infer<typeof LayersSpec>;

export const StoreSpec = z.discriminatedUnion(
  'kind',
  [
    specObject({
      kind: z.literal('s3'),
      bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { error: 'not an S3 bucket name' }),
      prefix: z.string().regex(/^([A-Za-z0-9._-]+\/)*[A-Za-z0-9._-]*$/, { error: 'not a key prefix; e.g. images/demo-box' }).default(''),
      region: z.string().regex(/^[a-z0-9-]+$/).default('us-east-1'),
      endpoint: url.optional(),
      force_path_style: z.boolean().default(false),
    }),
    specObject({
      kind: z.literal('filesystem'),
      dir: hostPath,
    }),
  ],
  { error: 'unknown store kind; valid kinds: s3, filesystem' },
);
export type StoreSpec = z.infer<typeof StoreSpec>;

/** The SSHSIG namespace release signatures are made for, unless the spec names another. */
export const DEFAULT_SIGNING_NAMESPACE = 'imagebuild-release';

/**
 * Signing releases (SSHSIG, `ssh-keygen -Y sign` format, Ed25519): where publish finds the key — a
 * private key file or an ssh-agent identity (its .pub file) — and what download/verify check
 * signatures against. Paths are relative to the spec file; $IMAGEBUILD_SIGNING_KEY (a key file)
 * overrides the key for one run, e.g. a CI secret.
 */
export const SigningSpec = specObject({
  namespace: z
    .string()
    .regex(/^[a-z0-9][a-z0-9@._-]{0,63}$/, { error: 'not a valid signature namespace; use lower-case letters, digits and @._- (e.g. imagebuild-release)' })
    .default(DEFAULT_SIGNING_NAMESPACE),
  /** An OpenSSH Ed25519 private key file (mode 0600) publish signs with. */
  key_file: hostPath.optional(),
  /** The environment variable holding key_file's passphrase (never the passphrase itself). */
  passphrase_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, { error: 'not an environment variable name; use A-Z, 0-9 and _' }).optional(),
  /** Sign through the ssh-agent ($SSH_AUTH_SOCK) with the identity whose public key this .pub file holds. */
  agent_public_key: hostPath.optional(),
  /** The allowed_signers file (ssh-keygen(1) format) download and verify check signatures against. */
  allowed_signers: hostPath.optional(),
  /** Public keys that are no longer trusted (one per line), as `ssh-keygen -Y verify -r` reads them. */
  revoked_keys: hostPath.optional(),
  /** The principal a signature must be allowed as (`ssh-keygen -Y verify -I`); default: any principal of allowed_signers. */
  principal: z.string().regex(/^[^\s,*?!"']{1,128}$/, { error: 'not a valid principal; no spaces, commas, quotes or wildcards' }).optional(),
}).refine((s) => s.key_file === undefined || s.agent_public_key === undefined, { error: 'give key_file or agent_public_key, not both', path: ['agent_public_key'] });
export type SigningSpec = z.infer<typeof SigningSpec>;

export const ImageSpec = specObject({
  $schema: z.string().optional(),
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, {
    error: 'not a valid image name; use 2-63 lower-case letters, digits and -, e.g. vault-cube-demo-box',
  }),
  description: z.string().max(500).optional(),
  os: OsSpec,
  users: z.array(UserSpec).min(1, { error: 'no users; give at least one login user' }),
  hardware: HardwareSpec,
  layers: LayersSpec,
  cache: specObject({
    dir: hostPath.default('.imagebuild/cache'),
    apt_proxy: url.optional(),
    /** A shared layer cache: layers are pulled from it before building and pushed to it after their gate passed. */
    store: StoreSpec.optional(),
    /** Push newly built layers to cache.store (false: pull only, e.g. on a laptop). */
    push: z.boolean().default(true),
  }).default({ dir: '.imagebuild/cache', push: true }),
  output: specObject({
    dir: hostPath.default('output'),
    compress: z.boolean().default(false),
  }).default({ dir: 'output', compress: false }),
  artifacts: specObject({
    store: StoreSpec.optional(),
    retention: z.number().int().min(1).max(100).default(3),
    /** Release signatures: publish signs SHA256SUMS; download and verify check it against allowed_signers. */
    signing: SigningSpec.optional(),
  }).default({ retention: 3 }),
});
export type ImageSpec = z.infer<typeof ImageSpec>;

/** The user the verification boot logs in as with the cache's verification key (users[].verify_login), if any. */
export function verifyLoginUser(spec: Pick<ImageSpec, 'users'>): string | undefined {
  return spec.users.find((user) => user.verify_login)?.name;
}
export type ImageSpecInput = z.input<typeof ImageSpec>;
