import { UsageError } from '../../errors/index.js';
import type { Command } from '../command.js';
import { JSON_FLAG, SPEC_FLAG, stringFlag } from '../flags.js';

/** `imagebuild compat`. */
export const compatCommand: Command = {
  name: 'compat',
  usage: 'imagebuild compat [GPU] [--gpus N] [--spec FILE] [--json]',
  positionals: { min: 0, max: 1 },
  summary: 'what to pin for a GPU: minimums, driver branches with end of life, the newest consistent stack',
  description:
    'For a GPU model of the compatibility table (default: the spec\'s hardware.gpu.model and count) prints the minimum\n' +
    'driver, CUDA, PyTorch and vLLM; every NVIDIA driver branch with its type and end of life on today\'s date\n' +
    '(IMAGEBUILD_TODAY=YYYY-MM-DD to ask about another day); and the newest stack whose every pairing the table\n' +
    'confirms: driver branch, CUDA, cuDNN, PyTorch and its wheel variant, vLLM, an NCCL pin where the bundled one is\n' +
    'broken or unconfirmed on the GPU\'s multi-GPU topology, and the NVIDIA Container Toolkit. The stack is checked\n' +
    'with the same rules as validate. Each fact names its source (src/core/compat/sources.ts; --json lists the URLs).\n' +
    'Exit 0, or 2 for an unknown GPU model.',
  flags: {
    gpus: { type: 'string', value: 'N', help: 'number of GPUs in the machine (default: the spec\'s hardware.gpu.count with no GPU given, else 1)' },
    spec: SPEC_FLAG,
    json: JSON_FLAG,
  },
  async run({ positionals, flags, cwd, output }) {
    const [{ loadSpec, todayOf }, { reportCompat }, { COMPAT_TABLE }, { COMPAT_SOURCES }] = await Promise.all([
      import('../../app/load-spec.js'),
      import('../../core/compat/recommend-stack.js'),
      import('../../core/compat/table.js'),
      import('../../core/compat/sources.js'),
    ]);
    const today = todayOf();
    let model = positionals[0];
    let gpus = gpuCountFlag(flags.gpus);
    if (model === undefined) {
      const { spec } = await loadSpec(stringFlag(flags.spec), cwd);
      model = spec.hardware.gpu.model;
      gpus ??= spec.hardware.gpu.count;
    }
    // A GPU-less spec (count 0) asks about one card of its model.
    const count = Math.max(gpus ?? 1, 1);
    const report = reportCompat(model, today, count);
    if (report === undefined) {
      throw new UsageError(`unknown GPU model ${JSON.stringify(model.slice(0, 40))}; valid: ${Object.keys(COMPAT_TABLE.gpus).join(', ')}`);
    }
    const sourcesOf = (ids: readonly (keyof typeof COMPAT_SOURCES)[]) => ids.map((id) => ({ id, title: COMPAT_SOURCES[id].title, url: COMPAT_SOURCES[id].url }));
    if (flags.json === true) {
      const recommended =
        report.recommended === undefined
          ? null
          : { ...report.recommended, sources: Object.fromEntries(Object.entries(report.recommended.sources).map(([key, ids]) => [key, sourcesOf(ids)])) };
      output.json({ date: today, gpus: count, ...report, recommended });
      return 0;
    }
    const { minimums, recommended } = report;
    output.out(`${output.paint('bold', report.gpu.description)}, ${count} GPU(s): compatibility table on ${today}`);
    const minimumParts = [`driver >= ${minimums.driver}`, `CUDA >= ${minimums.cuda}`];
    if (minimums.pytorch) minimumParts.push(`PyTorch >= ${minimums.pytorch} (${minimums.pytorchVariant})`);
    if (minimums.vllm) minimumParts.push(`vLLM >= ${minimums.vllm}`);
    output.out(`minimums           ${minimumParts.join(', ')}`);
    output.out('driver branches');
    for (const branch of report.branches) {
      const verdict = branch.supported ? output.paint('green', 'supported') : branch.type === 'new-feature' && !branch.lifecycle.includes('past') ? output.paint('yellow', 'short-lived') : output.paint('dim', 'ended');
      output.out(`  R${branch.branch.padEnd(5)} ${branch.lifecycle.padEnd(66)} ${verdict}`);
    }
    if (recommended === undefined) {
      output.out(output.paint('yellow', 'no consistent stack: the table lacks a pairing (see notes)'));
    } else {
      output.out('newest consistent stack');
      output.out(`  driver           R${recommended.driver_branch} (>= ${recommended.driver_minimum}), open kernel modules`);
      output.out(`  CUDA             ${recommended.cuda}`);
      output.out(`  cuDNN            ${recommended.cudnn}`);
      output.out(`  PyTorch          ${recommended.pytorch.version}+${recommended.pytorch.cuda_variant}${recommended.pytorch.bundled_nccl ? ` (bundles NCCL ${recommended.pytorch.bundled_nccl})` : ''}`);
      output.out(`  vLLM             ${recommended.vllm ? `${recommended.vllm.version} (pins torch ${recommended.vllm.torch})` : 'none'}`);
      output.out(`  NCCL             ${recommended.nccl_pin ? `${recommended.nccl_pin.wheel}==${recommended.nccl_pin.version} over torch's (with ${recommended.nccl_pin.needed_from_gpus}+ GPUs)` : "torch's own"}`);
      output.out(`  Container Toolkit ${recommended.container_toolkit}`);
      const errors = report.findings.filter((finding) => finding.severity === 'error');
      const warnings = report.findings.filter((finding) => finding.severity === 'warning');
      output.out(`  checked like validate: ${errors.length} error(s), ${warnings.length} warning(s)`);
      for (const finding of report.findings) output.out(`    ${finding.severity}: ${finding.path}: ${finding.message}`);
    }
    for (const note of report.notes) output.out(`${output.paint('dim', 'note:')} ${note}`);
    output.out(output.paint('dim', 'sources: src/core/compat/sources.ts; `imagebuild compat --json` names them per choice'));
    return 0;
  },
};

function gpuCountFlag(value: string | boolean | undefined): number | undefined {
  const given = stringFlag(value);
  if (given === undefined) return undefined;
  if (!/^\d{1,2}$/.test(given) || Number(given) < 1 || Number(given) > 16) {
    throw new UsageError(`--gpus ${JSON.stringify(given.slice(0, 20))} is not a GPU count; give 1 to 16`);
  }
  return Number(given);
}
