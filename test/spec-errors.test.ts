import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseDocument, type Document } from 'yaml';
import { beforeEach, describe, expect, it } from 'vitest';

import { runCli } from '../src/cli/main.js';
import { createOutput } from '../src/cli/output.js';
import { listTree, useTempDir } from './helpers/temp-dir.js';

// Every bad spec is the demo box with one mistake, written to a temporary project and fed to the real CLI.

const DEMO_TEXT = await readFile(new URL('../manifests/vault-cube-demo-box.yaml', import.meta.url), 'utf8');

const A_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5xIzS2sxbaXaj99WyngVs5C0FroKgeI9aXsY+y8Xpi';

type BadSpec = {
  readonly name: string;
  /** Field path as printed between the file name and the message; `(root)` or `YAML syntax error` for whole-file problems. */
  readonly expectedPath: string;
  readonly expectedFragment: string;
} & (
  | {
      /** Edits the parsed demo box (comments and layout kept); the result is written back as YAML. */
      readonly mutate: (doc: Document) => void;
    }
  | {
      /** Rewrites the demo box's text, for mistakes a YAML document cannot hold (syntax errors, duplicate keys). */
      readonly rewrite: (demo: string) => string;
    }
);

/** The demo box's YAML after `mutate` edits it. */
function demoWith(mutate: (doc: Document) => void): string {
  const doc = parseDocument(DEMO_TEXT);
  mutate(doc);
  return doc.toString();
}

function specTextOf(bad: BadSpec): string {
  return 'rewrite' in bad ? bad.rewrite(DEMO_TEXT) : demoWith(bad.mutate);
}

function renameKey(doc: Document, path: readonly string[], from: string, to: string): void {
  doc.setIn([...path, to], doc.getIn([...path, from]));
  doc.deleteIn([...path, from]);
}

const BAD_SPECS: readonly BadSpec[] = [
  // Missing required fields
  { name: 'missing name', mutate: (d) => d.deleteIn(['name']), expectedPath: 'name', expectedFragment: 'missing; required' },
  { name: 'missing os', mutate: (d) => d.deleteIn(['os']), expectedPath: 'os', expectedFragment: 'missing; required section' },
  { name: 'missing users', mutate: (d) => d.deleteIn(['users']), expectedPath: 'users', expectedFragment: 'missing; required' },
  { name: 'missing hardware', mutate: (d) => d.deleteIn(['hardware']), expectedPath: 'hardware', expectedFragment: 'missing; required section' },
  { name: 'missing cuda', mutate: (d) => d.deleteIn(['layers', 'driver', 'cuda']), expectedPath: 'layers.driver.cuda', expectedFragment: 'missing; required' },
  { name: 'empty user list', mutate: (d) => d.setIn(['users'], []), expectedPath: 'users', expectedFragment: 'give at least one login user' },
  { name: 'user without keys', mutate: (d) => d.setIn(['users', 0, 'ssh_authorized_keys'], []), expectedPath: 'users[0].ssh_authorized_keys', expectedFragment: 'give at least one public key' },
  // Unknown keys at several depths
  { name: 'unknown root key', mutate: (d) => renameKey(d, [], 'name', 'nmae'), expectedPath: 'nmae', expectedFragment: 'did you mean "name"?' },
  { name: 'unknown key in os.source', mutate: (d) => d.setIn(['os', 'source', 'sha256'], 'abc'), expectedPath: 'os.source.sha256', expectedFragment: 'unknown key; valid keys: kind, url, checksum' },
  { name: 'unknown key in pytorch', mutate: (d) => d.setIn(['layers', 'frameworks', 'pytorch', 'cuda'], '12.8'), expectedPath: 'layers.frameworks.pytorch.cuda', expectedFragment: 'unknown key; valid keys: version, cuda_variant, index_url' },
  { name: 'typo nvidia_drvier', mutate: (d) => renameKey(d, ['layers', 'driver'], 'nvidia_driver', 'nvidia_drvier'), expectedPath: 'layers.driver.nvidia_drvier', expectedFragment: 'did you mean "nvidia_driver"?' },
  // Bad enums
  { name: 'accelerator hvf', mutate: (d) => d.setIn(['hardware', 'build_vm', 'accelerator'], 'hvf'), expectedPath: 'hardware.build_vm.accelerator', expectedFragment: 'valid: auto, kvm, tcg' },
  { name: 'kernel module closed', mutate: (d) => d.setIn(['layers', 'driver', 'kernel_module'], 'closed'), expectedPath: 'layers.driver.kernel_module', expectedFragment: 'valid: open, proprietary' },
  { name: 'gpu model rtx-9999', mutate: (d) => d.setIn(['hardware', 'gpu', 'model'], 'rtx-9999'), expectedPath: 'hardware.gpu.model', expectedFragment: 'unknown GPU model; valid: rtx-5090' },
  { name: 'os source kind dvd', mutate: (d) => d.setIn(['os', 'source', 'kind'], 'dvd'), expectedPath: 'os.source.kind', expectedFragment: 'valid kinds: iso, cloud_image, bootstrap' },
  // Impossible GPU stacks on RTX 5090
  { name: 'driver 550', mutate: (d) => d.setIn(['layers', 'driver', 'nvidia_driver'], '550.127.05'), expectedPath: 'layers.driver.nvidia_driver', expectedFragment: 'needs driver >= 570.86.16' },
  { name: 'cuda 12.4', mutate: (d) => d.setIn(['layers', 'driver', 'cuda'], '12.4.0'), expectedPath: 'layers.driver.cuda', expectedFragment: 'needs CUDA >= 12.8' },
  {
    name: 'pytorch 2.1 cu121',
    mutate: (d) => {
      d.setIn(['layers', 'frameworks', 'pytorch', 'version'], '2.1.0');
      d.setIn(['layers', 'frameworks', 'pytorch', 'cuda_variant'], 'cu121');
    },
    expectedPath: 'layers.frameworks.pytorch.version',
    expectedFragment: 'needs PyTorch >= 2.7 with cu128 wheels',
  },
  { name: 'proprietary modules on blackwell', mutate: (d) => d.setIn(['layers', 'driver', 'kernel_module'], 'proprietary'), expectedPath: 'layers.driver.kernel_module', expectedFragment: 'does not support Blackwell; use open' },
  { name: 'vllm pins another torch', mutate: (d) => d.setIn(['layers', 'frameworks', 'pytorch', 'version'], '2.8.0'), expectedPath: 'layers.frameworks.vllm.version', expectedFragment: 'vLLM 0.29.0 pins torch 2.13.0, spec has 2.8.0' },
  { name: 'broken nccl pinned on 4x sm_120', mutate: (d) => d.setIn(['layers', 'frameworks', 'nccl', 'version'], '2.26.2'), expectedPath: 'layers.frameworks.nccl.version', expectedFragment: 'NCCL 2.26.2 (pinned), which hits an illegal memory access on all-reduces of 512 KiB and more on 4x NVIDIA GeForce RTX 5090' },
  { name: 'container toolkit with a CVE', mutate: (d) => d.setIn(['layers', 'runtime', 'container_toolkit'], '1.17.8'), expectedPath: 'layers.runtime.container_toolkit', expectedFragment: 'exposed to CVE-2026-24260' },
  { name: 'cudnn without a CUDA 13 build', mutate: (d) => d.setIn(['layers', 'driver', 'cudnn'], '9.10.2'), expectedPath: 'layers.driver.cudnn', expectedFragment: 'has no build for CUDA 13' },
  { name: 'vllm wheels for another torch build', mutate: (d) => d.setIn(['layers', 'frameworks', 'pytorch', 'cuda_variant'], 'cu132'), expectedPath: 'layers.frameworks.pytorch.cuda_variant', expectedFragment: "vLLM 0.29.0's wheels are built for torch 2.13.0+cu130, spec has cu132" },
  { name: 'driver source unknown', mutate: (d) => d.setIn(['layers', 'driver', 'source'], 'canonical'), expectedPath: 'layers.driver.source', expectedFragment: 'valid: ubuntu (Canonical-signed prebuilt modules), nvidia (NVIDIA repository, DKMS)' },
  { name: 'cuda repository with newline', mutate: (d) => d.setIn(['layers', 'driver', 'repository', 'url'], 'https://mirror.example/cuda\nevil'), expectedPath: 'layers.driver.repository.url', expectedFragment: 'not an http(s) URL' },
  { name: 'nccl version malformed', mutate: (d) => d.setIn(['layers', 'frameworks', 'nccl', 'version'], '2.31.2-1'), expectedPath: 'layers.frameworks.nccl.version', expectedFragment: 'not a NCCL version' },
  { name: 'driver as a bare branch', mutate: (d) => d.setIn(['layers', 'driver', 'nvidia_driver'], '580'), expectedPath: 'layers.driver.nvidia_driver', expectedFragment: 'not a driver version; use 2 to 3 dotted numbers, e.g. "580.173.02"' },
  { name: 'cuda as a bare major', mutate: (d) => d.setIn(['layers', 'driver', 'cuda'], '13'), expectedPath: 'layers.driver.cuda', expectedFragment: 'not a CUDA version; use 2 to 3 dotted numbers' },
  { name: 'version part too long to compare', mutate: (d) => d.setIn(['layers', 'frameworks', 'vllm', 'version'], '1234567890.1'), expectedPath: 'layers.frameworks.vllm.version', expectedFragment: 'not a vLLM version' },
  { name: 'no venv on ubuntu 24.04', mutate: (d) => d.deleteIn(['layers', 'frameworks', 'python', 'venv']), expectedPath: 'layers.frameworks.python.venv', expectedFragment: 'refuses pip install into the system Python (PEP 668)' },
  // Injection attempts
  { name: 'name with shell quote', mutate: (d) => d.setIn(['name'], 'demo"; rm -rf /'), expectedPath: 'name', expectedFragment: 'not a valid image name' },
  { name: 'name with hcl interpolation', mutate: (d) => d.setIn(['name'], 'demo-${var.x}'), expectedPath: 'name', expectedFragment: 'not a valid image name' },
  { name: 'hostname with newline', mutate: (d) => d.setIn(['os', 'hostname'], 'vault-cube\nevil'), expectedPath: 'os.hostname', expectedFragment: 'not a hostname' },
  { name: 'user root', mutate: (d) => d.setIn(['users', 0, 'name'], 'root'), expectedPath: 'users[0].name', expectedFragment: 'root cannot be a login user' },
  { name: 'user with command substitution', mutate: (d) => d.setIn(['users', 0, 'name'], 'ops$(reboot)'), expectedPath: 'users[0].name', expectedFragment: 'not a valid Linux user/group name' },
  {
    name: 'ssh key with extra directive line',
    mutate: (d) => d.setIn(['users', 0, 'ssh_authorized_keys', 0], `${A_KEY} ops@example\ncommand="/bin/sh" ${A_KEY} evil@example`),
    expectedPath: 'users[0].ssh_authorized_keys[0]',
    expectedFragment: 'not an OpenSSH public key line',
  },
  { name: 'private key instead of public', mutate: (d) => d.setIn(['users', 0, 'ssh_authorized_keys', 0], '-----BEGIN OPENSSH PRIVATE KEY-----'), expectedPath: 'users[0].ssh_authorized_keys[0]', expectedFragment: 'looks like a private key' },
  { name: 'vllm model with shell', mutate: (d) => d.setIn(['layers', 'validation', 'gate', 'vllm_model'], 'facebook/opt-1.3b; reboot'), expectedPath: 'layers.validation.gate.vllm_model', expectedFragment: 'not a model name or path' },
  { name: 'cuda image with shell', mutate: (d) => d.setIn(['layers', 'runtime', 'gate', 'cuda_image'], 'nvidia/cuda:12.8.1 && reboot'), expectedPath: 'layers.runtime.gate.cuda_image', expectedFragment: 'not an image reference' },
  // Paths
  { name: 'cache dir escaping', mutate: (d) => d.setIn(['cache', 'dir'], '../../etc'), expectedPath: 'cache.dir', expectedFragment: 'relative path escapes the project' },
  { name: 'output dir escaping', mutate: (d) => d.setIn(['output', 'dir'], '../outside'), expectedPath: 'output.dir', expectedFragment: 'relative path escapes the project' },
  { name: 'store dir escaping', mutate: (d) => d.setIn(['artifacts', 'store'], { kind: 'filesystem', dir: '../images' }), expectedPath: 'artifacts.store.dir', expectedFragment: 'relative path escapes the project' },
  { name: 'venv with dotdot', mutate: (d) => d.setIn(['layers', 'frameworks', 'python', 'venv'], '/opt/../etc'), expectedPath: 'layers.frameworks.python.venv', expectedFragment: 'path contains ".."' },
  // Not YAML, or not a mapping
  { name: 'duplicate key', rewrite: (demo) => `${demo}\nname: another-box\n`, expectedPath: 'YAML syntax error', expectedFragment: 'Map keys must be unique' },
  { name: 'unclosed quote', rewrite: (demo) => demo.replace('name: vault-cube-demo-box', 'name: "vault-cube-demo-box'), expectedPath: 'YAML syntax error', expectedFragment: 'Missing closing "quote' },
  { name: 'unclosed flow sequence', rewrite: (demo) => demo.replace('distro: ubuntu', 'distro: [ubuntu'), expectedPath: 'YAML syntax error', expectedFragment: 'fix the YAML' },
  { name: 'empty file', rewrite: () => '', expectedPath: '(root)', expectedFragment: 'expected a YAML mapping' },
  { name: 'top-level list', rewrite: (demo) => `- ${demo.split('\n').join('\n  ')}`, expectedPath: '(root)', expectedFragment: 'expected a YAML mapping' },
  // Cross-field rules
  { name: 'firewall closes ssh', mutate: (d) => d.setIn(['layers', 'base', 'firewall', 'allow_tcp'], [3000]), expectedPath: 'layers.base.firewall.allow_tcp', expectedFragment: 'does not open the SSH port 22' },
  { name: 'passthrough count mismatch', mutate: (d) => d.setIn(['hardware', 'gpu', 'count'], 2), expectedPath: 'hardware.gpu.passthrough', expectedFragment: 'names 4 PCI device(s) but hardware.gpu.count is 2' },
  { name: 'bad pci address', mutate: (d) => d.setIn(['hardware', 'gpu', 'passthrough', 0], '01:00.0'), expectedPath: 'hardware.gpu.passthrough[0]', expectedFragment: 'not a PCI address' },
  { name: 'duplicate pci address', mutate: (d) => d.setIn(['hardware', 'gpu', 'passthrough', 2], '0000:01:00.0'), expectedPath: 'hardware.gpu.passthrough[2]', expectedFragment: 'is listed twice' },
  { name: 'ssh allows unknown user', mutate: (d) => d.setIn(['layers', 'base', 'ssh', 'allow_users'], ['nobody']), expectedPath: 'layers.base.ssh.allow_users[0]', expectedFragment: "nobody is not one of the spec's users" },
  {
    name: 'two verify_login users',
    mutate: (d) => {
      d.setIn(['users', 0, 'verify_login'], true);
      d.setIn(['users', 1], { name: 'second', verify_login: true, ssh_authorized_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5xIzS2sxbaXaj99WyngVs5C0FroKgeI9aXsY+y8Xpi ops@x'] });
    },
    expectedPath: 'users',
    expectedFragment: 'verify_login is set for',
  },
  { name: 'gate expects more gpus', mutate: (d) => d.setIn(['layers', 'driver', 'gate', 'gpu_count'], 8), expectedPath: 'layers.driver.gate.gpu_count', expectedFragment: 'expects 8 GPUs but hardware.gpu.count is 4' },
  // A long multi-line value must not be echoed into the message
  { name: 'long multi-line description', mutate: (d) => d.setIn(['description'], 'line\n'.repeat(101)), expectedPath: 'description', expectedFragment: 'is too big; maximum 500' },
];

// Cases that once exposed bugs in parse-spec.ts/schema.ts; kept apart as regression tests.
const KNOWN_BUGS: readonly BadSpec[] = [
  // zod 4 omits issue.input unless parsed with { reportInput: true }, so every wrong type reads "missing".
  { name: 'gpu count as string', mutate: (d) => d.setIn(['hardware', 'gpu', 'count'], '4'), expectedPath: 'hardware.gpu.count', expectedFragment: 'expected number, got string' },
  { name: 'cuda as yaml float', mutate: (d) => d.setIn(['layers', 'driver', 'cuda'], 12.8), expectedPath: 'layers.driver.cuda', expectedFragment: 'expected CUDA version as a quoted string' },
  { name: 'negative disk size', mutate: (d) => d.setIn(['os', 'disk_size_gib'], -5), expectedPath: 'os.disk_size_gib', expectedFragment: '-5 is too small; minimum 4' },
  { name: 'sudo always', mutate: (d) => d.setIn(['users', 0, 'sudo'], 'always'), expectedPath: 'users[0].sudo', expectedFragment: 'got "always"; valid: nopasswd, none' },
  // z.url() strips newlines before checking; the spec is accepted and render writes the mangled URL.
  { name: 'url with newline', mutate: (d) => d.setIn(['os', 'source', 'url'], 'https://releases.ubuntu.com/24.04.3/ubuntu.iso\niso_checksum = "none"'), expectedPath: 'os.source.url', expectedFragment: 'URL' },
  // formatIssue joins two unknown keys of one mapping into one problem with '\n': the second line has no "error:".
  {
    name: 'two unknown keys in one mapping',
    mutate: (d) => {
      d.setIn(['os', 'disk'], 200);
      d.setIn(['os', 'host'], 'vault-cube');
    },
    expectedPath: 'os.host',
    expectedFragment: 'unknown key',
  },
  // doc.toJS() throws ReferenceError: the CLI prints "internal error" with a stack trace and exits 70.
  { name: 'alias to undefined anchor', rewrite: (demo) => demo.replace('name: vault-cube-demo-box', 'name: *nowhere'), expectedPath: 'YAML syntax error', expectedFragment: 'Unresolved alias' },
  {
    name: 'alias bomb',
    rewrite: (demo) => `${demo}\nx-a: &a [x, x, x, x, x, x, x, x, x, x]\nx-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nx-c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n`,
    expectedPath: 'YAML syntax error',
    expectedFragment: 'Excessive alias count',
  },
];

type Capture = { stdout: string; stderr: string };

function fakeStream(sink: Capture, key: keyof Capture): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      sink[key] += chunk.toString();
      callback();
    },
  });
}

/** Runs the real CLI entry in `cwd`, capturing what it prints (no colour). */
async function runImagebuild(argv: readonly string[], cwd: string): Promise<Capture & { exitCode: number }> {
  const capture: Capture = { stdout: '', stderr: '' };
  const output = createOutput(fakeStream(capture, 'stdout'), fakeStream(capture, 'stderr'), {});
  const exitCode = await runCli(argv, output, cwd);
  return { ...capture, exitCode };
}

/** Every directory and file under `dir`, sorted, so a before/after comparison shows anything created. */
function slugOf(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
}

const COMMANDS = [
  { command: 'validate', argv: (spec: string, _out: string) => ['validate', '--spec', spec] },
  { command: 'render', argv: (spec: string, out: string) => ['render', '--spec', spec, '--out', out, '--packer-version', '1.6.6'] },
];

const CASES = COMMANDS.flatMap(({ command, argv }) => BAD_SPECS.map((bad) => ({ ...bad, command, argv })));
const KNOWN_BUG_CASES = COMMANDS.flatMap(({ command, argv }) => KNOWN_BUGS.map((bad) => ({ ...bad, command, argv })));

describe('bad specs through the CLI', () => {
  const work = useTempDir('imagebuild-spec-errors-');
  let project: string;
  let outDir: string;

  beforeEach(async () => {
    project = join(work.dir, 'project');
    outDir = join(work.dir, 'rendered');
    await mkdir(project);
  });

  async function expectRefusedCleanly(bad: BadSpec & { argv: (spec: string, out: string) => string[] }): Promise<void> {
    const file = `${slugOf(bad.name)}.yaml`;
    await writeFile(join(project, file), specTextOf(bad));
    const before = await listTree(work.dir);

    const result = await runImagebuild(bad.argv(file, outDir), project);

    const lines = result.stderr.split('\n').filter((line) => line !== '');
    const errors = lines.filter((line) => line.startsWith('error: '));
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).not.toContain('    at ');
    expect(result.stderr).toMatch(/\n$/);
    expect(lines.every((line) => line.startsWith('error: ') || line.startsWith('hint: '))).toBe(true);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((line) => line.startsWith(`error: ${file}`))).toBe(true);
    expect(errors.some((line) => line.includes(`: ${bad.expectedPath}: `) && line.includes(bad.expectedFragment))).toBe(true);
    expect(await listTree(work.dir)).toEqual(before);
    expect(existsSync(outDir)).toBe(false);
  }

  it.each(CASES)('$command refuses $name with exit 2, one-line errors and no files written', async (bad) => {
    await expectRefusedCleanly(bad);
  });

  it.each(KNOWN_BUG_CASES)('$command refuses $name cleanly (regression)', async (bad) => {
    await expectRefusedCleanly(bad);
  });

  it('names the minimums in a hint when the GPU stack is impossible', async () => {
    await writeFile(join(project, 'box.yaml'), demoWith((d) => d.setIn(['layers', 'driver', 'nvidia_driver'], '550.127.05')));

    const result = await runImagebuild(['validate', '--spec', 'box.yaml'], project);

    expect(result.exitCode).toBe(2);
    expect(result.stderr.split('\n').filter((line) => line.startsWith('hint: '))).toEqual([
      expect.stringMatching(/^hint: minimums for NVIDIA GeForce RTX 5090 .*NVIDIA driver >= 570.*CUDA >= 12\.8.*PyTorch >= 2\.7 with cu128 wheels/),
    ]);
  });

  it('prints {valid: false, problems} on stdout with validate --json', async () => {
    const text = demoWith((d) => {
      d.setIn(['os', 'hostname'], 'Vault_Cube');
      d.setIn(['hardware', 'build_vm', 'accelerator'], 'hvf');
      d.deleteIn(['layers', 'runtime', 'container_toolkit']);
    });
    await writeFile(join(project, 'box.yaml'), text);

    const result = await runImagebuild(['validate', '--spec', 'box.yaml', '--json'], project);

    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({
      valid: false,
      file: 'box.yaml',
      problems: [
        'box.yaml: os.hostname: not a hostname; lower-case letters, digits and - (RFC 1123)',
        'box.yaml: hardware.build_vm.accelerator: unknown accelerator; valid: auto, kvm, tcg',
        'box.yaml: layers.runtime.container_toolkit: missing; required (string)',
      ],
      hints: [],
    });
  });

  // Guards the "no files written" assertion above against passing vacuously.
  it('does notice files written: rendering the demo box fills the --out directory', async () => {
    await writeFile(join(project, 'box.yaml'), DEMO_TEXT);
    const before = await listTree(work.dir);

    const result = await runImagebuild(['render', '--spec', 'box.yaml', '--out', outDir, '--packer-version', '1.6.6'], project);

    expect(result.exitCode).toBe(0);
    expect(existsSync(outDir)).toBe(true);
    expect(await listTree(work.dir)).not.toEqual(before);
  });
});
