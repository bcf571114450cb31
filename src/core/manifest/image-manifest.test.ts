import { describe, expect, it } from 'vitest';
import type { GateCheckResult, GateVerdict } from '../gate/evaluate-gate.js';
import type { GuestFacts } from '../gate/gate-report.js';
import { demoSpecYaml } from '../../../test/helpers/demo-spec-yaml.js';
import { parseSpec } from '../spec/parse-spec.js';
import { LAYER_NAMES, type LayerName } from '../spec/layers.js';
import { catchErrorOf } from '../../../test/helpers/catch-error.js';
import { ManifestInvalidError } from '../../errors/index.js';
import { testManifest } from '../../../test/helpers/test-manifest.js';
import { assembleManifest, exportedFilesOf, ImageManifest, parseManifest, parseStoredManifest, serializeManifest, type ManifestInput, type ManifestLayerInput } from './image-manifest.js';

// The reference's image-manifest.json (epic-1a-architecture.md, "Metadata File"), verbatim: the shape
// the manifest must keep, first and in this order.
const REFERENCE_MANIFEST = JSON.parse(`{
  "name": "vault-cube-demo-box",
  "version": "1.0.0",
  "build_date": "2025-11-15T10:30:00Z",
  "os": "Ubuntu 24.04 LTS",
  "kernel": "6.8.0-45-generic",
  "nvidia_driver": "550.127.05",
  "cuda_version": "12.4.0",
  "frameworks": {
    "pytorch": "2.1.0+cu124",
    "tensorflow": "2.14.0",
    "vllm": "0.2.1"
  },
  "checksum_sha256": "abc123...",
  "size_bytes": 53687091200,
  "packer_version": "1.9.4",
  "ansible_version": "2.15.5"
}`);

// The spec asks for these versions; none of them may appear in a manifest unless facts.py read them.
const SPEC_YAML = demoSpecYaml();
const SPEC = parseSpec(SPEC_YAML, 'demo.yaml').spec;
const SPEC_VERSIONS = ['580.173.02', '13.0.2', '9.28.1', '2.13.0', '2.19.0', '0.29.0'];

const GPU_FACTS: GuestFacts = {
  format: 1,
  os: 'Ubuntu 24.04.3 LTS',
  os_id: 'ubuntu',
  os_version_id: '24.04',
  kernel: '6.8.0-45-generic',
  nvidia_driver: '570.195.03',
  cuda_version: '12.8.93',
  cudnn_version: '9.28.1.4',
  docker_version: '28.3.3',
  container_toolkit_version: '1.20.0',
  python_version: '3.12.3',
  venv: '/opt/ai/venv',
  frameworks: { pytorch: '2.13.0+cu130', tensorflow: '2.19.1', vllm: '0.29.0.1', nccl: '2.31.2' },
  stand_ins: [],
};

const GPU_LESS_FACTS: GuestFacts = {
  ...GPU_FACTS,
  nvidia_driver: null,
  cuda_version: null,
  cudnn_version: null,
  container_toolkit_version: null,
  venv: null,
  frameworks: { pytorch: null, tensorflow: null, vllm: null, nccl: null },
};

const SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const keyOf = (layer: LayerName) => String(LAYER_NAMES.indexOf(layer) + 1).repeat(64);

function check(id: string, gpu: boolean, status: GateCheckResult['status'] = 'pass'): GateCheckResult {
  return status === 'pass'
    ? { check: id, status, measured: 4, expected: '== 4', gpu }
    : { check: id, status, measured: null, expected: '== 4', reason: 'no GPU passed through to this build', gpu };
}

function verdict(layer: LayerName, gpu: 'pass' | 'skipped'): GateVerdict {
  const checks = layer === 'base' ? [check('ssh_listening', false)] : [check(`${layer}_gpus`, true, gpu)];
  const skipped = checks.filter((c) => c.status === 'skipped').map((c) => c.check);
  return { layer, status: 'passed', checks, skipped, gpuValidated: skipped.length === 0, summary: `${layer} gate passed` };
}

function layers(gpu: 'pass' | 'skipped' = 'pass', upTo: LayerName = 'validation'): ManifestLayerInput[] {
  return LAYER_NAMES.slice(0, LAYER_NAMES.indexOf(upTo) + 1).map((layer, index) => ({
    layer,
    key: keyOf(layer),
    parentKey: index === 0 ? null : keyOf(LAYER_NAMES[index - 1]!),
    reused: layer === 'base',
    durationS: 60 * (index + 1),
    verdict: verdict(layer, gpu),
  }));
}

function input(overrides: Partial<ManifestInput> = {}): ManifestInput {
  return {
    spec: SPEC,
    version: '1.1.0',
    buildDate: new Date('2026-11-23T16:05:44.123Z'),
    facts: GPU_FACTS,
    tools: { packer: '1.11.2', ansible: '2.16.3', qemuImg: '8.2.2' },
    artifact: { fileName: 'vault-cube-demo-box-v1.1.0.qcow2', sha256: SHA, sizeBytes: 53_687_091_200 },
    layers: layers(),
    specHash: 'f'.repeat(64),
    gitCommit: '0123456789abcdef0123456789abcdef01234567',
    host: { hostname: 'gpu-host-1', accelerator: 'kvm' },
    durations: { totalS: 5400.5, finalizeS: 120.25 },
    ...overrides,
  };
}

function catchManifestError(run: () => unknown): ManifestInvalidError {
  return catchErrorOf(ManifestInvalidError, run);
}

describe('assembleManifest', () => {
  it("starts with exactly the reference's fields, in the reference's order", () => {
    const text = serializeManifest(assembleManifest(input()));

    const written = JSON.parse(text);
    const referenceKeys = Object.keys(REFERENCE_MANIFEST);
    expect(Object.keys(written).slice(0, referenceKeys.length)).toEqual(referenceKeys);
    expect(Object.keys(written.frameworks)).toEqual(Object.keys(REFERENCE_MANIFEST.frameworks));
    expect(Object.keys(written).slice(referenceKeys.length)).toEqual([
      'components',
      'artifact',
      'qemu_img_version',
      'spec_name',
      'spec_hash',
      'git_commit',
      'host',
      'layers',
      'gpu_validated',
      'durations',
      'facts_source',
      'firmware',
    ]);
  });

  it("records the GPU stack's other installed parts from the facts: cuDNN, the venv's NCCL, the Container Toolkit, Docker", () => {
    const manifest = assembleManifest(input());

    expect(manifest.components).toEqual({ cudnn: '9.28.1.4', nccl: '2.31.2', container_toolkit: '1.20.0', docker: '28.3.3' });
  });

  it("lists the hermetic test mirror's stand-ins an image holds, and says nothing of them in a real image", () => {
    const built = assembleManifest(input({ facts: { ...GPU_FACTS, stand_ins: ['deb:nvidia-open', 'pypi:torch'] } }));
    const real = assembleManifest(input());

    expect(built.stand_ins).toEqual(['deb:nvidia-open', 'pypi:torch']);
    expect(real).not.toHaveProperty('stand_ins');
  });

  it('takes every installed version from the facts and the tools, not the spec', () => {
    const manifest = assembleManifest(input());

    expect(manifest).toMatchObject({
      name: 'vault-cube-demo-box',
      version: '1.1.0',
      os: 'Ubuntu 24.04.3 LTS',
      kernel: '6.8.0-45-generic',
      nvidia_driver: '570.195.03',
      cuda_version: '12.8.93',
      frameworks: { pytorch: '2.13.0+cu130', tensorflow: '2.19.1', vllm: '0.29.0.1' },
      checksum_sha256: SHA,
      size_bytes: 53_687_091_200,
      packer_version: '1.11.2',
      ansible_version: '2.16.3',
      qemu_img_version: '8.2.2',
      artifact: 'vault-cube-demo-box-v1.1.0.qcow2',
    });
  });

  it('writes null, not the spec\'s versions, for what a GPU-less image does not have', () => {
    const manifest = assembleManifest(input({ facts: GPU_LESS_FACTS, layers: layers('skipped') }));

    const text = serializeManifest(manifest);
    const written = JSON.parse(text);
    expect(written.nvidia_driver).toBeNull();
    expect(written.cuda_version).toBeNull();
    expect(written.frameworks).toEqual({ pytorch: null, tensorflow: null, vllm: null });
    expect(Object.keys(written)).toContain('nvidia_driver');
    expect(SPEC.layers.driver.nvidia_driver).toBe('580.173.02');
    for (const version of SPEC_VERSIONS) expect(text).not.toContain(version);
  });

  it('writes the build date in UTC to the second, like the reference', () => {
    const manifest = assembleManifest(input({ buildDate: new Date('2026-11-23T17:05:44.999+01:00') }));

    expect(manifest.build_date).toBe('2026-11-23T16:05:44Z');
  });

  it('records each layer with its key, parent, reuse, duration and gate', () => {
    const manifest = assembleManifest(input());

    expect(manifest.layers.map((l) => l.layer)).toEqual([...LAYER_NAMES]);
    expect(manifest.layers[1]).toEqual({
      layer: 'driver',
      key: keyOf('driver'),
      parent_key: keyOf('base'),
      reused: false,
      duration_s: 120,
      gate: { status: 'passed', gpu_validated: true, checks: [check('driver_gpus', true)] },
    });
    expect(manifest.layers[0]?.parent_key).toBeNull();
    expect(manifest.durations).toEqual({ total_s: 5400.5, finalize_s: 120.25 });
    expect(manifest.host).toEqual({ hostname: 'gpu-host-1', accelerator: 'kvm' });
  });

  it.each([
    { name: 'every GPU check passed', layers: layers('pass'), expected: true },
    { name: 'GPU checks were skipped', layers: layers('skipped'), expected: false },
    { name: 'only the base layer was built (no GPU check ran)', layers: layers('pass', 'base'), expected: false },
    {
      name: 'one layer skipped its GPU checks',
      layers: layers('pass').map((l) => (l.layer === 'validation' ? { ...l, verdict: verdict('validation', 'skipped') } : l)),
      expected: false,
    },
  ])('sets gpu_validated to $expected when $name', ({ layers: chain, expected }) => {
    const manifest = assembleManifest(input({ layers: chain }));

    expect(manifest.gpu_validated).toBe(expected);
  });

  it('names where the facts came from, by default the top layer', () => {
    const defaulted = assembleManifest(input());
    const given = assembleManifest(input({ factsSource: 'facts.py in the seal step' }));

    expect(defaulted.facts_source).toBe("guest/facts.py in the validation layer's build VM");
    expect(given.facts_source).toBe('facts.py in the seal step');
  });

  it('adds version_override only when one was given', () => {
    const plain = assembleManifest(input());
    const overridden = assembleManifest(input({ versionOverride: 'driver hotfix shipped as a patch' }));

    expect(plain).not.toHaveProperty('version_override');
    expect(overridden.version_override).toBe('driver hotfix shipped as a patch');
    expect(Object.keys(JSON.parse(serializeManifest(overridden))).at(-1)).toBe('version_override');
  });

  it('accepts a build outside git', () => {
    const manifest = assembleManifest(input({ gitCommit: null }));

    expect(manifest.git_commit).toBeNull();
  });

  const withLayer = (index: number, change: (l: ManifestLayerInput) => ManifestLayerInput) => layers().map((l, i) => (i === index ? change(l) : l));
  it.each<{ name: string; overrides: Partial<ManifestInput>; fragment: string }>([
    { name: 'a checksum that is not one', overrides: { artifact: { fileName: 'x.qcow2', sha256: 'abc123...', sizeBytes: 1 } }, fragment: 'checksum_sha256: not a SHA-256 digest' },
    { name: 'an upper-case checksum', overrides: { artifact: { fileName: 'x.qcow2', sha256: SHA.toUpperCase(), sizeBytes: 1 } }, fragment: 'checksum_sha256:' },
    { name: 'a checksum one digit short', overrides: { artifact: { fileName: 'x.qcow2', sha256: SHA.slice(1), sizeBytes: 1 } }, fragment: 'checksum_sha256:' },
    { name: 'an empty artifact', overrides: { artifact: { fileName: 'x.qcow2', sha256: SHA, sizeBytes: 0 } }, fragment: 'size_bytes:' },
    { name: 'an artifact path instead of a file name', overrides: { artifact: { fileName: 'output/x.qcow2', sha256: SHA, sizeBytes: 1 } }, fragment: 'artifact: not a plain file name' },
    { name: 'a version with a leading v', overrides: { version: 'v1.1.0' }, fragment: 'version: not a release version' },
    { name: 'a version that is not semver', overrides: { version: '1.1' }, fragment: 'version: not a release version' },
    { name: 'a build date that is not a date', overrides: { buildDate: new Date('not a date') }, fragment: 'build_date:' },
    { name: 'facts without an OS', overrides: { facts: { ...GPU_FACTS, os: null } }, fragment: 'os:' },
    { name: 'facts without a kernel', overrides: { facts: { ...GPU_FACTS, kernel: null } }, fragment: 'kernel:' },
    { name: 'a tool version that could not be read', overrides: { tools: { packer: 'unknown', ansible: '2.16.3', qemuImg: '8.2.2' } }, fragment: 'packer_version: not a tool version' },
    { name: 'a git ref instead of a commit', overrides: { gitCommit: 'main' }, fragment: 'git_commit:' },
    { name: 'a spec hash that is not one', overrides: { specHash: 'abc' }, fragment: 'spec_hash:' },
    { name: 'no layers', overrides: { layers: [] }, fragment: 'layers:' },
    { name: 'layers out of order', overrides: { layers: [...layers()].reverse() }, fragment: 'layers.0.layer: expected base' },
    { name: 'a broken parent chain', overrides: { layers: withLayer(2, (l) => ({ ...l, parentKey: keyOf('base') })) }, fragment: 'layers.2.parent_key: expected' },
    {
      name: 'a failed gate',
      overrides: { layers: withLayer(1, (l) => ({ ...l, verdict: { ...l.verdict, status: 'failed' } })) },
      fragment: 'layers.1.gate.status: gate failed',
    },
    { name: 'a negative duration', overrides: { durations: { totalS: -1, finalizeS: 0 } }, fragment: 'durations.total_s:' },
  ])('refuses $name', ({ overrides, fragment }) => {
    const error = catchManifestError(() => assembleManifest(input(overrides)));

    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.message).toMatch(/^image-manifest\.json: vault-cube-demo-box v\S+: /);
    expect(error.message).toContain(fragment);
    expect(error.message).not.toContain('\n');
  });
});

describe('serializeManifest', () => {
  it('round-trips through ImageManifest.parse', () => {
    const manifest = assembleManifest(input({ versionOverride: 'hotfix', facts: GPU_LESS_FACTS, layers: layers('skipped') }));

    const text = serializeManifest(manifest);
    const parsed = ImageManifest.parse(JSON.parse(text));

    expect(parsed).toEqual(manifest);
    expect(serializeManifest(parsed)).toBe(text);
  });

  it('writes 2-space indented JSON with a trailing newline', () => {
    const text = serializeManifest(assembleManifest(input()));

    expect(text.startsWith('{\n  "name": "vault-cube-demo-box",\n  "version": "1.1.0",\n')).toBe(true);
    expect(text.endsWith('}\n')).toBe(true);
    expect(text.endsWith('}\n\n')).toBe(false);
  });

  it('writes the same text whatever order the object was built in', () => {
    const manifest = assembleManifest(input());
    const shuffled = Object.fromEntries(Object.entries(manifest).reverse());

    const text = serializeManifest(ImageManifest.parse(shuffled));

    expect(text).toBe(serializeManifest(manifest));
    expect(Object.keys(JSON.parse(text))[0]).toBe('name');
  });

  it.each([
    { name: 'a bad checksum', change: { checksum_sha256: 'abc123...' }, fragment: 'checksum_sha256:' },
    { name: 'a field the schema does not know', change: { signed_by: 'someone' }, fragment: 'signed_by' },
    { name: 'a framework omitted instead of null', change: { frameworks: { pytorch: null, tensorflow: null } }, fragment: 'frameworks.vllm:' },
  ])('refuses to write a manifest with $name', ({ change, fragment }) => {
    const manifest = { ...assembleManifest(input()), ...change };

    // Deliberately ill-typed: serializeManifest must not trust its argument's type.
    const error = catchManifestError(() => serializeManifest(manifest as ImageManifest));

    expect(error.message).toContain(fragment);
  });

  it('refuses gpu_validated true when a layer skipped its GPU checks', () => {
    const manifest = { ...assembleManifest(input({ layers: layers('skipped') })), gpu_validated: true };

    const result = ImageManifest.safeParse(manifest);

    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['gpu_validated']);
  });
});

describe('parseStoredManifest (a manifest a newer imagebuild may have written)', () => {
  const stored = () => {
    const manifest = JSON.parse(JSON.stringify(testManifest())) as Record<string, unknown> & { host: Record<string, unknown>; layers: { gate: { checks: Record<string, unknown>[] } }[] };
    manifest.attestation = { kind: 'sigstore', bundle: 'x' };
    manifest.host.cpu_model = 'AMD EPYC 9654';
    manifest.layers[0]!.gate.checks[0]!.duration_s = 0.2;
    return manifest;
  };

  it('drops fields it does not know, at every level, and keeps every known one', () => {
    const parsed = parseStoredManifest(stored(), 'store/box/v1.0.0/image-manifest.json');

    expect(parsed).toEqual(testManifest());
    expect(serializeManifest(parsed)).toBe(serializeManifest(testManifest()));
  });

  it('validates the known fields as strictly as the manifests this imagebuild writes, and the spec-side reader stays strict', () => {
    const wrong = { ...stored(), size_bytes: '1024' };

    expect(() => parseStoredManifest(wrong, 'store/m.json')).toThrow(/store\/m\.json: size_bytes: /);
    expect(() => parseStoredManifest({ ...stored(), layers: [] }, 'store/m.json')).toThrow(ManifestInvalidError);
    expect(() => parseManifest(stored(), 'output/m.json')).toThrow(/output\/m\.json: .*Unrecognized key/);
  });
});

describe('the release files a manifest names (sbom, provenance)', () => {
  const files = { sbom: { file: 'sbom.cdx.json', sha256: 'c'.repeat(64) }, provenance: { file: 'provenance.intoto.json', sha256: 'd'.repeat(64) } };

  it('round-trip through the writer, after every field that came before them', () => {
    const text = serializeManifest({ ...testManifest(), ...files });

    expect(parseManifest(JSON.parse(text), 'test')).toMatchObject(files);
    expect(Object.keys(JSON.parse(text)).slice(-2)).toEqual(['sbom', 'provenance']);
  });

  it('are optional: a manifest written before releases had them still reads', () => {
    const { sbom: _sbom, provenance: _provenance, ...older } = { ...testManifest(), ...files };

    expect(parseManifest(older, 'test').sbom).toBeUndefined();
  });

  it('must name a plain file and its SHA-256', () => {
    const error = catchErrorOf(ManifestInvalidError, () => parseManifest({ ...testManifest(), sbom: { file: '../sbom.cdx.json', sha256: 'c'.repeat(64) } }, 'test'));

    expect(error.message).toMatch(/test: sbom.file: not a plain file name$/);
  });
});

describe('the exports a manifest records (imagebuild export)', () => {
  const exports = [
    { format: 'raw', file: 'box-v1.0.0.raw', sha256: '1'.repeat(64), size_bytes: 64 * 1024 * 1024, bmap: { file: 'box-v1.0.0.raw.bmap', sha256: '2'.repeat(64) } },
    { format: 'vmdk', file: 'box-v1.0.0.vmdk', sha256: '3'.repeat(64), size_bytes: 4096 },
  ] as const;

  it('round-trip through the writer, last, and list each exported file then its block map', () => {
    const text = serializeManifest({ ...testManifest(), exports: [...exports] });

    expect(Object.keys(JSON.parse(text)).at(-1)).toBe('exports');
    const parsed = parseManifest(JSON.parse(text), 'test');
    expect(parsed.exports).toEqual(exports);
    expect(exportedFilesOf(parsed).map((f) => f.file)).toEqual(['box-v1.0.0.raw', 'box-v1.0.0.raw.bmap', 'box-v1.0.0.vmdk']);
  });

  it('are optional: manifests from before export read, from output/ and from a store', () => {
    const older = JSON.parse(JSON.stringify(testManifest())) as Record<string, unknown>;

    expect(parseManifest(older, 'output/m.json').exports).toBeUndefined();
    expect(parseStoredManifest(older, 'store/m.json').exports).toBeUndefined();
    expect(exportedFilesOf(parseManifest(older, 'output/m.json'))).toEqual([]);
  });

  it('name a known format once each here, while a store may hold formats a newer imagebuild added', () => {
    const future = { ...JSON.parse(JSON.stringify(testManifest())), exports: [{ format: 'vhdx', file: 'box-v1.0.0.vhdx', sha256: '4'.repeat(64), size_bytes: 1, compression: 'none' }] };

    expect(() => parseManifest(future, 'output/m.json')).toThrow(/output\/m\.json: exports\.0\.format: not an export format; valid formats: raw, raw\.xz, vmdk/);
    expect(parseStoredManifest(future, 'store/m.json').exports).toEqual([{ format: 'vhdx', file: 'box-v1.0.0.vhdx', sha256: '4'.repeat(64), size_bytes: 1 }]);
    expect(() => parseManifest({ ...testManifest(), exports: [exports[1], exports[1]] }, 'output/m.json')).toThrow(/exports\.1\.format: vmdk is listed twice/);
    expect(() => parseManifest({ ...testManifest(), exports: [{ ...exports[1], file: '../x.vmdk' }] }, 'output/m.json')).toThrow(/exports\.0\.file: not a plain file name/);
  });
});
