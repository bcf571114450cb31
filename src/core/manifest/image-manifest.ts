import { z } from 'zod';
import { GateCheckResult, type GateVerdict } from '../gate/evaluate-gate.js';
import type { GuestFacts } from '../gate/gate-report.js';
import type { ToolVersions } from '../plan/plan-build.js';
import { LAYER_NAMES, type LayerName } from '../spec/layers.js';
import { FIRMWARES, type ImageSpec } from '../spec/schema.js';
import { Sha256 } from '../digest.js';
import { ReleaseVersion } from '../version/release-version.js';
import { ManifestInvalidError } from '../../errors/index.js';

// image-manifest.json: the reference's shape (epic-1a-architecture.md, "Metadata File") first and in
// its order, then imagebuild's additive fields. Every value describing the image is read from the
// built image (facts.py) or the tools; the spec says what was asked for, the manifest what was built.


// Whole seconds and Z, as the reference writes it: 2025-11-15T10:30:00Z.
const BuildDate = z.iso.datetime({ precision: 0, error: 'not an ISO 8601 UTC time to the second; e.g. 2025-11-15T10:30:00Z' });

const ImageFact = z
  .string()
  .min(1)
  .max(200)
  .refine((text) => ![...text].some((ch) => ch < ' ' || ch === '\u007f'), { error: 'not a single line of printable text' });

const ToolVersion = z.string().regex(/^\d+(\.\d+){1,3}([-+~][0-9A-Za-z.+~-]+)?$/, { error: 'not a tool version; e.g. 1.11.2' });

const Seconds = z.number().nonnegative();

/** A file of the release beside the manifest (the SBOM, the provenance statement), with its SHA-256. */
export const ReleaseFile = z.strictObject({
  file: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, { error: 'not a plain file name' }),
  sha256: Sha256,
});
export type ReleaseFile = z.infer<typeof ReleaseFile>;

/** The formats `imagebuild export` writes a release's image in, in the order it writes them. */
export const EXPORT_FORMATS = ['raw', 'raw.xz', 'vmdk'] as const;
/** One of EXPORT_FORMATS. */
export const ExportFormat = z.enum(EXPORT_FORMATS, { error: `not an export format; valid formats: ${EXPORT_FORMATS.join(', ')}` });
export type ExportFormat = z.infer<typeof ExportFormat>;
// A manifest read from a store may name a format a newer imagebuild added: any such name passes there.
const StoredExportFormat = z.string().regex(/^[a-z0-9][a-z0-9.+-]*$/, { error: 'not an export format name' }) as unknown as typeof ExportFormat;

// The one definition of the manifest's fields, made twice: strict for what this imagebuild writes and
// reads back from output/ (an unknown key is a bug or a typo), and stripping for manifests read from a
// store, which a newer imagebuild may have written with fields added since: an older client drops what
// it does not know and still validates every field it does (issue 17, rule 12).
type ObjectSchema = typeof z.strictObject;

function manifestSchemas(object: ObjectSchema, gateCheck: typeof GateCheckResult, exportFormat: typeof ExportFormat) {
  const releaseFile = object(ReleaseFile.shape);
  /** The release's image in another format (`imagebuild export`), beside the qcow2, with its block map when one was asked for. */
  const ExportedImage = object({
    format: exportFormat,
    file: ReleaseFile.shape.file,
    sha256: Sha256,
    size_bytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    /** bmaptool's block map of the raw image (for raw.xz too: it maps the decompressed bytes). */
    bmap: releaseFile.optional(),
  });
  /** One layer of the image's chain, with its gate as it passed. */
  const ManifestLayer = object({
    layer: z.enum(LAYER_NAMES),
    key: Sha256,
    parent_key: Sha256.nullable(),
    /** Taken from the layer cache rather than built in this run; its gate is the one recorded when it was cached. */
    reused: z.boolean(),
    duration_s: Seconds,
    gate: object({
      status: z.enum(['passed', 'failed']),
      gpu_validated: z.boolean(),
      checks: z.array(gateCheck),
    }),
  });

  /** The result of booting the finished artifact and checking it over SSH (`imagebuild verify`). */
  const ArtifactVerification = object({
    status: z.enum(['passed', 'failed']),
    booted: z.boolean(),
    ssh_host_key_sha256: z.string().nullable(),
    build_account_refused: z.boolean(),
    checked_as: z.string().nullable(),
    gate: object({ status: z.enum(['passed', 'failed', 'skipped']), summary: z.string(), checks: z.array(z.unknown()) }),
    sha256_unchanged: z.boolean(),
    duration_s: z.number().nonnegative(),
    problems: z.array(z.string()),
    /** One boot per firmware the image must support (SeaBIOS for bios, OVMF for uefi); absent in manifests written before. */
    boots: z
      .array(
        object({
          firmware: z.enum(FIRMWARES),
          booted: z.boolean(),
          /** Each first boot makes its own host keys (the seal removed the image's): two boots, two keys. */
          ssh_host_key_sha256: z.string().nullable(),
          /** What the guest says it booted under (/sys/firmware/efi); null when no spec user could log in to ask. */
          guest_firmware: z.enum(FIRMWARES).nullable(),
          gate_status: z.enum(['passed', 'failed', 'skipped']),
          /** The boot's virtual disk was this much bigger than the image, so the first-boot grow had work to do. */
          disk_grown_bytes: z.number().int().nonnegative(),
          duration_s: Seconds,
        }),
      )
      .min(1)
      .optional(),
  });

  /** image-manifest.json: the reference's fields in its order, then imagebuild's additive ones. */
  const ImageManifest = object({
      // --- the reference's fields, in its order ---
      name: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, { error: 'not an image name' }),
      version: ReleaseVersion,
      build_date: BuildDate,
      os: ImageFact,
      kernel: ImageFact,
      // null: not installed in this image (e.g. a GPU-less build), never a value copied from the spec.
      nvidia_driver: ImageFact.nullable(),
      cuda_version: ImageFact.nullable(),
      frameworks: object({
        pytorch: ImageFact.nullable(),
        tensorflow: ImageFact.nullable(),
        vllm: ImageFact.nullable(),
      }),
      checksum_sha256: Sha256,
      size_bytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
      packer_version: ToolVersion,
      ansible_version: ToolVersion,
      // --- additive ---
      /** Installed versions of the GPU stack's other parts, read from the image like the reference's fields; absent in older manifests. */
      components: object({
        cudnn: ImageFact.nullable(),
        nccl: ImageFact.nullable(),
        container_toolkit: ImageFact.nullable(),
        docker: ImageFact.nullable(),
      }).optional(),
      /** Test stand-ins installed in the image (hermetic vendor mirror); present only when there are any: such an image is never published. */
      stand_ins: z.array(ImageFact).min(1).optional(),
      artifact: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, { error: 'not a plain file name' }),
      qemu_img_version: ToolVersion,
      spec_name: z.string().min(1),
      spec_hash: Sha256,
      git_commit: z
        .string()
        .regex(/^[0-9a-f]{7,64}(-dirty)?$/, { error: 'not a git commit id; hex, optionally with -dirty' })
        .nullable(),
      host: object({
        hostname: z.string().min(1),
        accelerator: z.enum(['kvm', 'tcg']),
      }),
      layers: z.array(ManifestLayer).min(1).max(LAYER_NAMES.length),
      /** True only when GPU checks ran and passed in this image's chain and none was skipped. */
      gpu_validated: z.boolean(),
      durations: object({ total_s: Seconds, finalize_s: Seconds }),
      facts_source: z.string().min(1),
      /** The firmware the image was made to boot under (the spec's os.firmware): GRUB is on it for each; absent in older manifests. */
      firmware: z.array(z.enum(FIRMWARES)).min(1).optional(),
      /** Why this version breaks the semver bump rule, when an operator overrode it. */
      version_override: z.string().min(1).optional(),
      /** The shipped artifact booted through a throwaway overlay and checked over SSH. */
      verify: ArtifactVerification.optional(),
      /** Key of the sealed image: equal keys mean byte-identical images (see computeSealKey). */
      seal_key: Sha256.optional(),
      /** The earlier release whose identical image this one reuses (no Packer run, no re-hash). */
      artifact_reused_from: ReleaseVersion.optional(),
      /** The CycloneDX SBOM of what the sealed image holds (sbom.cdx.json); absent in manifests written before releases had one. */
      sbom: releaseFile.optional(),
      /** The in-toto/SLSA provenance statement of the build (provenance.intoto.json); absent in manifests written before releases had one. */
      provenance: releaseFile.optional(),
      /** The image exported in other formats (raw, raw.xz, vmdk), one entry per format; absent until the first export. */
      exports: z.array(ExportedImage).min(1).optional(),
    })
    .superRefine((manifest, ctx) => {
      manifest.layers.forEach((entry, index) => {
        const expected = LAYER_NAMES[index];
        if (entry.layer !== expected) {
          ctx.addIssue({ code: 'custom', path: ['layers', index, 'layer'], message: `expected ${expected}: layers run base upwards, each once` });
        }
        const parent = index === 0 ? null : (manifest.layers[index - 1]?.key ?? null);
        if (entry.parent_key !== parent) {
          ctx.addIssue({ code: 'custom', path: ['layers', index, 'parent_key'], message: `expected ${parent ?? 'null'}: the key of the layer below` });
        }
        // A layer is only cached, and an image only assembled, after its gate passed.
        if (entry.gate.status !== 'passed') {
          ctx.addIssue({ code: 'custom', path: ['layers', index, 'gate', 'status'], message: 'gate failed; a manifest describes only an image whose gates passed' });
        }
      });
      const formats = manifest.exports?.map((e) => e.format) ?? [];
      formats.forEach((format, index) => {
        if (formats.indexOf(format) !== index) ctx.addIssue({ code: 'custom', path: ['exports', index, 'format'], message: `${format} is listed twice; one entry per format` });
      });
      if (manifest.gpu_validated !== gpuValidatedLayers(manifest.layers)) {
        ctx.addIssue({ code: 'custom', path: ['gpu_validated'], message: 'disagrees with the layers: true only when a GPU check passed and none was skipped' });
      }
    });
  return { ManifestLayer, ArtifactVerification, ExportedImage, ImageManifest };
}

const strict = manifestSchemas(z.strictObject, GateCheckResult, ExportFormat);

/** One layer of the image's chain, with its gate as it passed. */
export const ManifestLayer = strict.ManifestLayer;
export type ManifestLayer = z.infer<typeof ManifestLayer>;

/** The result of booting the finished artifact and checking it over SSH (`imagebuild verify`). */
export const ArtifactVerification = strict.ArtifactVerification;
export type ArtifactVerification = z.infer<typeof ArtifactVerification>;

/** The release's image in another format (`imagebuild export`), with its block map when one was asked for. */
export const ExportedImage = strict.ExportedImage;
export type ExportedImage = z.infer<typeof ExportedImage>;

/** image-manifest.json: the reference's fields in its order, then imagebuild's additive ones. */
export const ImageManifest = strict.ImageManifest;
export type ImageManifest = z.infer<typeof ImageManifest>;

/** image-manifest.json as read from a store: the same fields validated the same way, unknown (newer, additive) keys dropped at every level. */
const StoredImageManifest = manifestSchemas(z.object as ObjectSchema, GateCheckResult.strip() as unknown as typeof GateCheckResult, StoredExportFormat).ImageManifest;


/** A layer of the build as assembleManifest takes it. */
export type ManifestLayerInput = {
  readonly layer: LayerName;
  readonly key: string;
  readonly parentKey: string | null;
  readonly reused: boolean;
  readonly durationS: number;
  readonly verdict: GateVerdict;
};

/** Everything assembleManifest reads; installed versions only through `facts` and `tools`. */
export type ManifestInput = {
  readonly spec: ImageSpec;
  /** Canonical release version without the leading v, e.g. 1.1.0. */
  readonly version: string;
  readonly buildDate: Date;
  /** facts.py's output from the top layer built (or the seal step); the only source of installed versions. */
  readonly facts: GuestFacts;
  readonly tools: ToolVersions;
  readonly artifact: { readonly fileName: string; readonly sha256: string; readonly sizeBytes: number };
  readonly layers: readonly ManifestLayerInput[];
  readonly specHash: string;
  readonly gitCommit: string | null;
  readonly host: { readonly hostname: string; readonly accelerator: 'kvm' | 'tcg' };
  readonly durations: { readonly totalS: number; readonly finalizeS: number };
  /** Where the facts were read; defaults to facts.py in the top layer's build VM. */
  readonly factsSource?: string;
  readonly versionOverride?: string;
  readonly verify?: ArtifactVerification;
  readonly sealKey?: string;
  readonly artifactReusedFrom?: string;
};

/** Assembles and validates image-manifest.json from the image's facts and the tools; nothing version-like comes from the spec. */
export function assembleManifest(input: ManifestInput): ImageManifest {
  const { facts, tools, artifact } = input;
  const layers: ManifestLayer[] = input.layers.map((l) => ({
    layer: l.layer,
    key: l.key,
    parent_key: l.parentKey,
    reused: l.reused,
    duration_s: l.durationS,
    gate: { status: l.verdict.status, gpu_validated: l.verdict.gpuValidated, checks: l.verdict.checks },
  }));
  const top = input.layers.at(-1)?.layer;
  const manifest = {
    name: input.spec.name,
    version: input.version,
    build_date: formatBuildDate(input.buildDate),
    os: facts.os,
    kernel: facts.kernel,
    nvidia_driver: facts.nvidia_driver,
    cuda_version: facts.cuda_version,
    frameworks: { pytorch: facts.frameworks.pytorch, tensorflow: facts.frameworks.tensorflow, vllm: facts.frameworks.vllm },
    checksum_sha256: artifact.sha256,
    size_bytes: artifact.sizeBytes,
    packer_version: tools.packer,
    ansible_version: tools.ansible,
    components: {
      cudnn: facts.cudnn_version,
      nccl: facts.frameworks.nccl,
      container_toolkit: facts.container_toolkit_version,
      docker: facts.docker_version,
    },
    ...(facts.stand_ins.length > 0 ? { stand_ins: [...facts.stand_ins] } : {}),
    artifact: artifact.fileName,
    qemu_img_version: tools.qemuImg,
    spec_name: input.spec.name,
    spec_hash: input.specHash,
    git_commit: input.gitCommit,
    host: { hostname: input.host.hostname, accelerator: input.host.accelerator },
    layers,
    gpu_validated: gpuValidatedLayers(layers),
    durations: { total_s: input.durations.totalS, finalize_s: input.durations.finalizeS },
    facts_source: input.factsSource ?? `guest/facts.py in the ${top ?? 'top'} layer's build VM`,
    ...(input.versionOverride === undefined ? {} : { version_override: input.versionOverride }),
    firmware: [...input.spec.os.firmware],
    ...(input.verify === undefined ? {} : { verify: input.verify }),
    ...(input.sealKey === undefined ? {} : { seal_key: input.sealKey }),
    ...(input.artifactReusedFrom === undefined ? {} : { artifact_reused_from: input.artifactReusedFrom }),
  };
  return parseManifest(manifest, `${input.spec.name} v${input.version}`);
}

/** Serializes a manifest as stable JSON: validated, reference fields first in the reference's order, 2-space indent, trailing newline. */
export function serializeManifest(manifest: ImageManifest): string {
  // Parsing rebuilds every object in schema order, whatever order the caller's object has.
  return `${JSON.stringify(parseManifest(manifest, `${manifest.name} v${manifest.version}`), null, 2)}\n`;
}

/** The files `imagebuild export` added to a release, as the manifest records them: each exported image, then its block map. */
export function exportedFilesOf(manifest: Pick<ImageManifest, 'exports'>): ReleaseFile[] {
  return (manifest.exports ?? []).flatMap((e) => [{ file: e.file, sha256: e.sha256 }, ...(e.bmap === undefined ? [] : [e.bmap])]);
}

/** Whether an image's layer chain proved its GPUs: some GPU check passed and no layer skipped one. */
export function gpuValidatedLayers(layers: readonly ManifestLayer[]): boolean {
  const checks = layers.flatMap((l) => l.gate.checks);
  // Vacuous truth would let a base-only or GPU-less image claim validated GPUs.
  return layers.every((l) => l.gate.gpu_validated) && checks.some((c) => c.gpu && c.status === 'pass') && !checks.some((c) => c.gpu && c.status === 'skipped');
}

/** Validates parsed JSON as an image manifest; a ManifestInvalidError names `what` and the first problem. */
export function parseManifest(manifest: unknown, what: string): ImageManifest {
  return parseWith(ImageManifest, manifest, what);
}

/**
 * Validates a manifest read from a store, which a newer imagebuild may have written: fields added since
 * this version are dropped (at every level), every known field is validated as strictly as parseManifest does.
 */
export function parseStoredManifest(manifest: unknown, what: string): ImageManifest {
  return parseWith(StoredImageManifest, manifest, what);
}

function parseWith(schema: typeof ImageManifest, manifest: unknown, what: string): ImageManifest {
  const result = schema.safeParse(manifest);
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  const where = issue === undefined || issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.');
  const detail = `${where}: ${issue?.message ?? 'does not validate'}`;
  throw new ManifestInvalidError(`${what}: ${detail}`, { cause: result.error, detail });
}

function formatBuildDate(date: Date): string {
  if (Number.isNaN(date.getTime())) return 'invalid date';
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
