import { gpuFactsOf } from '../compat/table-queries.js';
import type { LayerName } from '../spec/layers.js';
import type { ImageSpec } from '../spec/schema.js';
import {
  atLeast,
  atMost,
  equalsCount,
  errored,
  failed,
  imported,
  passed,
  recorded,
  stringList,
  withBoolean,
  withNumber,
  withString,
  withStringList,
  type GateRule,
  type Judgement,
} from './judge-measurement.js';

const ROOT_FS_TYPES = ['ext4', 'xfs', 'btrfs'];
// Partitioning tools end the root on a 1 MiB boundary before the backup GPT; anything near a disk's size is a missed grow.
const ROOT_FILL_SLACK_MIB = 16;
// nvidia-smi reports memory.total a little under the marketing size, and it moves between driver
// releases; 1 % below the table's figure still rules out a card of the next size down.
const MEMORY_TOLERANCE = 0.01;

/** The number of GPUs every GPU gate expects: the driver gate's override, else hardware.gpu.count. */
export function expectedGpuCount(spec: ImageSpec): number {
  return spec.layers.driver.gate.gpu_count ?? spec.hardware.gpu.count;
}

/** A layer's gate rules, with every threshold taken from the spec. */
export function rulesFor(layer: LayerName, spec: ImageSpec): GateRule[] {
  switch (layer) {
    case 'base':
      return baseRules(spec);
    case 'driver':
      return driverRules(spec);
    case 'runtime':
      return runtimeRules(spec);
    case 'frameworks':
      return frameworksRules(spec);
    case 'validation':
      return validationRules(spec);
  }
}

function baseRules(spec: ImageSpec): GateRule[] {
  const gate = spec.layers.base.gate;
  const users = spec.users.map((u) => u.name);
  const port = spec.layers.base.ssh.port;
  return [
    {
      check: 'system_running',
      gpu: false,
      expected: '== running',
      judge: (value, detail) =>
        withString(value, (state) => {
          if (state === 'running') return passed();
          const units = stringList(detail?.['failed_units']);
          return failed(`system is ${state}${units.length > 0 ? `; failed units: ${units.join(', ')}` : ''}`);
        }),
    },
    {
      check: 'ssh_listening',
      gpu: false,
      expected: '== true',
      judge: (value) => withBoolean(value, (listening) => (listening ? passed() : failed(`nothing listens on TCP port ${port}`))),
    },
    {
      check: 'users_present',
      gpu: false,
      expected: `includes ${users.join(', ')}`,
      judge: (value) =>
        withStringList(value, (present) => {
          const missing = users.filter((u) => !present.includes(u));
          return missing.length === 0 ? passed() : failed(`missing user${missing.length === 1 ? '' : 's'}: ${missing.join(', ')}`);
        }),
    },
    gate.min_root_fs_gib === undefined
      ? recorded('root_fs_gib')
      : { check: 'root_fs_gib', gpu: false, expected: `>= ${gate.min_root_fs_gib}`, judge: atLeast(gate.min_root_fs_gib) },
    {
      check: 'root_fs_type',
      gpu: false,
      expected: `one of ${ROOT_FS_TYPES.join(', ')}`,
      judge: (value) => withString(value, (type) => (ROOT_FS_TYPES.includes(type) ? passed() : failed(`root filesystem is ${type}`))),
    },
    {
      check: 'root_partition',
      gpu: false,
      expected: 'a partition, e.g. /dev/vda1',
      judge: (value) => withString(value, judgeRootDevice),
    },
    {
      check: 'root_fills_disk',
      gpu: false,
      expected: `<= ${ROOT_FILL_SLACK_MIB} MiB left after the root partition, backup GPT header at the disk's end`,
      judge: (value, detail) =>
        withNumber(value, (unusedMiB) => {
          if (detail?.['backup_header_at_end'] === false) return failed(`the backup GPT header is not at the end of ${String(detail['disk'])}; the first-boot grow did not run`);
          return unusedMiB <= ROOT_FILL_SLACK_MIB ? passed() : failed(`${unusedMiB} MiB of ${String(detail?.['disk'] ?? 'the disk')} lie unused after the root partition; the first-boot grow did not run`);
        }),
    },
    {
      check: 'boot_loaders',
      gpu: false,
      expected: `includes ${spec.os.firmware.join(', ')}`,
      judge: (value) =>
        withStringList(value, (present) => {
          const missing = spec.os.firmware.filter((firmware) => !present.includes(firmware));
          return missing.length === 0 ? passed() : failed(`no boot loader for ${missing.join(', ')} (os.firmware asks for ${spec.os.firmware.join(', ')})`);
        }),
    },
  ];
}

// What /proc/mounts names as the root device. A partition of a disk, or a device-mapper volume
// (LVM, LUKS) that lives on one; the whole disk means the installer did not partition it.
function judgeRootDevice(device: string): Judgement {
  if (/^\/dev\/mapper\/[^/\s]+$/.test(device) || /^\/dev\/dm-\d+$/.test(device)) return passed();
  if (/^\/dev\/(?:[sv]d|xvd|hd)[a-z]+\d+$/.test(device) || /^\/dev\/(?:nvme\d+n\d+|mmcblk\d+)p\d+$/.test(device)) return passed();
  if (/^\/dev\/(?:[sv]d|xvd|hd)[a-z]+$/.test(device) || /^\/dev\/(?:nvme\d+n\d+|mmcblk\d+)$/.test(device)) {
    return failed(`root filesystem is on the whole disk ${device}, not a partition; check the image's partitioning`);
  }
  // A kernel booted without an initramfs names the root /dev/root, which hides the real device.
  if (device === '/dev/root') return failed('root device is reported as /dev/root; cannot tell whether partitioning gave it a partition');
  return failed(`root filesystem is on ${device}, not a disk partition; check the image's partitioning`);
}

function driverRules(spec: ImageSpec): GateRule[] {
  const gate = spec.layers.driver.gate;
  const table = gpuFactsOf(spec.hardware.gpu.model);
  const count = expectedGpuCount(spec);
  const name = gate.gpu_name ?? table?.name;
  const memory = gate.min_memory_mib ?? (table === undefined ? undefined : Math.floor(table.memoryMiB * (1 - MEMORY_TOLERANCE)));
  const driver = spec.layers.driver.nvidia_driver;
  // A bare branch ("570") installs whatever release of the branch apt has; a full version must match exactly.
  const driverIsBranch = driver.split('.').length === 1;
  return [
    { check: 'gpu_count', gpu: true, expected: `== ${count}`, judge: equalsCount(count) },
    {
      check: 'gpu_names',
      gpu: true,
      expected: name ?? 'a GPU name (set layers.driver.gate.gpu_name)',
      judge: (value) =>
        withStringList(value, (names) => {
          if (name === undefined) return errored(`no expected GPU name for model ${spec.hardware.gpu.model}; set layers.driver.gate.gpu_name`);
          if (names.length === 0 && count > 0) return failed('nvidia-smi listed no GPUs');
          const wrong = names.map((n, index) => ({ n, index })).filter(({ n }) => n.trim() !== name);
          return wrong.length === 0 ? passed() : failed(wrong.map(({ n, index }) => `GPU ${index} is ${n}`).join('; '));
        }),
    },
    memory === undefined
      ? { check: 'gpu_memory_mib_min', gpu: true, expected: 'a memory size (set layers.driver.gate.min_memory_mib)', judge: () => errored(`no expected memory size for model ${spec.hardware.gpu.model}; set layers.driver.gate.min_memory_mib`) }
      : { check: 'gpu_memory_mib_min', gpu: true, expected: `>= ${memory}`, judge: atLeast(memory) },
    gate.min_pcie_gen === undefined
      ? recorded('pcie_link_gen_min', true)
      : { check: 'pcie_link_gen_min', gpu: true, expected: `>= ${gate.min_pcie_gen}`, judge: atLeast(gate.min_pcie_gen) },
    gate.min_pcie_width === undefined
      ? recorded('pcie_link_width_min', true)
      : { check: 'pcie_link_width_min', gpu: true, expected: `>= ${gate.min_pcie_width}`, judge: atLeast(gate.min_pcie_width) },
    { check: 'idle_temp_c_max', gpu: true, expected: `<= ${gate.max_idle_temp_c}`, judge: atMost(gate.max_idle_temp_c) },
    {
      check: 'nvidia_driver',
      gpu: true,
      expected: driverIsBranch ? `${driver}.*` : `== ${driver}`,
      judge: (value) =>
        withString(value, (version) => {
          const matches = driverIsBranch ? version.split('.')[0] === driver : version === driver;
          return matches ? passed() : failed(`driver ${version} is loaded, the spec installs ${driver}`);
        }),
    },
  ];
}

function runtimeRules(spec: ImageSpec): GateRule[] {
  const count = expectedGpuCount(spec);
  const containers = spec.layers.runtime.gate.containers;
  return [
    { check: 'docker_gpu', gpu: true, expected: `== ${count}`, judge: equalsCount(count) },
    { check: 'docker_gpu_concurrent', gpu: true, expected: `== ${containers}`, judge: equalsCount(containers) },
  ];
}

function frameworksRules(spec: ImageSpec): GateRule[] {
  const count = expectedGpuCount(spec);
  const { tensorflow, vllm } = spec.layers.frameworks;
  return [
    imported('pytorch_import'),
    { check: 'pytorch_cuda_devices', gpu: true, expected: `== ${count}`, judge: equalsCount(count) },
    { check: 'pytorch_matmul_gpus', gpu: true, expected: `== ${count}`, judge: equalsCount(count) },
    ...(tensorflow === undefined
      ? []
      : [imported('tensorflow_import'), { check: 'tensorflow_gpus', gpu: true, expected: `== ${count}`, judge: equalsCount(count) }]),
    ...(vllm === undefined ? [] : [imported('vllm_import')]),
  ];
}

function validationRules(spec: ImageSpec): GateRule[] {
  const gate = spec.layers.validation.gate;
  return [
    { check: 'ddp_scaling_efficiency', gpu: true, expected: `>= ${gate.ddp_min_scaling_efficiency}`, judge: atLeast(gate.ddp_min_scaling_efficiency) },
    { check: 'vllm_tokens_per_s', gpu: true, expected: `>= ${gate.vllm_min_tokens_per_s}`, judge: atLeast(gate.vllm_min_tokens_per_s) },
    { check: 'gpu_utilization_pct', gpu: true, expected: `>= ${gate.min_gpu_utilization_pct}`, judge: atLeast(gate.min_gpu_utilization_pct) },
    { check: 'soak_max_temp_c', gpu: true, expected: `<= ${gate.soak_max_temp_c}`, judge: atMost(gate.soak_max_temp_c) },
    {
      check: 'soak_throttled',
      gpu: true,
      expected: '== false',
      judge: (value) => withBoolean(value, (throttled) => (throttled ? failed('GPUs throttled during the soak') : passed())),
    },
  ];
}
