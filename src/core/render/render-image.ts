import Handlebars from 'handlebars';
import { resolveVendorSources } from '../spec/vendor-sources.js';
import { LAYER_NAMES, type LayerName } from '../spec/layers.js';
import { verifyLoginUser, type ImageSpec } from '../spec/schema.js';
import { compareDottedVersions } from '../compat/dotted-version.js';
import { driverBranchOf, gpuFactsOf, hasUnbranchedDriverPackages, ncclWheelForVariant, runsWithoutPeerToPeer } from '../compat/table-queries.js';
import { gpuStackOf } from '../spec/parse-spec.js';
import { frameworksPythonVersion } from '../spec/frameworks-pip.js';
import { encodeCanonicalJson, encodeHclValue, encodeYamlValue, HclExpression } from './encode.js';
import { chooseAccelerator } from '../preflight/check-preflight.js';

/** Template sources, keyed by their path under `templates/` (e.g. `packer/layer.pkr.hcl.hbs`), plus static files under `packer/`. */
export type TemplateSources = {
  readonly templates: Readonly<Record<string, string>>;
  /** Static Packer pieces keyed by path under `packer/` (e.g. `plugins.pkr.hcl`). */
  readonly packerFiles: Readonly<Record<string, string>>;
};

export type RenderOptions = {
  /** Version of the packer that will read the files; plugin requirements are rendered only for >= 1.7. Undefined means current Packer. */
  readonly packerVersion?: string;
};

export type RenderedFile = { readonly path: string; readonly content: string };

/** A build unit: the five layers, then the seal step that is run only on the shipped image. */
export type RenderUnit = LayerName | 'seal';
export const RENDER_UNITS: readonly RenderUnit[] = [...LAYER_NAMES, 'seal'];

const PLUGINS_FILE = 'plugins.pkr.hcl';
const FIRST_PACKER_WITH_PLUGINS = '1.7.0';

/** Renders every file of an image build (Packer HCL, Ansible vars, seeds) from a validated spec; pure and deterministic. */
export function renderImage(spec: ImageSpec, sources: TemplateSources, options: RenderOptions = {}): RenderedFile[] {
  const engine = createEngine(sources);
  const files: RenderedFile[] = [];
  const withPlugins = options.packerVersion === undefined || compareDottedVersions(options.packerVersion, FIRST_PACKER_WITH_PLUGINS) >= 0;

  for (const unit of RENDER_UNITS) {
    const context = unitContext(spec, unit);
    files.push({ path: `${unit}/${unit}.pkr.hcl`, content: engine.render('packer/layer.pkr.hcl.hbs', context) });
    files.push({ path: `${unit}/vars.yml`, content: engine.render(`ansible/${unit}.vars.yml.hbs`, context) });
    if (unit !== 'seal') {
      files.push({ path: `${unit}/checks.json`, content: `${encodeCanonicalJson(checkParams(spec, unit), 2)}\n` });
    }
    if (withPlugins) {
      const plugins = sources.packerFiles[PLUGINS_FILE];
      if (plugins === undefined) throw new Error(`packer/${PLUGINS_FILE} is missing from the template sources`);
      files.push({ path: `${unit}/${PLUGINS_FILE}`, content: plugins });
    }
  }

  const seedContext = { imageName: spec.name, spec, instanceId: `${spec.name}-build` };
  if (spec.os.source.kind === 'iso') {
    files.push({ path: 'base/http/user-data', content: engine.render('autoinstall/user-data.hbs', seedContext) });
    files.push({ path: 'base/http/meta-data', content: engine.render('autoinstall/meta-data.hbs', seedContext) });
  } else if (spec.os.source.kind === 'cloud_image') {
    files.push({ path: 'base/cidata/user-data', content: engine.render('cloud-init/user-data.hbs', seedContext) });
    files.push({ path: 'base/cidata/meta-data', content: engine.render('cloud-init/meta-data.hbs', seedContext) });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

type Engine = { render(name: string, context: object): string };

function createEngine(sources: TemplateSources): Engine {
  const hbs = Handlebars.create();
  hbs.registerHelper('hcl', (value: unknown) => encodeHclValue(value));
  hbs.registerHelper('ansible', (value: unknown) => encodeYamlValue(value, { unsafe: true }));
  hbs.registerHelper('yaml', (value: unknown) => encodeYamlValue(value, { unsafe: false }));
  hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  for (const [name, source] of Object.entries(sources.templates)) {
    const match = /^packer\/partials\/(.+)\.hbs$/.exec(name);
    if (match?.[1]) hbs.registerPartial(match[1], source);
  }
  const compiled = new Map<string, HandlebarsTemplateDelegate>();
  return {
    render(name, context) {
      let template = compiled.get(name);
      if (!template) {
        const source = sources.templates[name];
        if (source === undefined) throw new Error(`template ${name} is missing from templates/`);
        // noEscape: HTML escaping is wrong for HCL/YAML; helpers encode. strict: a typo in a template fails loudly.
        template = hbs.compile(source, { noEscape: true, strict: true });
        compiled.set(name, template);
      }
      return template(context);
    },
  };
}

type UnitContext = {
  imageName: string;
  layer: RenderUnit;
  playbook: RenderUnit;
  spec: ImageSpec;
  sourceKind: 'iso' | 'cloud_image' | 'overlay';
  sourceRef: string;
  gate: boolean;
  idempotence: boolean;
  [key: string]: unknown;
};

function unitContext(spec: ImageSpec, unit: RenderUnit): UnitContext {
  const source = spec.os.source;
  const fromInstaller = unit === 'base' && source.kind !== 'bootstrap';
  const sourceKind = fromInstaller ? source.kind : 'overlay';
  // The default of the Packer variable, for a hand-run `packer build` of these files: the build passes
  // the accelerator preflight settled. Such a run happens on the GPU host, so `auto` assumes KVM works.
  const { accelerator } = chooseAccelerator(spec.hardware.build_vm.accelerator, { usable: true, reason: 'assumed for a hand-run packer build' });
  const layer = unit === 'seal' ? undefined : spec.layers[unit];
  const frameworks = spec.layers.frameworks;
  // Defaults the compatibility table owns, read through the same spec → stack mapping validate checks.
  const stack = gpuStackOf(spec);
  const gpu = gpuFactsOf(stack.gpu.model);
  const vendor = resolveVendorSources(spec);

  return {
    imageName: spec.name,
    layer: unit,
    playbook: unit,
    spec,
    layerSpec: layer,
    sourceKind,
    sourceUrl: source.kind === 'bootstrap' ? '' : source.url,
    sourceChecksum: source.kind === 'bootstrap' ? '' : source.checksum,
    sourceRef: `source.qemu.${unit}`,
    bootCommand: [
      'c<wait>',
      // subiquity-storage-version=2: the autoinstall's GPT places root (partition 1) after partitions 14 and 15.
      "linux /casper/vmlinuz autoinstall 'ds=nocloud-net;s=http://{{ .HTTPIP }}:{{ .HTTPPort }}/' subiquity-storage-version=2 ---<enter><wait>",
      'initrd /casper/initrd<enter><wait>',
      'boot<enter>',
    ],
    vmName: `${unit}.qcow2`,
    diskSize: `${spec.os.disk_size_gib * 1024}M`,
    machine: spec.hardware.build_vm.machine,
    cpus: spec.hardware.build_vm.cpus,
    memoryMiB: spec.hardware.build_vm.memory_mib,
    accelerator,
    sshTimeout: fromInstaller ? '90m' : '30m',
    // The seal playbook revokes the build account's sudo and schedules its own poweroff.
    shutdownCommand: unit === 'seal' ? 'true' : 'sudo -n systemctl poweroff',
    qemuArgs: qemuArgs(spec, unit),
    gate: unit !== 'seal',
    idempotence: layer?.gate.idempotence ?? false,
    // Ansible vars
    users: spec.users.map((u) => ({ name: u.name, groups: u.groups, sudo: u.sudo, ssh_authorized_keys: u.ssh_authorized_keys })),
    sshAllowUsers: spec.layers.base.ssh.allow_users ?? spec.users.map((u) => u.name),
    verifyUser: verifyLoginUser(spec) ?? '',
    // A bootstrapped root filesystem has no GRUB defaults of its own; an installer's or cloud image's are kept.
    bootloaderGrubDefaults: source.kind === 'bootstrap',
    driverBranch: driverBranchOf(stack.driver.version),
    // The driver role reboots the build VM to load the modules only where GPUs are passed through to it: without one
    // they have nothing to drive, and a reboot costs minutes under TCG.
    driverReboot: spec.hardware.gpu.passthrough.length > 0,
    // From branch 590 NVIDIA's Ubuntu packages lose the branch in their names; the role picks the package set by this.
    driverPackagesUnbranched: hasUnbranchedDriverPackages(stack.driver.version),
    vendor,
    pythonVersion: frameworksPythonVersion(spec),
    ncclWheel: frameworks.nccl === undefined ? '' : (ncclWheelForVariant(frameworks.pytorch.cuda_variant) ?? ''),
    ncclVersion: frameworks.nccl?.version ?? '',
    tensorflowVersion: frameworks.tensorflow?.version ?? '',
    vllmVersion: frameworks.vllm?.version ?? '',
    ncclP2pDisable: runsWithoutPeerToPeer(gpu, stack.gpu.count),
    powerLimitW: spec.layers.validation.tuning.power_limit_w ?? gpu?.defaultPowerLimitW ?? 0,
  };
}

/** QEMU arguments: the CPU model, a loopback-only SSH forward, the serial log, direct-kernel first boot of a bootstrapped base, and VFIO passthrough. */
function qemuArgs(spec: ImageSpec, unit: RenderUnit): (string | HclExpression)[][] {
  const args: (string | HclExpression)[][] = [
    ['-cpu', new HclExpression('var.accelerator == "kvm" ? "host" : "max"')],
    ['-netdev', 'user,id=user.0,hostfwd=tcp:127.0.0.1:{{ .SSHHostPort }}-:22'],
    ['-serial', new HclExpression('"file:${var.report_dir}/serial.log"')],
  ];
  if (unit === 'base' && spec.os.source.kind === 'bootstrap') {
    // First boot of a bootstrapped root filesystem is by direct kernel; the base role installs a bootloader.
    args.push(['-kernel', new HclExpression('"${var.kernel_dir}/vmlinuz"')]);
    args.push(['-initrd', new HclExpression('"${var.kernel_dir}/initrd.img"')]);
    args.push(['-append', 'root=/dev/vda1 rw console=ttyS0 net.ifnames=0']);
  }
  const passthrough = spec.hardware.gpu.passthrough;
  if (passthrough.length > 0) {
    const q35 = spec.hardware.build_vm.machine === 'q35';
    const devices = [...new Set(passthrough.map((a) => a.slice(0, a.lastIndexOf('.'))))];
    if (q35) args.push(['-global', 'q35-pcihost.pci-hole64-size=2048G']);
    devices.forEach((device, index) => {
      const port = `imagebuild-gpu${index}`;
      if (q35) args.push(['-device', `pcie-root-port,id=${port},chassis=${index + 1},slot=${index + 1}`]);
      for (const address of passthrough.filter((a) => a.startsWith(`${device}.`))) {
        const fn = address.slice(address.lastIndexOf('.') + 1);
        const placement = q35 ? `,bus=${port},addr=00.${fn}` : '';
        const multifunction = fn === '0' ? ',multifunction=on' : '';
        args.push(['-device', `vfio-pci,host=${address}${placement}${multifunction}`]);
      }
    });
    // Any -device in qemuargs replaces Packer's default device list (hashicorp/packer#3348): restate the NIC.
    args.push(['-device', 'virtio-net,netdev=user.0']);
  }
  return args;
}

/** What the guest check programs need to run a layer's gate (not the thresholds: those are judged on the host). */
export function checkParams(spec: ImageSpec, layer: LayerName): Record<string, unknown> {
  const { layers, hardware } = spec;
  const common = { layer, gpu_count: hardware.gpu.count, gpu_passthrough: hardware.gpu.passthrough.length > 0 };
  switch (layer) {
    case 'base':
      return { ...common, users: spec.users.map((u) => u.name), ssh_port: layers.base.ssh.port };
    case 'driver':
      return common;
    case 'runtime':
      return { ...common, cuda_image: layers.runtime.gate.cuda_image, containers: layers.runtime.gate.containers };
    case 'frameworks':
      return {
        ...common,
        venv: layers.frameworks.python.venv ?? '',
        matmul_size: layers.frameworks.gate.matmul_size,
        tensorflow: layers.frameworks.tensorflow !== undefined,
        vllm: layers.frameworks.vllm !== undefined,
      };
    case 'validation': {
      const gate = layers.validation.gate;
      return {
        ...common,
        venv: layers.frameworks.python.venv ?? '',
        suite_dir: layers.validation.suite_dir,
        ddp_model: gate.ddp_model,
        ddp_batch_size: gate.ddp_batch_size,
        vllm_model: gate.vllm_model,
        vllm_prompts: gate.vllm_prompts,
        vllm_max_tokens: gate.vllm_max_tokens,
        soak_duration: gate.soak_duration,
        sample_interval_s: gate.sample_interval_s,
      };
    }
  }
}
