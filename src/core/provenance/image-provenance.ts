import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ImageManifest } from '../manifest/image-manifest.js';
import { FileAccessError } from '../../errors/index.js';
import { encodeCanonicalJson } from '../render/encode.js';
import { formatPurl } from '../sbom/package-url.js';
import type { OsSource } from '../spec/schema.js';

// provenance.intoto.json: an in-toto Statement v1 whose predicate is SLSA Provenance v1, written by
// imagebuild for the whole layered chain (Packer's own provenance post-processor sees one Packer run).
// Field names and meanings:
//   Statement: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md
//   ResourceDescriptor (subject, resolvedDependencies, byproducts): at least one of uri, digest or
//     content; https://github.com/in-toto/attestation/blob/main/spec/v1/resource_descriptor.md
//   Predicate: https://slsa.dev/spec/v1.0/provenance (buildDefinition {buildType, externalParameters,
//     internalParameters, resolvedDependencies}, runDetails {builder {id, version}, metadata
//     {invocationId, startedOn, finishedOn}, byproducts}); extension fields are named <vendor>_<field>.
// docs/releases.md documents the build type (its parameters and dependencies) for verifiers.

/** `_type` of every in-toto Statement v1. */
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** `predicateType` of SLSA Provenance v1 (any 1.x: minor versions keep this URI). */
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
// imagebuild has no public home yet: .invalid (RFC 2606) URIs that name the build type and builder
// without pretending to resolve; docs/releases.md is their human-readable description.
/** The build type: imagebuild's layered image build (layers, gates, seal, flatten). */
export const IMAGEBUILD_BUILD_TYPE = 'https://imagebuild.invalid/provenance/layered-image/v1';
/** The builder: imagebuild on one build host (which host and runner are in the builder's extension fields). */
export const IMAGEBUILD_BUILDER_ID = 'https://imagebuild.invalid/provenance/builder/v1';

/** An in-toto ResourceDescriptor as imagebuild writes them. */
export type ResourceDescriptor = {
  readonly name?: string;
  readonly uri?: string;
  readonly digest?: Readonly<Record<string, string>>;
  readonly mediaType?: string;
  readonly annotations?: Readonly<Record<string, unknown>>;
};

/** Where the build ran: a developer's or build host's shell, or a CI job (its run URL). */
export type BuildRunner = { readonly kind: 'local' } | { readonly kind: 'github-actions'; readonly runUrl: string };

/** Everything the statement records; times and the invocation id come in as arguments. */
export type ProvenanceInput = {
  /** The release's manifest: name, version, spec hash, tools, git commit, host, layer chain and gates, artifact and its SHA-256. */
  readonly manifest: ImageManifest;
  /** The spec's os.source: the first layer's source (an ISO, a cloud image or a bootstrap from an apt mirror). */
  readonly source: OsSource;
  /** The bootstrap image's key, for a bootstrapped base. */
  readonly bootstrapKey?: string;
  /** SHA-256 of every project file the build uses (roles, playbooks, templates, guest programs), by path. */
  readonly projectDigests: Readonly<Record<string, string>>;
  /** Other files of the release, recorded as byproducts with their digests (the SBOM). */
  readonly byproducts: readonly { readonly name: string; readonly sha256: string; readonly mediaType: string }[];
  readonly startedOn: string;
  readonly finishedOn: string;
  readonly invocationId: string;
  readonly runner: BuildRunner;
  /** imagebuild's own version: the builder's (runDetails.builder.version). */
  readonly builderVersion: string;
};

/** The release's provenance statement as JSON text (2-space indent, trailing newline). */
export function assembleProvenance(input: ProvenanceInput): string {
  const { manifest } = input;
  const statement = {
    _type: IN_TOTO_STATEMENT_V1,
    subject: provenanceSubjects(manifest),
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: IMAGEBUILD_BUILD_TYPE,
        externalParameters: { name: manifest.name, version: manifest.version, spec_hash: manifest.spec_hash },
        internalParameters: {
          accelerator: manifest.host.accelerator,
          ...(manifest.seal_key === undefined ? {} : { seal_key: manifest.seal_key }),
          ...(manifest.artifact_reused_from === undefined ? {} : { artifact_reused_from: manifest.artifact_reused_from }),
        },
        resolvedDependencies: [
          sourceDependency(input.source, input.bootstrapKey),
          ...manifest.layers.map(layerDependency),
          { name: 'imagebuild project files', digest: { sha256: projectDigest(input.projectDigests) }, annotations: { files: Object.keys(input.projectDigests).length } },
          ...(manifest.git_commit === null ? [] : [gitDependency(manifest.git_commit)]),
          toolDependency('packer', manifest.packer_version),
          toolDependency('ansible', manifest.ansible_version),
          toolDependency('qemu-img', manifest.qemu_img_version),
        ],
      },
      runDetails: {
        builder: { id: IMAGEBUILD_BUILDER_ID, version: { imagebuild: input.builderVersion }, imagebuild_host: manifest.host.hostname, imagebuild_runner: input.runner.kind === 'local' ? 'local' : input.runner.runUrl },
        metadata: { invocationId: input.invocationId, startedOn: input.startedOn, finishedOn: input.finishedOn },
        byproducts: input.byproducts.map((b): ResourceDescriptor => ({ name: b.name, digest: { sha256: b.sha256 }, mediaType: b.mediaType })),
        ...(manifest.verify === undefined
          ? {}
          : { imagebuild_verification: { status: manifest.verify.status, booted: manifest.verify.booted, gate: manifest.verify.gate.status, sha256_unchanged: manifest.verify.sha256_unchanged } }),
      },
    },
  };
  return `${JSON.stringify(statement, null, 2)}\n`;
}

/** The statement's subjects: the release's image (the qcow2), then every format it was exported in, as the manifest records them. */
export function provenanceSubjects(manifest: Pick<ImageManifest, 'artifact' | 'checksum_sha256' | 'exports'>): ResourceDescriptor[] {
  return [
    { name: manifest.artifact, digest: { sha256: manifest.checksum_sha256 } },
    ...(manifest.exports ?? []).map((e): ResourceDescriptor => ({ name: e.file, digest: { sha256: e.sha256 }, annotations: { format: e.format, derived_from: manifest.artifact } })),
  ];
}

/** What restateProvenanceSubjects needs of a statement; everything else in it is kept as the build wrote it. */
const StoredStatement = z.looseObject({
  _type: z.literal(IN_TOTO_STATEMENT_V1),
  subject: z.array(z.unknown()).min(1),
  predicate: z.looseObject({ runDetails: z.looseObject({ byproducts: z.array(z.looseObject({ name: z.string().optional(), mediaType: z.string().optional() })).optional() }) }),
});

// bmaptool writes XML; no media type of its own is registered.
const BMAP_MEDIA_TYPE = 'application/xml';

/**
 * A release's provenance statement (its text, read from `what`) with the subjects brought up to date
 * with the manifest — the qcow2 and every exported format — and each export's block map among the
 * byproducts; every other field stays as the build wrote it (`imagebuild export` adds formats later).
 */
export function restateProvenanceSubjects(text: string, manifest: Pick<ImageManifest, 'artifact' | 'checksum_sha256' | 'exports'>, what: string): string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new FileAccessError(`${what}: not JSON (${(error as Error).message}); the release directory is damaged — rebuild it under a new version`, { cause: error });
  }
  const parsed = StoredStatement.safeParse(json);
  if (!parsed.success) {
    const [issue] = parsed.error.issues;
    throw new FileAccessError(`${what}: not an in-toto Statement v1 as imagebuild writes it (${issue?.path.map(String).join('.') || '(root)'}: ${issue?.message ?? 'invalid'}); the release directory is damaged — rebuild it under a new version`);
  }
  // The parsed copy only proves the shape: zod puts known keys first, and the text keeps the build's order.
  const statement = json as typeof parsed.data;
  const bmaps = (manifest.exports ?? []).flatMap((e) => (e.bmap === undefined ? [] : [{ name: e.bmap.file, digest: { sha256: e.bmap.sha256 }, mediaType: BMAP_MEDIA_TYPE }]));
  // Every block map this function added before goes: restating is idempotent, and the statement as built comes back for no exports.
  const kept = (statement.predicate.runDetails.byproducts ?? []).filter((b) => !(b.mediaType === BMAP_MEDIA_TYPE && b.name?.endsWith('.bmap') === true));
  const restated = {
    ...statement,
    subject: provenanceSubjects(manifest),
    predicate: { ...statement.predicate, runDetails: { ...statement.predicate.runDetails, byproducts: [...kept, ...bmaps] } },
  };
  return `${JSON.stringify(restated, null, 2)}\n`;
}

/** Where this build ran, from its environment: a GitHub Actions run (its URL, which names the attempt), else local. */
export function buildRunnerOf(env: Readonly<Record<string, string | undefined>>): BuildRunner {
  const { GITHUB_ACTIONS: actions, GITHUB_SERVER_URL: server, GITHUB_REPOSITORY: repository, GITHUB_RUN_ID: run, GITHUB_RUN_ATTEMPT: attempt } = env;
  if (actions !== 'true' || !server || !repository || !run) return { kind: 'local' };
  return { kind: 'github-actions', runUrl: `${server}/${repository}/actions/runs/${run}${attempt ? `/attempts/${attempt}` : ''}` };
}

/** The digest of the project's files: SHA-256 of their path → SHA-256 map as canonical JSON. */
export function projectDigest(digests: Readonly<Record<string, string>>): string {
  return createHash('sha256').update(encodeCanonicalJson(digests)).digest('hex');
}

function sourceDependency(source: OsSource, bootstrapKey: string | undefined): ResourceDescriptor {
  if (source.kind === 'bootstrap') {
    const { suite, components, include, security_mirror: security } = source;
    return {
      name: 'os.source (bootstrap)',
      uri: source.mirror,
      annotations: { suite, components, include, ...(security === undefined ? {} : { security_mirror: security }), ...(bootstrapKey === undefined ? {} : { bootstrap_key: bootstrapKey }) },
    };
  }
  // sha256:<hex> and sha512:<hex> are digests of the file; file:<URL> names a SUMS file that holds one.
  const [algorithm, value] = [source.checksum.slice(0, source.checksum.indexOf(':')), source.checksum.slice(source.checksum.indexOf(':') + 1)];
  return {
    name: `os.source (${source.kind})`,
    uri: source.url,
    ...(algorithm === 'file' ? { annotations: { checksum_file: value } } : { digest: { [algorithm]: value } }),
  };
}

function layerDependency(layer: ImageManifest['layers'][number]): ResourceDescriptor {
  return {
    name: `layer ${layer.layer}`,
    // The layer key: SHA-256 of everything the layer was built from (spec slice, files, tools, parent key).
    digest: { sha256: layer.key },
    annotations: {
      parent_key: layer.parent_key,
      reused: layer.reused,
      gate: { status: layer.gate.status, gpu_validated: layer.gate.gpu_validated, checks: layer.gate.checks.map((c) => ({ check: c.check, status: c.status })) },
    },
  };
}

function gitDependency(commit: string): ResourceDescriptor {
  const dirty = commit.endsWith('-dirty');
  return { name: 'imagebuild project (git)', digest: { gitCommit: dirty ? commit.slice(0, -'-dirty'.length) : commit }, ...(dirty ? { annotations: { dirty: true } } : {}) };
}

function toolDependency(name: string, version: string): ResourceDescriptor {
  return { name, uri: formatPurl({ type: 'generic', name, version }) };
}
