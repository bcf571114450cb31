// Tests may read the shipped manifests they check; the purity rule is for the core's production code.
import { readFileSync } from 'node:fs';
import { parseDocument, type Document } from 'yaml';
import { describe, expect, it } from 'vitest';

import { catchErrorOf } from '../../../test/helpers/catch-error.js';
import { SpecInvalidError } from '../../errors/index.js';
import { parseSpec } from './parse-spec.js';

const DEMO_FILE = 'manifests/vault-cube-demo-box.yaml';
const LOCAL_DEV_FILE = 'manifests/local-dev.yaml';
const DEMO_TEXT = readFileSync(new URL(`../../../${DEMO_FILE}`, import.meta.url), 'utf8');
const LOCAL_DEV_TEXT = readFileSync(new URL(`../../../${LOCAL_DEV_FILE}`, import.meta.url), 'utf8');
const FILE = 'specs/box.yaml';

const P2P_WARNING = /^[^:]+: hardware\.gpu\.count: 4x NVIDIA GeForce RTX 5090 have no PCIe peer-to-peer, so NCCL runs without P2P/;
const TENSORFLOW_WARNING = /^[^:]+: layers\.frameworks\.tensorflow\.version: TensorFlow 2\.21 wheels ship kernels up to compute_90 and none for sm_120 \(NVIDIA GeForce RTX 5090\): the first GPU op fails at run time/;

/** The demo box's YAML after `mutate` edits it (comments and layout kept). */
function demoWith(mutate: (doc: Document) => void): string {
  const doc = parseDocument(DEMO_TEXT);
  mutate(doc);
  return doc.toString();
}

/** The demo box's YAML without the field or section at `dotted`; throws if the demo has no such path, so a typo cannot pass as a default. */
function demoWithout(dotted: string): string {
  return demoWith((doc) => {
    if (!doc.hasIn(pathOf(dotted))) throw new Error(`the demo box has no ${dotted} to omit`);
    doc.deleteIn(pathOf(dotted));
  });
}

/** Splits `a.b.0.c` into YAML/object path segments, list indexes as numbers. */
function pathOf(dotted: string): (string | number)[] {
  return dotted.split('.').map((segment) => (/^\d+$/.test(segment) ? Number(segment) : segment));
}

function valueAt(value: unknown, dotted: string): unknown {
  return pathOf(dotted).reduce<unknown>((current, key) => (current !== null && typeof current === 'object' ? Reflect.get(current, key) : undefined), value);
}

/** The error parseSpec throws for `text`; fails the test if it accepts the text or throws anything else. */
function refusalOf(text: string): SpecInvalidError {
  return catchErrorOf(SpecInvalidError, () => parseSpec(text, FILE), 'parseSpec to refuse the spec, but it accepted it');
}

describe('parseSpec on the shipped manifests', () => {
  it('accepts the demo box with exactly the peer-to-peer warning, also on its build date', () => {
    const text = DEMO_TEXT;

    const { spec, warnings } = parseSpec(text, DEMO_FILE, { today: '2026-12-05' });

    expect(spec.name).toBe('vault-cube-demo-box');
    expect(warnings).toEqual([expect.stringMatching(P2P_WARNING)]);
    expect(warnings.every((w) => w.startsWith(`${DEMO_FILE}: `))).toBe(true);
  });

  it('warns that TensorFlow fails at run time on sm_120 when the demo box adds it', () => {
    const text = demoWith((doc) => doc.setIn(['layers', 'frameworks', 'tensorflow'], doc.createNode({ version: '2.21.0' })));

    const { warnings } = parseSpec(text, DEMO_FILE);

    expect(warnings).toContainEqual(expect.stringMatching(TENSORFLOW_WARNING));
    expect(warnings.join('\n')).toContain('CUDA_ERROR_INVALID_PTX');
  });

  it("refuses the first demo box's stack with the fact that breaks each part, and warns that R570 is past end of life", () => {
    const text = demoWith((doc) => {
      doc.setIn(['layers', 'driver', 'nvidia_driver'], '570.172.08');
      doc.setIn(['layers', 'driver', 'cuda'], '12.8.1');
      doc.setIn(['layers', 'driver', 'cudnn'], '9.10.2');
      doc.setIn(['layers', 'runtime', 'container_toolkit'], '1.17.8');
      doc.setIn(['layers', 'frameworks', 'pytorch'], doc.createNode({ version: '2.7.1', cuda_variant: 'cu128' }));
      doc.deleteIn(['layers', 'frameworks', 'nccl']);
      doc.setIn(['layers', 'frameworks', 'vllm', 'version'], '0.10.0');
    });

    const error = refusalOf(text);

    expect(error.problems).toEqual([
      expect.stringMatching(/layers\.frameworks\.pytorch\.version: torch 2\.7\.1\+cu128 bundles NCCL 2\.26\.2, which hits an illegal memory access on all-reduces of 512 KiB and more on 4x NVIDIA GeForce RTX 5090 .*nccl\/issues\/2418/),
      expect.stringMatching(/layers\.runtime\.container_toolkit: NVIDIA Container Toolkit 1\.17\.8 is exposed to CVE-2026-24260 .*use >= 1\.19\.1/),
    ]);
  });

  it('warns that R570, the first demo box\'s branch, is past end of life on the build date', () => {
    const text = demoWith((doc) => {
      doc.setIn(['layers', 'driver', 'nvidia_driver'], '570.172.08');
      doc.setIn(['layers', 'driver', 'cuda'], '12.8.1');
      doc.setIn(['layers', 'driver', 'cudnn'], '9.10.2');
      doc.setIn(['layers', 'frameworks', 'pytorch'], doc.createNode({ version: '2.7.1', cuda_variant: 'cu128' }));
      doc.setIn(['layers', 'frameworks', 'vllm', 'version'], '0.10.0');
    });

    const { warnings } = parseSpec(text, DEMO_FILE, { today: '2026-12-05' });

    expect(warnings).toContainEqual(expect.stringMatching(/layers\.driver\.nvidia_driver: driver branch R570 is past end of life \(ended February 2026\) on 2026-12-05 and gets no security fixes; supported branches: R620 .*R595 .*R580/));
  });

  it('warns on the build date when the driver branch is past end of life, naming the supported branches', () => {
    const text = demoWith((doc) => doc.setIn(['layers', 'driver', 'nvidia_driver'], '595.71.05'));

    const before = parseSpec(text, DEMO_FILE, { today: '2026-12-05' }).warnings;
    const after = parseSpec(text, DEMO_FILE, { today: '2027-03-01' }).warnings;

    expect(before).toContainEqual(expect.stringMatching(/layers\.driver\.nvidia_driver: driver branch R595 reaches end of life in March 2027 \(86 days after 2026-12-05\)/));
    expect(after).toContainEqual(expect.stringMatching(/layers\.driver\.nvidia_driver: driver branch R595 is past end of life \(ended March 2027\) on 2027-03-01 .*supported branches: R620 \(Long Term Support, end of life September 2029\), R580 \(Long Term Support, end of life June 2028\)$/));
  });

  it("refuses Canonical's driver packages on a distribution other than Ubuntu", () => {
    const text = LOCAL_DEV_TEXT.replace('source: nvidia', 'source: ubuntu');

    const error = refusalOf(text);

    expect(error.problems).toEqual([`${FILE}: layers.driver.source: ubuntu (Canonical's signed prebuilt modules) exists only on Ubuntu, spec has debian; use nvidia`]);
  });

  it('accepts local-dev with only the peer-to-peer warning', () => {
    const text = LOCAL_DEV_TEXT;

    const { spec, warnings } = parseSpec(text, LOCAL_DEV_FILE);

    expect(spec.name).toBe('local-dev');
    expect(warnings).toEqual([expect.stringMatching(P2P_WARNING)]);
    expect(warnings[0]).toMatch(new RegExp(`^${LOCAL_DEV_FILE}: `));
  });
});

describe('parseSpec defaults', () => {
  it.each([
    { omit: 'layers.validation.gate.ddp_min_scaling_efficiency', field: 'layers.validation.gate.ddp_min_scaling_efficiency', expected: 0.8 },
    { omit: 'layers.validation.gate.soak_duration', field: 'layers.validation.gate.soak_duration', expected: '24h' },
    { omit: 'layers.validation.gate', field: 'layers.validation.gate.soak_duration', expected: '24h' },
    { omit: 'artifacts.retention', field: 'artifacts.retention', expected: 3 },
    { omit: 'artifacts', field: 'artifacts.retention', expected: 3 },
    { omit: 'cache', field: 'cache.dir', expected: '.imagebuild/cache' },
    { omit: 'output', field: 'output.dir', expected: 'output' },
    { omit: 'os.locale', field: 'os.locale', expected: 'en_US.UTF-8' },
    { omit: 'os.timezone', field: 'os.timezone', expected: 'UTC' },
    { omit: 'hardware.build_vm.accelerator', field: 'hardware.build_vm.accelerator', expected: 'auto' },
    { omit: 'users.0.sudo', field: 'users.0.sudo', expected: 'nopasswd' },
    { omit: 'layers.base.ssh', field: 'layers.base.ssh.port', expected: 22 },
    { omit: 'layers.base.firewall', field: 'layers.base.firewall.allow_tcp', expected: [22] },
    { omit: 'layers.driver.persistenced', field: 'layers.driver.persistenced', expected: true },
    { omit: 'layers.driver.gate', field: 'layers.driver.gate.max_idle_temp_c', expected: 60 },
    { omit: 'layers.frameworks.gate', field: 'layers.frameworks.gate.matmul_size', expected: 4096 },
  ])('sets $field to $expected when $omit is omitted', ({ omit, field, expected }) => {
    const text = demoWithout(omit);

    const { spec } = parseSpec(text, FILE);

    expect(valueAt(spec, field)).toEqual(expected);
  });

  // A section's default is a literal in schema.ts; it must not drift from the defaults of the fields inside it.
  it.each([
    'layers.base.ssh',
    'layers.base.firewall',
    'layers.base.fail2ban',
    'layers.base.unattended_upgrades',
    'layers.base.gate',
    'layers.driver.gate',
    'layers.frameworks.pip',
    'layers.frameworks.gate',
    'layers.validation.tuning',
    'layers.validation.gate',
    'cache',
    'output',
    'artifacts',
  ])('gives %s the same value whether it is omitted or empty', (section) => {
    const omitted = demoWithout(section);
    const empty = demoWith((doc) => doc.setIn(pathOf(section), {}));

    const fromOmitted = valueAt(parseSpec(omitted, FILE).spec, section);
    const fromEmpty = valueAt(parseSpec(empty, FILE).spec, section);

    expect(fromOmitted).toEqual(fromEmpty);
  });
});

describe('parseSpec problems', () => {
  it('reports every problem at once, one line each', () => {
    const text = demoWith((doc) => {
      doc.setIn(['os', 'hostname'], 'Vault_Cube');
      doc.setIn(['hardware', 'build_vm', 'accelerator'], 'hvf');
      doc.deleteIn(['layers', 'runtime', 'container_toolkit']);
    });

    const error = refusalOf(text);

    expect(error.problems).toEqual([
      `${FILE}: os.hostname: not a hostname; lower-case letters, digits and - (RFC 1123)`,
      `${FILE}: hardware.build_vm.accelerator: unknown accelerator; valid: auto, kvm, tcg`,
      `${FILE}: layers.runtime.container_toolkit: missing; required (string)`,
    ]);
    expect(error.exitCode).toBe(2);
    expect(error.code).toBe('SPEC_INVALID');
  });

  it('suggests the nearest valid key for a typo', () => {
    const text = demoWith((doc) => {
      doc.setIn(['layers', 'driver', 'nvidia_drvier'], doc.getIn(['layers', 'driver', 'nvidia_driver']));
      doc.deleteIn(['layers', 'driver', 'nvidia_driver']);
    });

    const error = refusalOf(text);

    expect(error.problems).toEqual([
      `${FILE}: layers.driver.nvidia_driver: missing; required (string)`,
      `${FILE}: layers.driver.nvidia_drvier: unknown key; did you mean "nvidia_driver"? valid keys: nvidia_driver, kernel_module, source, repository, cuda, cudnn, persistenced, gate`,
    ]);
  });

  it('lists the valid keys without guessing when no key is close', () => {
    const text = demoWith((doc) => doc.setIn(['layers', 'driver', 'zzzzzzzz'], 1));

    const error = refusalOf(text);

    expect(error.problems).toEqual([
      `${FILE}: layers.driver.zzzzzzzz: unknown key; valid keys: nvidia_driver, kernel_module, source, repository, cuda, cudnn, persistenced, gate`,
    ]);
  });

  it("refuses the reference document's versions on an RTX 5090 and hints the minimums", () => {
    const text = demoWith((doc) => {
      doc.setIn(['layers', 'driver', 'nvidia_driver'], '550.127.05');
      doc.setIn(['layers', 'driver', 'cuda'], '12.4.0');
      doc.setIn(['layers', 'frameworks', 'pytorch', 'version'], '2.1.0');
      doc.setIn(['layers', 'frameworks', 'pytorch', 'cuda_variant'], 'cu121');
    });

    const error = refusalOf(text);

    expect(error.problems).toEqual(
      expect.arrayContaining([
        `${FILE}: layers.driver.nvidia_driver: NVIDIA driver 550.127.05 cannot drive NVIDIA GeForce RTX 5090 (Blackwell, sm_120); needs driver >= 570.86.16`,
        `${FILE}: layers.driver.cuda: CUDA 12.4 has no support for sm_120 (NVIDIA GeForce RTX 5090); needs CUDA >= 12.8`,
        `${FILE}: layers.frameworks.pytorch.version: PyTorch 2.1 wheels ship no kernels for sm_120 (NVIDIA GeForce RTX 5090); needs PyTorch >= 2.7 with cu128 wheels`,
      ]),
    );
    expect(error.hints).toHaveLength(1);
    expect(error.hints[0]).toMatch(/^minimums for NVIDIA GeForce RTX 5090 \(Blackwell, sm_120\): /);
    expect(error.hints[0]).toMatch(/NVIDIA driver >= 570\b/);
    expect(error.hints[0]).toMatch(/CUDA >= 12\.8\b/);
    expect(error.hints[0]).toMatch(/PyTorch >= 2\.7 with cu128 wheels/);
  });

  it('gives no minimums hint when the stack is fine and only the schema is violated', () => {
    const text = demoWith((doc) => doc.setIn(['name'], 'Bad Name'));

    const error = refusalOf(text);

    expect(error.problems).toHaveLength(1);
    expect(error.hints).toEqual([]);
  });

  it.each([
    { what: 'an empty file', text: '' },
    { what: 'a file of comments only', text: '# nothing here\n' },
    { what: 'a top-level list', text: '- name: vault-cube-demo-box\n' },
    { what: 'a top-level string', text: 'vault-cube-demo-box\n' },
  ])('refuses $what as not a mapping', ({ text }) => {
    const input = text;

    const error = refusalOf(input);

    expect(error.problems).toEqual([
      `${FILE}: (root): expected a YAML mapping with name, os, users, hardware and layers; see manifests/vault-cube-demo-box.yaml`,
    ]);
  });

  it('refuses duplicate keys as a YAML error instead of keeping the last one', () => {
    const text = `${DEMO_TEXT}\nname: another-box\n`;

    const error = refusalOf(text);

    expect(error.problems).toEqual([expect.stringMatching(new RegExp(`^${FILE}(:\\d+:\\d+)?: YAML syntax error: Map keys must be unique`))]);
  });
});

// Regression tests for bugs found by the bad-spec corpus (wrong types read as missing, multi-line
// problems, unresolved aliases crashing, YAML errors without a position, URLs with newlines).
describe('parseSpec regressions', () => {
  // zod 4 leaves `issue.input` out unless parsed with { reportInput: true }, so describeIssue sees undefined.
  it('reports a value of the wrong type as wrong, not as missing', () => {
    const text = demoWith((doc) => doc.setIn(['hardware', 'gpu', 'count'], '4'));

    const error = refusalOf(text);

    expect(error.problems).toEqual([`${FILE}: hardware.gpu.count: expected number, got string; give a number`]);
  });

  it('keeps the "quote the version" advice for an unquoted YAML float', () => {
    const text = demoWith((doc) => doc.setIn(['layers', 'driver', 'cuda'], 12.8));

    const error = refusalOf(text);

    expect(error.problems).toEqual([`${FILE}: layers.driver.cuda: expected CUDA version as a quoted string; e.g. "13.0.2"`]);
  });

  it('names the out-of-range value', () => {
    const text = demoWith((doc) => doc.setIn(['os', 'disk_size_gib'], -5));

    const error = refusalOf(text);

    expect(error.problems).toEqual([`${FILE}: os.disk_size_gib: -5 is too small; minimum 4`]);
  });

  it('names the bad value of an enum without a custom message', () => {
    const text = demoWith((doc) => doc.setIn(['users', 0, 'sudo'], 'always'));

    const error = refusalOf(text);

    expect(error.problems).toEqual([`${FILE}: users[0].sudo: got "always"; valid: nopasswd, none`]);
  });

  // formatIssue joins the keys of one unrecognized_keys issue with '\n' into a single problem.
  it('reports two unknown keys in one mapping as two one-line problems', () => {
    const text = demoWith((doc) => {
      doc.setIn(['os', 'disk'], 200);
      doc.setIn(['os', 'host'], 'vault-cube');
    });

    const error = refusalOf(text);

    expect(error.problems).toHaveLength(2);
    expect(error.problems.every((line) => !line.includes('\n'))).toBe(true);
  });

  // doc.toJS() throws a ReferenceError for these; parseSpec does not catch it, so the CLI exits 70 with a stack.
  it.each([
    { what: 'an alias to an undefined anchor', text: 'name: *nowhere\n' },
    { what: 'an alias bomb', text: 'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n' },
  ])('refuses $what as a spec problem, not a crash', ({ text }) => {
    const parse = () => parseSpec(text, FILE);

    expect(parse).toThrow(SpecInvalidError);
  });

  // parseDocument runs with prettyErrors: false, which leaves linePos unset, so the location is never printed.
  it('names the line and column of a YAML syntax error', () => {
    const text = DEMO_TEXT.replace('distro: ubuntu', 'distro: [ubuntu');

    const error = refusalOf(text);

    expect(error.problems[0]).toMatch(new RegExp(`^${FILE}:\\d+:\\d+: YAML syntax error: `));
  });

  // z.url() strips tabs and newlines before parsing (WHATWG URL rules) and the http(s) regex is not anchored at the end.
  it('refuses a URL with an embedded newline', () => {
    const text = demoWith((doc) => doc.setIn(['os', 'source', 'url'], 'https://releases.ubuntu.com/24.04.3/ubuntu.iso\niso_checksum = "none"'));

    const error = refusalOf(text);

    expect(error.problems).toEqual([expect.stringMatching(new RegExp(`^${FILE}: os\\.source\\.url: `))]);
  });
});
