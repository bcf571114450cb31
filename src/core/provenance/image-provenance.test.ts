import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { testManifest } from '../../../test/helpers/test-manifest.js';
import { encodeCanonicalJson } from '../render/encode.js';
import { assembleProvenance, buildRunnerOf, restateProvenanceSubjects, type ProvenanceInput } from './image-provenance.js';

// The Statement and predicate shapes as the specifications define them, field by field:
// https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md,
// https://github.com/in-toto/attestation/blob/main/spec/v1/resource_descriptor.md (one of uri, digest,
// content at a minimum; a subject MUST have a digest) and https://slsa.dev/spec/v1.0/provenance.
const ResourceDescriptor = z
  .looseObject({ name: z.string().optional(), uri: z.string().optional(), digest: z.record(z.string(), z.string()).optional(), content: z.string().optional(), mediaType: z.string().optional(), annotations: z.record(z.string(), z.unknown()).optional() })
  .refine((r) => r.uri !== undefined || r.digest !== undefined || r.content !== undefined, { error: 'one of uri, digest or content' });
const Timestamp = z.iso.datetime();
const SlsaStatement = z.strictObject({
  _type: z.literal('https://in-toto.io/Statement/v1'),
  subject: z.array(ResourceDescriptor.refine((r) => r.digest !== undefined, { error: 'a subject has a digest' })).min(1),
  predicateType: z.literal('https://slsa.dev/provenance/v1'),
  predicate: z.strictObject({
    buildDefinition: z.strictObject({
      buildType: z.url(),
      externalParameters: z.record(z.string(), z.unknown()),
      internalParameters: z.record(z.string(), z.unknown()).optional(),
      resolvedDependencies: z.array(ResourceDescriptor).optional(),
    }),
    runDetails: z
      .object({
        builder: z.object({ id: z.url(), version: z.record(z.string(), z.string()).optional(), builderDependencies: z.array(ResourceDescriptor).optional() }).catchall(z.unknown()),
        metadata: z.strictObject({ invocationId: z.string().optional(), startedOn: Timestamp.optional(), finishedOn: Timestamp.optional() }).optional(),
        byproducts: z.array(ResourceDescriptor).optional(),
      })
      // Extension fields are <vendor>_<field>; the specification's own names never hold an underscore.
      .catchall(z.unknown())
      .refine((r) => Object.keys(r).every((k) => ['builder', 'metadata', 'byproducts'].includes(k) || k.startsWith('imagebuild_')), { error: 'an unknown runDetails field' }),
  }),
});

const ISO_SHA256 = 'c'.repeat(64);
const DIGESTS = { 'ansible/roles/seal/tasks/main.yml': 'd'.repeat(64), 'guest/inventory.py': 'e'.repeat(64) };

function input(overrides: Partial<ProvenanceInput> = {}): ProvenanceInput {
  return {
    manifest: testManifest({ git_commit: '0123456789abcdef0123456789abcdef01234567', seal_key: 'f'.repeat(64) }),
    source: { kind: 'iso', url: 'https://releases.ubuntu.com/24.04.3/ubuntu-24.04.3-live-server-amd64.iso', checksum: `sha256:${ISO_SHA256}` },
    projectDigests: DIGESTS,
    byproducts: [{ name: 'sbom.cdx.json', sha256: '9'.repeat(64), mediaType: 'application/vnd.cyclonedx+json' }],
    startedOn: '2026-01-15T10:00:00Z',
    finishedOn: '2026-01-15T10:30:00Z',
    invocationId: 'urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79',
    runner: { kind: 'local' },
    builderVersion: '0.9.0',
    ...overrides,
  };
}

type Statement = z.infer<typeof SlsaStatement>;
const parse = (text: string): Statement => SlsaStatement.parse(JSON.parse(text));
const dependency = (s: Statement, name: string) => s.predicate.buildDefinition.resolvedDependencies?.find((d) => d.name === name);

describe('assembleProvenance', () => {
  it('writes an in-toto Statement v1 with a SLSA Provenance v1 predicate whose subject is the image and its SHA-256', () => {
    const statement = parse(assembleProvenance(input()));

    expect(statement.subject).toEqual([{ name: 'vault-cube-demo-box-v1.0.0.qcow2', digest: { sha256: 'a'.repeat(64) } }]);
    expect(statement.predicate.buildDefinition.buildType).toBe('https://imagebuild.invalid/provenance/layered-image/v1');
    expect(statement.predicate.buildDefinition.externalParameters).toEqual({ name: 'vault-cube-demo-box', version: '1.0.0', spec_hash: 'b'.repeat(64) });
    expect(statement.predicate.buildDefinition.internalParameters).toEqual({ accelerator: 'tcg', seal_key: 'f'.repeat(64) });
    expect(statement.predicate.runDetails.metadata).toEqual({ invocationId: 'urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79', startedOn: '2026-01-15T10:00:00Z', finishedOn: '2026-01-15T10:30:00Z' });
    expect(statement.predicate.runDetails.builder).toEqual({ id: 'https://imagebuild.invalid/provenance/builder/v1', version: { imagebuild: '0.9.0' }, imagebuild_host: 'vm', imagebuild_runner: 'local' });
    expect(statement.predicate.runDetails.byproducts).toEqual([{ name: 'sbom.cdx.json', digest: { sha256: '9'.repeat(64) }, mediaType: 'application/vnd.cyclonedx+json' }]);
  });

  it('resolves the first layer source with its digest, every layer key with its gate verdict, the project files, the git commit and the tools', () => {
    const statement = parse(assembleProvenance(input()));

    expect(dependency(statement, 'os.source (iso)')).toEqual({ name: 'os.source (iso)', uri: 'https://releases.ubuntu.com/24.04.3/ubuntu-24.04.3-live-server-amd64.iso', digest: { sha256: ISO_SHA256 } });
    expect(dependency(statement, 'layer base')).toEqual({
      name: 'layer base',
      digest: { sha256: '1'.repeat(64) },
      annotations: { parent_key: null, reused: false, gate: { status: 'passed', gpu_validated: true, checks: [{ check: 'ssh_listening', status: 'pass' }] } },
    });
    expect(dependency(statement, 'layer driver')?.annotations).toMatchObject({ parent_key: '1'.repeat(64), gate: { gpu_validated: false, checks: [{ check: 'gpu_count', status: 'skipped' }] } });
    expect(dependency(statement, 'imagebuild project files')).toEqual({
      name: 'imagebuild project files',
      digest: { sha256: createHash('sha256').update(encodeCanonicalJson(DIGESTS)).digest('hex') },
      annotations: { files: 2 },
    });
    expect(dependency(statement, 'imagebuild project (git)')).toEqual({ name: 'imagebuild project (git)', digest: { gitCommit: '0123456789abcdef0123456789abcdef01234567' } });
    expect(['packer', 'ansible', 'qemu-img'].map((tool) => dependency(statement, tool)?.uri)).toEqual(['pkg:generic/packer@1.6.6', 'pkg:generic/ansible@2.14.18', 'pkg:generic/qemu-img@7.2.22']);
  });

  it('names a bootstrap source by its mirror, suite and bootstrap key, and a checksum file by its URL', () => {
    const bootstrap = parse(assembleProvenance(input({ source: { kind: 'bootstrap', suite: 'bookworm', mirror: 'http://deb.debian.org/debian', components: ['main'], include: ['python3'] }, bootstrapKey: '7'.repeat(64) })));
    const sums = parse(assembleProvenance(input({ source: { kind: 'cloud_image', url: 'https://cloud.debian.org/images/debian-12-genericcloud-amd64.qcow2', checksum: 'file:https://cloud.debian.org/images/SHA512SUMS' } })));

    expect(dependency(bootstrap, 'os.source (bootstrap)')).toEqual({
      name: 'os.source (bootstrap)',
      uri: 'http://deb.debian.org/debian',
      annotations: { suite: 'bookworm', components: ['main'], include: ['python3'], bootstrap_key: '7'.repeat(64) },
    });
    expect(dependency(sums, 'os.source (cloud_image)')).toEqual({ name: 'os.source (cloud_image)', uri: 'https://cloud.debian.org/images/debian-12-genericcloud-amd64.qcow2', annotations: { checksum_file: 'https://cloud.debian.org/images/SHA512SUMS' } });
  });

  it('records a CI run as the runner, the verification boot, and no git dependency outside a checkout', () => {
    const verify = { status: 'passed' as const, booted: true, ssh_host_key_sha256: null, build_account_refused: true, checked_as: 'vaultadmin', gate: { status: 'passed' as const, summary: '3 passed', checks: [] }, sha256_unchanged: true, duration_s: 40, problems: [] };

    const statement = parse(assembleProvenance(input({ manifest: testManifest({ verify }), runner: { kind: 'github-actions', runUrl: 'https://github.com/acme/images/actions/runs/42' } })));

    expect(statement.predicate.runDetails.builder.imagebuild_runner).toBe('https://github.com/acme/images/actions/runs/42');
    expect(statement.predicate.runDetails.imagebuild_verification).toEqual({ status: 'passed', booted: true, gate: 'passed', sha256_unchanged: true });
    expect(dependency(statement, 'imagebuild project (git)')).toBeUndefined();
  });
});

describe('buildRunnerOf', () => {
  it('names a GitHub Actions run by its URL and attempt, anything else as local', () => {
    const github = { GITHUB_ACTIONS: 'true', GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'acme/images', GITHUB_RUN_ID: '42', GITHUB_RUN_ATTEMPT: '2' };

    expect(buildRunnerOf(github)).toEqual({ kind: 'github-actions', runUrl: 'https://github.com/acme/images/actions/runs/42/attempts/2' });
    expect(buildRunnerOf({ ...github, GITHUB_ACTIONS: undefined })).toEqual({ kind: 'local' });
    expect(buildRunnerOf({})).toEqual({ kind: 'local' });
  });
});

describe('restateProvenanceSubjects', () => {
  const exports = [
    { format: 'raw' as const, file: 'vault-cube-demo-box-v1.0.0.raw', sha256: '1'.repeat(64), size_bytes: 1024, bmap: { file: 'vault-cube-demo-box-v1.0.0.raw.bmap', sha256: '2'.repeat(64) } },
    { format: 'vmdk' as const, file: 'vault-cube-demo-box-v1.0.0.vmdk', sha256: '3'.repeat(64), size_bytes: 512 },
  ];

  it('makes the qcow2 and every exported format the subjects, the block maps byproducts, and keeps the rest as built', () => {
    const built = assembleProvenance(input());
    const manifest = { ...input().manifest, exports };

    const restated = parse(restateProvenanceSubjects(built, manifest, 'provenance.intoto.json'));

    expect(restated.subject.map((s) => [s.name, s.digest?.sha256])).toEqual([
      ['vault-cube-demo-box-v1.0.0.qcow2', 'a'.repeat(64)],
      ['vault-cube-demo-box-v1.0.0.raw', '1'.repeat(64)],
      ['vault-cube-demo-box-v1.0.0.vmdk', '3'.repeat(64)],
    ]);
    expect(restated.predicate.runDetails.byproducts?.map((b) => b.name)).toEqual(['sbom.cdx.json', 'vault-cube-demo-box-v1.0.0.raw.bmap']);
    expect({ ...restated, subject: [], predicate: { ...restated.predicate, runDetails: { ...restated.predicate.runDetails, byproducts: [] } } }).toEqual({
      ...parse(built),
      subject: [],
      predicate: { ...parse(built).predicate, runDetails: { ...parse(built).predicate.runDetails, byproducts: [] } },
    });
  });

  it('gives the built text back for a manifest without exports, and the same text however often it runs', () => {
    const built = assembleProvenance(input());
    const manifest = { ...input().manifest, exports };

    const once = restateProvenanceSubjects(built, manifest, 'p.json');

    expect(restateProvenanceSubjects(built, input().manifest, 'p.json')).toBe(built);
    expect(restateProvenanceSubjects(once, manifest, 'p.json')).toBe(once);
    expect(restateProvenanceSubjects(once, input().manifest, 'p.json')).toBe(built);
  });

  it('refuses a file that is not an in-toto statement, naming it', () => {
    expect(() => restateProvenanceSubjects('{"_type":"x"}', input().manifest, 'v1/provenance.intoto.json')).toThrow(/^v1\/provenance\.intoto\.json: not an in-toto Statement v1 as imagebuild writes it \(_type: /);
    expect(() => restateProvenanceSubjects('{', input().manifest, 'p.json')).toThrow(/^p\.json: not JSON/);
  });
});
