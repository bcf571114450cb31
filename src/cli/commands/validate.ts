import { SpecInvalidError } from '../../errors/index.js';
import type { Command } from '../command.js';
import { JSON_FLAG, SPEC_FLAG, stringFlag } from '../flags.js';

/** `imagebuild validate`. */
export const validateCommand: Command = {
  name: 'validate',
  usage: 'imagebuild validate [--spec FILE] [--json]',
  positionals: { min: 0, max: 0 },
  summary: 'check a spec: schema, cross-field rules and the GPU-stack compatibility table',
  description:
    'Validates an image spec and reports every problem at once, one line each as `file: path: what is wrong; what is valid`.\n' +
    'Impossible GPU stacks (e.g. driver 550 or CUDA 12.4 on an RTX 5090) are refused with the minimums the GPU needs;\n' +
    'risky but possible ones (TensorFlow without sm_120 kernels, GeForce cards without P2P, an NCCL no source confirms on\n' +
    'the GPUs\' topology, a driver branch past or near its end of life on today\'s date, IMAGEBUILD_TODAY=YYYY-MM-DD to\n' +
    'ask about another day) are warnings. Known-broken pairings (an NCCL that crashes on the topology, a Container Toolkit\n' +
    'with a CVE, vLLM wheels for another torch build) are errors naming the fact and its source.\n' +
    'Exit 0 valid, 2 invalid. Writes nothing.',
  flags: { spec: SPEC_FLAG, json: JSON_FLAG },
  async run({ flags, cwd, output }) {
    // The spec's modules (zod) load in the commands that read a spec, not for --help or --version.
    const [{ loadSpec }, { describeGpu, minimumsFor, describeDriverBranch }, { describeMinimums, gpuStackOf }, { driverSourceOf }] = await Promise.all([
      import('../../app/load-spec.js'),
      import('../../core/compat/check-gpu-stack.js'),
      import('../../core/spec/parse-spec.js'),
      import('../../core/spec/vendor-sources.js'),
    ]);
    const { todayOf } = await import('../../app/load-spec.js');
    const asJson = flags.json === true;
    try {
      const { spec, warnings, displayPath } = await loadSpec(stringFlag(flags.spec), cwd);
      const stack = gpuStackOf(spec);
      if (asJson) {
        output.json({ valid: true, file: displayPath, name: spec.name, warnings, stack, minimums: minimumsFor(spec.hardware.gpu.model) ?? null });
        return 0;
      }
      output.out(`${output.paint('green', '✔')} ${displayPath}: ${output.paint('bold', spec.name)} is valid`);
      const gpu = describeGpu(spec.hardware.gpu.model) ?? spec.hardware.gpu.model;
      output.out(`  gpu        ${spec.hardware.gpu.count}× ${gpu}, ${spec.hardware.gpu.passthrough.length > 0 ? `passthrough ${spec.hardware.gpu.passthrough.join(' ')}` : 'no passthrough (GPU gates will be skipped)'}`);
      output.out(`  os         ${spec.os.distro} ${spec.os.release} from ${spec.os.source.kind}, ${spec.os.disk_size_gib} GiB disk`);
      const source = driverSourceOf(spec) === 'ubuntu' ? "Canonical's signed prebuilt modules" : "NVIDIA's repository, DKMS";
      output.out(`  driver     NVIDIA ${stack.driver.version} (${stack.driver.kernelModule} modules, ${source}; ${describeDriverBranch(stack.driver.version, todayOf())}), CUDA ${stack.cuda}, cuDNN ${stack.cudnn}`);
      output.out(`  runtime    NVIDIA Container Toolkit ${stack.containerToolkit}`);
      const frameworks = [
        `PyTorch ${stack.pytorch?.version}+${stack.pytorch?.cudaVariant}${stack.nccl ? ` (NCCL ${stack.nccl.version} pinned)` : ''}`,
        stack.tensorflow ? `TensorFlow ${stack.tensorflow.version}` : undefined,
        stack.vllm ? `vLLM ${stack.vllm.version}` : undefined,
      ].filter(Boolean);
      output.out(`  frameworks ${frameworks.join(', ')} in ${stack.python.venv ?? 'system Python'}`);
      const minimums = describeMinimums(spec.hardware.gpu.model);
      if (minimums) output.out(`  ${output.paint('dim', minimums)}`);
      for (const warning of warnings) output.err(`${output.paint('yellow', 'warning:')} ${warning}`);
      return 0;
    } catch (error) {
      if (asJson && error instanceof SpecInvalidError) {
        output.json({ valid: false, file: error.file, problems: error.problems, hints: error.hints });
        return error.exitCode;
      }
      throw error;
    }
  },
};
