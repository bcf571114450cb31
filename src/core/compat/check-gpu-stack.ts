import { checkContainerToolkit } from './check-container-toolkit.js';
import {
  checkPythonVenv,
  checkPythonVersion,
  checkPyTorchKnown,
  checkPyTorchPython,
  checkPyTorchSupportsGpu,
  checkPyTorchVariantAvailable,
  checkPyTorchVariantDriver,
  checkTensorFlowCuda,
  checkTensorFlowKnown,
  checkTensorFlowPython,
  checkTensorFlowSupportsGpu,
} from './check-frameworks.js';
import {
  checkCudaKnown,
  checkCudaSupportsGpu,
  checkCudnn,
  checkDriverSupportsCuda,
  checkDriverSupportsGpu,
  checkDriverVersion,
  checkGpuModelKnown,
  checkKernelModule,
  checkOsKnown,
  checkPeerToPeer,
} from './check-hardware.js';
import { checkNcclOnTopology, checkNcclPin } from './check-nccl.js';
import { checkVllmKnown, checkVllmSupportsGpu, checkVllmTorchPin, checkVllmWheelCuda } from './check-vllm.js';
import { checkDriverBranchLifecycle } from './driver-lifecycle.js';
import { resolveStack, type CompatFinding, type CompatOptions, type GpuStack, type StackCheck } from './stack-context.js';
import { COMPAT_TABLE, type CompatTable } from './table.js';

// The checks live in one module per concern; this file lists them in the order findings are reported and keeps
// the compat API in one place for its importers.
export { describeBranchLifecycle, describeDriverBranch, supportedBranches, type SupportedBranch } from './driver-lifecycle.js';
export { describeGpu, minimumsFor, type GpuMinimums } from './gpu-minimums.js';
export type { CompatFinding, CompatOptions, GpuStack } from './stack-context.js';
export { maxVersion, shipsKernelsFor } from './table-queries.js';

// Order is the order findings are reported in: hardware, then driver layer, then frameworks.
const STACK_CHECKS: readonly StackCheck[] = [
  checkOsKnown,
  checkGpuModelKnown,
  checkPeerToPeer,
  checkDriverVersion,
  checkDriverSupportsGpu,
  checkDriverBranchLifecycle,
  checkKernelModule,
  checkCudaKnown,
  checkCudaSupportsGpu,
  checkDriverSupportsCuda,
  checkCudnn,
  checkPythonVersion,
  checkPythonVenv,
  checkPyTorchKnown,
  checkPyTorchPython,
  checkPyTorchVariantAvailable,
  checkPyTorchSupportsGpu,
  checkPyTorchVariantDriver,
  checkNcclPin,
  checkNcclOnTopology,
  checkTensorFlowKnown,
  checkTensorFlowPython,
  checkTensorFlowSupportsGpu,
  checkTensorFlowCuda,
  checkVllmKnown,
  checkVllmTorchPin,
  checkVllmWheelCuda,
  checkVllmSupportsGpu,
  checkContainerToolkit,
];

/** Checks a GPU stack against the compatibility table; returns every finding, in a stable order. */
export function checkGpuStack(stack: GpuStack, options: CompatOptions = {}, table: CompatTable = COMPAT_TABLE): CompatFinding[] {
  const context = resolveStack(stack, table, options.today);
  return STACK_CHECKS.flatMap((check) => check(context));
}
