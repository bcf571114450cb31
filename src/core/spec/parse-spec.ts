import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { firstLine, SpecInvalidError } from '../../errors/index.js';
import { checkGpuStack, describeGpu, minimumsFor, type CompatOptions, type GpuStack } from '../compat/check-gpu-stack.js';
import { checkGates, type GateDemands } from '../compat/check-gates.js';
import { COMPAT_TABLE } from '../compat/table.js';
import { ImageSpec } from './schema.js';

export type ParsedSpec = {
  readonly spec: ImageSpec;
  /** Non-fatal findings, one `file: path: message` line each (e.g. TensorFlow without sm_120 kernels). */
  readonly warnings: readonly string[];
};

type Finding = { path: string; message: string };

/**
 * Parses and validates a spec's YAML text; throws SpecInvalidError listing every problem at once.
 * `options.today` (YYYY-MM-DD, from the caller's clock) turns on the driver-lifecycle warnings.
 */
export function parseSpec(text: string, file: string, options: CompatOptions = {}): ParsedSpec {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  if (doc.errors.length > 0) {
    throw new SpecInvalidError(
      file,
      doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return `${file}:${line}:${col}: YAML syntax error: ${firstLine(e.message)}; fix the YAML`;
      }),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 50 });
  } catch (error) {
    // Unresolved aliases and alias bombs surface only when the document is converted.
    const message = error instanceof Error ? firstLine(error.message) : String(error);
    throw new SpecInvalidError(file, [`${file}: YAML syntax error: ${message}; fix the YAML`]);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new SpecInvalidError(file, [`${file}: (root): expected a YAML mapping with name, os, users, hardware and layers; see manifests/vault-cube-demo-box.yaml`]);
  }

  const result = ImageSpec.safeParse(data, { reportInput: true });
  if (!result.success) {
    throw new SpecInvalidError(file, result.error.issues.flatMap((issue) => formatIssue(file, issue)));
  }
  const spec = result.data;

  const problems = [...checkCrossFields(spec), ...checkGates(gateDemandsOf(spec))];
  const warnings: Finding[] = [];
  let stackInvalid = false;
  for (const finding of checkGpuStack(gpuStackOf(spec), options)) {
    (finding.severity === 'error' ? problems : warnings).push(finding);
    stackInvalid ||= finding.severity === 'error';
  }
  if (problems.length > 0) {
    const hint = stackInvalid ? describeMinimums(spec.hardware.gpu.model) : undefined;
    throw new SpecInvalidError(
      file,
      problems.map((p) => `${file}: ${p.path}: ${p.message}`),
      hint ? [hint] : [],
    );
  }
  return { spec, warnings: warnings.map((w) => `${file}: ${w.path}: ${w.message}`) };
}

/** One line naming the oldest driver, CUDA, PyTorch wheel and vLLM a GPU model can use. */
export function describeMinimums(model: string): string | undefined {
  const minimums = minimumsFor(model);
  const gpu = describeGpu(model);
  if (!minimums || !gpu) return undefined;
  const parts = [`NVIDIA driver >= ${minimums.driver}`, `CUDA >= ${minimums.cuda}`];
  if (minimums.pytorch) parts.push(`PyTorch >= ${minimums.pytorch} with ${minimums.pytorchVariant} wheels`);
  if (minimums.vllm) parts.push(`vLLM >= ${minimums.vllm}`);
  return `minimums for ${gpu}: ${parts.join(', ')}`;
}

/** The slice of a spec that the GPU-stack compatibility table judges. */
export function gpuStackOf(spec: ImageSpec): GpuStack {
  const { driver, frameworks } = spec.layers;
  return {
    os: `${spec.os.distro}-${spec.os.release}`,
    gpu: { model: spec.hardware.gpu.model, count: spec.hardware.gpu.count },
    driver: { version: driver.nvidia_driver, kernelModule: driver.kernel_module },
    cuda: driver.cuda,
    cudnn: driver.cudnn,
    python: { version: frameworks.python.version, venv: frameworks.python.venv },
    pytorch: { version: frameworks.pytorch.version, cudaVariant: frameworks.pytorch.cuda_variant },
    tensorflow: frameworks.tensorflow,
    vllm: frameworks.vllm,
    nccl: frameworks.nccl,
    containerToolkit: spec.layers.runtime.container_toolkit,
  };
}

/** The gate thresholds of a spec and what they are measured against, for the compatibility data to judge. */
function gateDemandsOf(spec: ImageSpec): GateDemands {
  const { base, driver, validation } = spec.layers;
  return {
    gpu: { model: spec.hardware.gpu.model, count: spec.hardware.gpu.count },
    diskSizeGib: spec.os.disk_size_gib,
    base: { minRootFsGib: base.gate.min_root_fs_gib },
    driver: { minMemoryMib: driver.gate.min_memory_mib },
    validation: { soakDuration: validation.gate.soak_duration, sampleIntervalS: validation.gate.sample_interval_s, minGpuUtilizationPct: validation.gate.min_gpu_utilization_pct },
  };
}

function checkCrossFields(spec: ImageSpec): Finding[] {
  const problems: Finding[] = [];
  const { gpu } = spec.hardware;
  const { base, driver } = spec.layers;

  if (driver.source !== undefined && !COMPAT_TABLE.driverSources[driver.source].distros.some((distro) => distro === spec.os.distro)) {
    problems.push({
      path: 'layers.driver.source',
      message: `ubuntu (Canonical's signed prebuilt modules) exists only on Ubuntu, spec has ${spec.os.distro}; use nvidia`,
    });
  }

  if (spec.os.source.kind === 'iso' && spec.os.distro !== 'ubuntu') {
    problems.push({ path: 'os.source.kind', message: 'iso installs use Ubuntu autoinstall; use distro ubuntu, or kind bootstrap/cloud_image' });
  }

  const seen = new Set<string>();
  gpu.passthrough.forEach((address, i) => {
    if (seen.has(address)) problems.push({ path: `hardware.gpu.passthrough[${i}]`, message: `${address} is listed twice; list each PCI function once` });
    seen.add(address);
  });
  const devices = new Set(gpu.passthrough.map((a) => a.slice(0, a.lastIndexOf('.'))));
  if (gpu.passthrough.length > 0 && devices.size !== gpu.count) {
    problems.push({
      path: 'hardware.gpu.passthrough',
      message: `names ${devices.size} PCI device(s) but hardware.gpu.count is ${gpu.count}; list the functions of exactly ${gpu.count} GPU(s), or none to build without passthrough`,
    });
  }

  const userNames = spec.users.map((u) => u.name);
  const duplicateUser = userNames.find((n, i) => userNames.indexOf(n) !== i);
  if (duplicateUser) problems.push({ path: 'users', message: `user ${duplicateUser} is listed twice; give each user once` });
  const verifyUsers = spec.users.filter((u) => u.verify_login).map((u) => u.name);
  if (verifyUsers.length > 1) {
    problems.push({ path: 'users', message: `verify_login is set for ${verifyUsers.join(' and ')}; the verification boot logs in as one user, so set it for one` });
  }
  base.ssh.allow_users?.forEach((name, i) => {
    if (!userNames.includes(name)) {
      problems.push({ path: `layers.base.ssh.allow_users[${i}]`, message: `${name} is not one of the spec's users; valid: ${userNames.join(', ')}` });
    }
  });
  if (!base.firewall.allow_tcp.includes(base.ssh.port)) {
    problems.push({
      path: 'layers.base.firewall.allow_tcp',
      message: `does not open the SSH port ${base.ssh.port}, which would lock every user out; add ${base.ssh.port}`,
    });
  }

  if (driver.gate.gpu_count !== undefined && driver.gate.gpu_count > gpu.count) {
    problems.push({
      path: 'layers.driver.gate.gpu_count',
      message: `expects ${driver.gate.gpu_count} GPUs but hardware.gpu.count is ${gpu.count}; at most ${gpu.count}`,
    });
  }
  return problems;
}

function formatIssue(file: string, issue: z.core.$ZodIssue): string[] {
  const path = [...issue.path];
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${file}: ${formatPath([...path, key])}: ${issue.message}`);
  }
  return [`${file}: ${formatPath(path)}: ${describeIssue(issue)}`];
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    return `missing; required ${issue.expected === 'object' ? 'section' : `(${issue.expected})`}`;
  }
  if (issue.code === 'invalid_type' && !issue.message.includes(';')) {
    return `expected ${issue.expected}, got ${typeName(issue.input)}; give a ${issue.expected}`;
  }
  if (issue.code === 'invalid_value' && !issue.message.includes(';')) {
    return `got ${quoteShort(issue.input)}; valid: ${issue.values.map((v) => String(v)).join(', ')}`;
  }
  if (issue.code === 'too_small' && !issue.message.includes(';')) {
    return `${describeInput(issue.input)} is too small; minimum ${issue.inclusive === false ? '> ' : ''}${String(issue.minimum)}`;
  }
  if (issue.code === 'too_big' && !issue.message.includes(';')) {
    return `${describeInput(issue.input)} is too big; maximum ${issue.inclusive === false ? '< ' : ''}${String(issue.maximum)}`;
  }
  return issue.message.includes(';') ? issue.message : `${issue.message}; see \`imagebuild schema\``;
}

function describeInput(input: unknown): string {
  if (Array.isArray(input)) return `list of ${input.length}`;
  return typeof input === 'string' ? `${quoteShort(input)} (${input.length} chars)` : String(input);
}

/** JSON-quoted and cut short: a spec value must never add lines to an error message. */
function quoteShort(input: unknown): string {
  if (typeof input !== 'string') return String(JSON.stringify(input));
  return JSON.stringify(input.length > 60 ? `${input.slice(0, 57)}...` : input);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  return typeof value === 'object' ? 'mapping' : typeof value;
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '');
}
