import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { LAYER_NAMES } from '../core/spec/layers.js';
import { formatBytes } from '../core/release/transfer-rate.js';
import { SpecInvalidError, UsageError } from '../errors.js';
import { parseHostArg } from '../core/remote/remote-command.js';
import { createProgressRenderer, RELEASE_COMMANDS, runVersionRollback, VERSION_ROLLBACK_FLAGS, VERSION_ROLLBACK_HELP } from './release-commands.js';
import type { Output } from './output.js';
import { layerFlag, oneOf, stringFlag, versionArg } from './flags.js';
import { packageVersion } from './package-version.js';

/** A parsed command line handed to a command. */
export type Invocation = {
  readonly positionals: readonly string[];
  readonly flags: Readonly<Record<string, string | boolean | undefined>>;
  readonly cwd: string;
  readonly output: Output;
};

export type FlagSpec = { readonly type: 'string' | 'boolean'; readonly value?: string; readonly help: string };

export type Command = {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly description: string;
  readonly flags: Readonly<Record<string, FlagSpec>>;
  readonly positionals: { readonly min: number; readonly max: number };
  run(invocation: Invocation): Promise<number>;
};

const SPEC_FLAG: FlagSpec = {
  type: 'string',
  value: 'FILE',
  help: 'image spec (YAML); default: $IMAGEBUILD_SPEC, else the shipped manifests/vault-cube-demo-box.yaml',
};
const JSON_FLAG: FlagSpec = { type: 'boolean', help: 'print the result as JSON on stdout' };
const HOST_PROFILE_FLAG: FlagSpec = { type: 'string', value: 'gpu|cpu', help: 'cpu: without GPU passthrough (GPU gates skipped; other layer keys); default gpu follows the spec' };

const validate: Command = {
  name: 'validate',
  usage: 'imagebuild validate [--spec FILE] [--json]',
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
  positionals: { min: 0, max: 0 },
  async run({ flags, cwd, output }) {
    // The spec's modules (zod) load in the commands that read a spec, not for --help or --version.
    const [{ loadSpec }, { describeGpu, minimumsFor, describeDriverBranch }, { describeMinimums, gpuStackOf }, { driverSourceOf }] = await Promise.all([
      import('../app/load-spec.js'),
      import('../core/compat/check-gpu-stack.js'),
      import('../core/spec/parse-spec.js'),
      import('../core/spec/vendor-sources.js'),
    ]);
    const { todayOf } = await import('../app/load-spec.js');
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

const compat: Command = {
  name: 'compat',
  usage: 'imagebuild compat [GPU] [--gpus N] [--spec FILE] [--json]',
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
  positionals: { min: 0, max: 1 },
  async run({ positionals, flags, cwd, output }) {
    const [{ loadSpec, todayOf }, { reportCompat }, { COMPAT_TABLE }, { COMPAT_SOURCES }] = await Promise.all([
      import('../app/load-spec.js'),
      import('../core/compat/recommend-stack.js'),
      import('../core/compat/table.js'),
      import('../core/compat/sources.js'),
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

const render: Command = {
  name: 'render',
  usage: 'imagebuild render [--spec FILE] [--out DIR] [--packer-version X.Y.Z] [--json]',
  summary: 'write the Packer HCL, Ansible vars and install seeds of every layer',
  description:
    'Renders, per layer (base, driver, runtime, frameworks, validation) and for the final seal step, a Packer HCL2 build,\n' +
    "that layer's Ansible variables and its gate parameters; layer 1 also gets its autoinstall or cloud-init seed.\n" +
    'Output is deterministic (same spec, same bytes) and replaces DIR atomically; DIR defaults to .imagebuild/rendered/<name>.\n' +
    'Plugin requirements (plugins.pkr.hcl) are included only for Packer >= 1.7; the target is --packer-version, else the\n' +
    'installed packer, else current Packer.',
  flags: {
    spec: SPEC_FLAG,
    out: { type: 'string', value: 'DIR', help: 'output directory (replaced as a whole; refused if it holds files not written by imagebuild)' },
    'packer-version': { type: 'string', value: 'X.Y.Z', help: 'render for this Packer version instead of the installed one' },
    json: JSON_FLAG,
  },
  positionals: { min: 0, max: 0 },
  async run({ flags, cwd, output }) {
    const packerVersion = stringFlag(flags['packer-version']);
    if (packerVersion !== undefined && !/^\d+\.\d+\.\d+$/.test(packerVersion)) {
      throw new UsageError(`--packer-version "${packerVersion}" is not a version; give X.Y.Z, e.g. 1.6.6`);
    }
    const { renderSpecFiles } = await import('../app/render-files.js');
    const { displayPathOf } = await import('../app/load-spec.js');
    const result = await renderSpecFiles({ specArg: stringFlag(flags.spec), outArg: stringFlag(flags.out), packerVersion, cwd });
    if (flags.json === true) {
      output.json({ outDir: result.outDir, packerTarget: result.packerTarget, files: result.files.map((f) => f.path), warnings: result.spec.warnings });
      return 0;
    }
    const target = result.packerTarget.version
      ? `Packer ${result.packerTarget.version} (${result.packerTarget.source})`
      : 'current Packer (no packer installed)';
    output.out(`${output.paint('green', '✔')} rendered ${result.files.length} files for ${output.paint('bold', result.spec.spec.name)} into ${displayPathOf(result.outDir, cwd)} for ${target}`);
    for (const file of result.files) output.out(`  ${file.path}`);
    for (const warning of result.spec.warnings) output.err(`${output.paint('yellow', 'warning:')} ${warning}`);
    return 0;
  },
};

const plan: Command = {
  name: 'plan',
  usage: 'imagebuild plan <version> [--spec FILE] [--from-layer LAYER] [--until-layer LAYER] [--json]',
  summary: "show each layer's cache key and whether it is reused or rebuilt, and why",
  description:
    "Computes each layer's key: a SHA-256 of its slice of the spec, the Ansible roles, playbook and templates it uses, the\n" +
    "tool versions (packer, ansible, qemu-img) and its parent's key. A layer whose key is in the cache is reused; otherwise\n" +
    'the plan names what changed since the newest cached build of that layer. A change in layer N rebuilds N and above.\n' +
    `Layers: ${LAYER_NAMES.join(', ')}. The version is vMAJOR.MINOR.PATCH (the leading v is optional).`,
  flags: {
    spec: SPEC_FLAG,
    'from-layer': { type: 'string', value: 'LAYER', help: 'rebuild from this layer up even if cached' },
    'until-layer': { type: 'string', value: 'LAYER', help: 'stop after this layer (e.g. base on a machine without a GPU)' },
    'host-profile': HOST_PROFILE_FLAG,
    json: JSON_FLAG,
  },
  positionals: { min: 1, max: 1 },
  async run({ positionals, flags, cwd, output }) {
    const version = versionArg(positionals[0]!);
    const fromLayer = layerFlag(flags['from-layer'], '--from-layer');
    const untilLayer = layerFlag(flags['until-layer'], '--until-layer');
    if (fromLayer && untilLayer && LAYER_NAMES.indexOf(fromLayer) > LAYER_NAMES.indexOf(untilLayer)) {
      throw new UsageError(`--from-layer ${fromLayer} is above --until-layer ${untilLayer}; the from layer must be at or below the until layer`);
    }
    const { planImage } = await import('../app/plan-image.js');
    const { displayPathOf } = await import('../app/load-spec.js');
    const result = await planImage({ specArg: stringFlag(flags.spec), version, cwd, fromLayer, untilLayer, hostProfile: oneOf(flags['host-profile'], '--host-profile', ['gpu', 'cpu'] as const) });
    const { plan: buildPlan } = result;
    if (flags.json === true) {
      output.json({
        image: buildPlan.imageName,
        version: buildPlan.version,
        artifact: buildPlan.artifact,
        spec: result.spec.displayPath,
        cacheDir: result.cacheDir,
        tools: { packer: result.tools.packer.version, ansible: result.tools.ansible.version, qemuImg: result.tools.qemuImg.version },
        layers: buildPlan.layers.map((l) => ({ layer: l.layer, key: l.key, parentKey: l.parentKey, action: l.action, reasons: l.reasons, files: Object.keys(l.inputs.files).length })),
        warnings: result.spec.warnings,
        notices: result.notices,
      });
      return 0;
    }
    output.out(`${output.paint('bold', buildPlan.artifact)}  (spec ${result.spec.displayPath}, cache ${displayPathOf(result.cacheDir, cwd)})`);
    output.out(`tools: packer ${result.tools.packer.version ?? 'missing'}, ansible ${result.tools.ansible.version ?? 'missing'}, qemu-img ${result.tools.qemuImg.version ?? 'missing'}`);
    output.out('');
    const width = Math.max(...LAYER_NAMES.map((l) => l.length));
    buildPlan.layers.forEach((layer, index) => {
      const action = layer.action === 'reuse' ? output.paint('green', 'reuse ') : layer.action === 'build' ? output.paint('yellow', 'build ') : output.paint('dim', 'skip  ');
      output.out(`${index + 1}. ${layer.layer.padEnd(width)}  ${layer.key.slice(0, 12)}  ${action} ${layer.reasons[0] ?? ''}`);
      for (const reason of layer.reasons.slice(1)) output.out(`   ${' '.repeat(width)}  ${' '.repeat(12)}         ${reason}`);
    });
    const toBuild = buildPlan.layers.filter((l) => l.action === 'build').length;
    output.out('');
    output.out(`${toBuild} of ${LAYER_NAMES.length} layers to build, ${buildPlan.layers.filter((l) => l.action === 'reuse').length} reused`);
    for (const notice of result.notices) output.err(`${output.paint('yellow', 'notice:')} ${notice}`);
    for (const warning of result.spec.warnings) output.err(`${output.paint('yellow', 'warning:')} ${warning}`);
    return 0;
  },
};

const schema: Command = {
  name: 'schema',
  usage: 'imagebuild schema',
  summary: 'print the JSON Schema of image spec files (for editor completion and checking)',
  description:
    'Prints the JSON Schema generated from the zod schema that `validate` uses. The copy in schema/image-spec.schema.json\n' +
    'is kept in sync by a test; spec files point editors at it with `# yaml-language-server: $schema=...`.',
  flags: {},
  positionals: { min: 0, max: 0 },
  async run({ output }) {
    const { imageSpecJsonSchema } = await import('../core/spec/json-schema.js');
    output.json(imageSpecJsonSchema());
    return 0;
  },
};

const build: Command = {
  name: 'build',
  usage:
    'imagebuild build <version> [--spec FILE] [--from-layer L] [--until-layer L] [--accel kvm|tcg] [--host-profile gpu|cpu] [--verify-user U --verify-key K | --no-verify] [--publish [--allow-bump-mismatch REASON]] [--json]\n' +
    '       imagebuild build <version> --host [USER@]HOST[:PORT] [--identity FILE] [--known-hosts FILE] [--remote-dir DIR] [--remote-command CMD] [build options]',
  summary: 'build a versioned image: layers (cached or built with Packer and gated), seal, flatten, manifest',
  description:
    'Runs preflight (disk, tools, KVM boot probe, VFIO binding, lock), then each layer: reused from the cache when its key\n' +
    "is there, otherwise built with `packer build` on top of the layer below and judged by the layer's gate; a layer is\n" +
    'cached only after its gate passed. Then seals, flattens the chain into <output>/<name>/vX.Y.Z/<name>-vX.Y.Z.qcow2,\n' +
    'hashes it once and writes image-manifest.json. Re-running a version built from identical inputs is a no-op; the\n' +
    'same version from different inputs is refused. After a failure or Ctrl-C, the same command resumes from the first\n' +
    'layer not in the cache. GPU checks that cannot run (no GPU passed through) are reported as skipped, never passed.',
  flags: {
    spec: SPEC_FLAG,
    'from-layer': { type: 'string', value: 'LAYER', help: 'rebuild from this layer up even if cached' },
    'until-layer': { type: 'string', value: 'LAYER', help: 'stop after this layer (e.g. base on a machine without NVIDIA repositories)' },
    accel: { type: 'string', value: 'kvm|tcg', help: "override the spec's accelerator (default: the spec's; auto runs a KVM boot probe)" },
    'host-profile': HOST_PROFILE_FLAG,
    'verify-user': { type: 'string', value: 'USER', help: 'a spec user to log in as in the verification boot (with --verify-key)' },
    'verify-key': { type: 'string', value: 'FILE', help: "that user's private SSH key; without it the in-guest checks of the verification boot are skipped" },
    'no-verify': { type: 'boolean', help: 'skip the verification boot of the finished artifact (the manifest then records none)' },
    publish: { type: 'boolean', help: "publish the release to the spec's store after a successful build (checked before the build starts)" },
    'allow-bump-mismatch': { type: 'string', value: 'REASON', help: 'with --publish: publish although the semver bump does not match the changes; recorded' },
    json: { type: 'boolean', help: 'no live progress; print the build report as JSON at the end' },
    host: { type: 'string', value: '[USER@]HOST[:PORT]', help: 'build on this GPU host over SSH: upload the spec and rendered files, stream the build, bring the manifest, logs and gate reports home' },
    identity: { type: 'string', value: 'FILE', help: 'with --host: private key to log in with (default: ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa)' },
    'known-hosts': { type: 'string', value: 'FILE', help: "with --host: known_hosts file the host's key must be in (default ~/.ssh/known_hosts); unknown or changed keys are refused" },
    'remote-dir': { type: 'string', value: 'DIR', help: 'with --host: where builds live on the host (default imagebuild-remote, under the login directory); its cache persists between builds' },
    'remote-command': { type: 'string', value: 'CMD', help: 'with --host: how to run imagebuild on the host (default imagebuild; e.g. "npx imagebuild")' },
    rendered: { type: 'string', value: 'DIR', help: 'build only if DIR holds exactly the files this imagebuild renders for the spec (used by --host)' },
  },
  positionals: { min: 1, max: 1 },
  async run({ positionals, flags, cwd, output }) {
    const version = versionArg(positionals[0]!);
    if (stringFlag(flags.host) !== undefined) return runRemoteBuild(version, flags, cwd, output);
    const fromLayer = layerFlag(flags['from-layer'], '--from-layer');
    const untilLayer = layerFlag(flags['until-layer'], '--until-layer');
    if (fromLayer && untilLayer && LAYER_NAMES.indexOf(fromLayer) > LAYER_NAMES.indexOf(untilLayer)) {
      throw new UsageError(`--from-layer ${fromLayer} is above --until-layer ${untilLayer}; the from layer must be at or below the until layer`);
    }
    const accel = oneOf(flags.accel, '--accel', ['kvm', 'tcg'] as const);
    const hostProfile = oneOf(flags['host-profile'], '--host-profile', ['gpu', 'cpu'] as const);
    const verifyLogin = verifyLoginFlags(flags, cwd);
    const allowBumpMismatch = stringFlag(flags['allow-bump-mismatch']);
    if (allowBumpMismatch !== undefined && flags.publish !== true) throw new UsageError('--allow-bump-mismatch goes with --publish');
    // Loaded only under GitHub Actions, like the other heavy modules only in the commands using them.
    const github = process.env.GITHUB_ACTIONS === 'true' ? (await import('./ci-output.js')).createGithubObserver(output, { version }) : undefined;
    const publishing = flags.publish === true ? await import('../app/release-publish.js') : undefined;
    // Refuse an existing version or a wrong bump before hours of building, not after.
    await publishing?.checkPublishable({ specArg: stringFlag(flags.spec), cwd, version, allowBumpMismatch }).catch((error: unknown) => {
      github?.failed(error);
      throw error;
    });
    const { buildImage } = await import('../app/build-image.js');
    const controller = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      output.err(`${signal}: stopping Packer and its VMs; nothing half-done will be registered`);
      controller.abort();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const report = await buildImage({
        specArg: stringFlag(flags.spec),
        version,
        cwd,
        fromLayer,
        untilLayer,
        accel,
        hostProfile,
        // GitHub Actions has no terminal: plain timestamped lines inside its groups.
        renderer: flags.json === true ? 'silent' : output.interactive && !github ? 'default' : 'simple',
        signal: controller.signal,
        verifyLogin,
        skipVerify: flags['no-verify'] === true,
        onEvent: github?.onEvent,
        renderedDir: stringFlag(flags.rendered) === undefined ? undefined : resolve(cwd, stringFlag(flags.rendered)!),
      });
      const published = publishing
        ? await publishing.publishRelease({ specArg: stringFlag(flags.spec), cwd, version, allowBumpMismatch, onProgress: createProgressRenderer(output), signal: controller.signal })
        : undefined;
      github?.succeeded(report, published ? `v${published.version} to ${published.store}` : undefined);
      if (flags.json === true) {
        output.json(published ? { ...report, published } : report);
        return 0;
      }
      if (published) output.out(`${output.paint('green', '✔')} published v${published.version} to ${published.store}`);
      const reused = report.layers.filter((l) => l.action === 'reused').length;
      const built = report.layers.filter((l) => l.action === 'built').length;
      output.out('');
      output.out(
        report.status === 'unchanged'
          ? `${output.paint('green', '✔')} v${report.version} is already built from identical inputs: ${report.artifact} (nothing to do, ${report.durationS.toFixed(1)} s)`
          : `${output.paint('green', '✔')} built ${report.artifact} in ${report.durationS.toFixed(0)} s (${built} layer(s) built, ${reused} reused)`,
      );
      output.out(`  manifest ${report.manifestPath}`);
      if (report.logsDir) output.out(`  logs     ${report.logsDir}`);
      if (!report.gpuValidated) output.out(`  ${output.paint('yellow', 'not GPU-validated:')} GPU checks were skipped (no GPU passed through); see the manifest's gates`);
      for (const notice of report.notices) output.err(`${output.paint('yellow', 'notice:')} ${notice}`);
      return 0;
    } catch (error) {
      github?.failed(error);
      throw error;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

type Flags = Parameters<Command['run']>[0]['flags'];

/** `build --host`: the same build on a GPU host over SSH, its output streamed here. */
async function runRemoteBuild(version: string, flags: Flags, cwd: string, output: Output): Promise<number> {
  for (const local of ['verify-key', 'rendered'] as const) {
    if (flags[local] !== undefined) throw new UsageError(`--${local} cannot be used with --host (it names a file on this machine); run the build on the host for it`);
  }
  const target = parseHostArg(stringFlag(flags.host)!, userInfo().username);
  if ('error' in target) throw new UsageError(target.error);
  const fromLayer = layerFlag(flags['from-layer'], '--from-layer');
  const untilLayer = layerFlag(flags['until-layer'], '--until-layer');
  const accel = oneOf(flags.accel, '--accel', ['kvm', 'tcg'] as const);
  const hostProfile = oneOf(flags['host-profile'], '--host-profile', ['gpu', 'cpu'] as const);
  const allowBumpMismatch = stringFlag(flags['allow-bump-mismatch']);
  const buildArgs = [
    ...(fromLayer ? ['--from-layer', fromLayer] : []),
    ...(untilLayer ? ['--until-layer', untilLayer] : []),
    ...(accel ? ['--accel', accel] : []),
    ...(flags['no-verify'] === true ? ['--no-verify'] : []),
    ...(stringFlag(flags['verify-user']) ? ['--verify-user', stringFlag(flags['verify-user'])!] : []),
    ...(flags.publish === true ? ['--publish'] : []),
    ...(allowBumpMismatch ? ['--allow-bump-mismatch', allowBumpMismatch] : []),
  ];
  const { remoteBuild } = await import('../app/remote-build.js');
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    output.err(`${signal}: interrupting the remote build (it stops Packer and its VMs there)`);
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const report = await remoteBuild({
      specArg: stringFlag(flags.spec),
      cwd,
      version,
      target,
      auth: {
        identity: stringFlag(flags.identity) === undefined ? undefined : resolve(cwd, stringFlag(flags.identity)!),
        knownHosts: stringFlag(flags['known-hosts']) === undefined ? undefined : resolve(cwd, stringFlag(flags['known-hosts'])!),
      },
      remoteDir: stringFlag(flags['remote-dir']) ?? 'imagebuild-remote',
      imagebuild: stringFlag(flags['remote-command']) ?? 'imagebuild',
      localVersion: packageVersion(),
      hostProfile,
      buildArgs,
      signal: controller.signal,
      onLine: (line, from) => (flags.json === true ? undefined : from === 'stdout' ? output.out(line) : output.err(line)),
      onStep: (message) => (flags.json === true ? undefined : output.err(`${output.paint('cyan', '»')} ${message}`)),
    });
    if (flags.json === true) {
      output.json(report);
      return 0;
    }
    output.out(`${output.paint('green', '✔')} built v${report.manifest.version} on ${report.host} in ${report.durationS.toFixed(0)} s: ${report.remoteVersionDir}/${report.manifest.artifact}`);
    output.out(`  brought home ${report.filesFetched} file(s) (manifest, SHA256SUMS, logs, gate reports) to ${report.localDir}`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const cache: Command = {
  name: 'cache',
  usage: 'imagebuild cache <ls|prune> [--spec FILE] [--yes] [--keep-failed] [--json]',
  summary: 'list the layer cache, or prune what no build will use again',
  description:
    "`cache ls` lists registered layers (key, spec, age, size, gate, and whether the current spec's plan uses them),\n" +
    'bootstrap images, failed layers kept for debugging and build directories.\n' +
    '`cache prune` removes layers used neither by the current plan nor by a release in the output directory, bootstraps\n' +
    'no kept base layer uses, failed layers (unless --keep-failed), finished build directories and staging directories\n' +
    'a killed run left (a build removes those itself when it starts). It only lists what it would remove unless --yes\n' +
    'is given, and takes the cache lock while it deletes.',
  flags: {
    spec: SPEC_FLAG,
    yes: { type: 'boolean', help: 'prune: really delete (default: dry run)' },
    'keep-failed': { type: 'boolean', help: 'prune: keep failed layers' },
    'host-profile': HOST_PROFILE_FLAG,
    json: JSON_FLAG,
  },
  positionals: { min: 1, max: 1 },
  async run({ positionals, flags, cwd, output }) {
    const action = positionals[0];
    const { listCache, pruneCache } = await import('../app/cache-admin.js');
    const { displayPathOf } = await import('../app/load-spec.js');
    if (action === 'ls') {
      const listing = await listCache({ specArg: stringFlag(flags.spec), cwd, hostProfile: oneOf(flags['host-profile'], '--host-profile', ['gpu', 'cpu'] as const) });
      if (flags.json === true) {
        output.json(listing);
        return 0;
      }
      output.out(`cache ${displayPathOf(listing.cacheDir, cwd)}: ${formatBytes(listing.totalBytes)}`);
      if (listing.layers.length === 0) output.out('  no registered layers');
      for (const l of listing.layers) {
        output.out(`  ${l.layer.padEnd(10)} ${l.key.slice(0, 12)}  ${l.specName}  ${l.createdAt}  ${formatBytes(l.bytes).padStart(9)}  gate ${l.gate}${l.inCurrentPlan ? output.paint('green', '  (current plan)') : ''}`);
      }
      for (const b of listing.bootstraps) output.out(`  bootstrap  ${b.key.slice(0, 12)}  ${formatBytes(b.bytes)}`);
      for (const f of listing.failed) output.out(`  failed     ${f.name}  ${formatBytes(f.bytes)}`);
      if (listing.builds.length > 0) output.out(`  builds     ${listing.builds.length} director${listing.builds.length === 1 ? 'y' : 'ies'}, ${formatBytes(listing.builds.reduce((s, b) => s + b.bytes, 0))}`);
      for (const problem of listing.problems) output.err(`${output.paint('yellow', 'notice:')} ${problem}`);
      return 0;
    }
    if (action === 'prune') {
      const result = await pruneCache({ specArg: stringFlag(flags.spec), cwd, apply: flags.yes === true, keepFailed: flags['keep-failed'] === true, hostProfile: oneOf(flags['host-profile'], '--host-profile', ['gpu', 'cpu'] as const) });
      if (flags.json === true) {
        output.json(result);
        return 0;
      }
      const verb = result.dryRun ? 'would remove' : 'removed';
      for (const item of result.removed) output.out(`  ${verb} ${displayPathOf(item.path, cwd)} (${formatBytes(item.bytes)}): ${item.why}`);
      output.out(`${result.removed.length === 0 ? 'nothing to prune' : `${verb} ${result.removed.length} item(s), ${formatBytes(result.freedBytes)}`}${result.dryRun && result.removed.length > 0 ? ' — run with --yes to delete' : ''}`);
      return 0;
    }
    throw new UsageError(`cache: unknown action "${action}"; valid: ls, prune`);
  },
};

const rollback: Command = {
  name: 'rollback',
  usage: 'imagebuild rollback (--layer LAYER [--keep-failed] | --to VERSION [--reason TEXT]) [--spec FILE] [--json]',
  summary: 'layer level: drop a cached layer and those above it; version level: point `current` back to a release',
  description:
    "With --layer (layer level, for on-call): removes the current spec's cached entries of LAYER and the layers above it\n" +
    '(and the failed attempts of those layers, unless --keep-failed), leaving the layers below intact and reusable. Refused\n' +
    'while a build holds the cache lock. Lists what it removed.\n' +
    VERSION_ROLLBACK_HELP,
  flags: {
    spec: SPEC_FLAG,
    layer: { type: 'string', value: 'LAYER', help: `the lowest layer to drop: ${LAYER_NAMES.join(', ')}` },
    'keep-failed': { type: 'boolean', help: 'keep the failed attempts of those layers for debugging' },
    'host-profile': HOST_PROFILE_FLAG,
    ...VERSION_ROLLBACK_FLAGS,
    json: JSON_FLAG,
  },
  positionals: { min: 0, max: 0 },
  async run(invocation) {
    const { flags, cwd, output } = invocation;
    if (flags.to !== undefined && flags.layer !== undefined) throw new UsageError('rollback: give --layer (a cached layer) or --to (a release), not both');
    if (flags.to !== undefined) return runVersionRollback(invocation);
    const layer = layerFlag(flags.layer, '--layer');
    if (!layer) throw new UsageError('rollback: give --layer LAYER (e.g. driver) or --to VERSION (e.g. v1.0.1)');
    const { rollbackLayer } = await import('../app/cache-admin.js');
    const result = await rollbackLayer({ specArg: stringFlag(flags.spec), cwd, layer, keepFailed: flags['keep-failed'] === true, hostProfile: oneOf(flags['host-profile'], '--host-profile', ['gpu', 'cpu'] as const) });
    if (flags.json === true) {
      output.json(result);
      return 0;
    }
    for (const removed of result.removedLayers) output.out(`  removed ${removed.layer} ${removed.key.slice(0, 12)}`);
    for (const failed of result.removedFailed) output.out(`  removed failed attempt ${failed}`);
    const below = LAYER_NAMES[LAYER_NAMES.indexOf(layer) - 1];
    output.out(
      `${output.paint('green', '✔')} rolled back to ${below ?? 'nothing (base dropped)'}: ${result.removedLayers.length} cached layer(s) removed; the next build rebuilds from ${layer}`,
    );
    return 0;
  },
};

const verify: Command = {
  name: 'verify',
  usage: 'imagebuild verify <image.qcow2> [--spec FILE] [--verify-user USER --verify-key FILE] [--accel kvm|tcg] [--json]',
  summary: 'boot a finished image through a throwaway overlay and check it over SSH',
  description:
    'The same step `build` runs on every artifact: boots the image by its own bootloader through a throwaway overlay (the\n' +
    "image itself is never written), waits for SSH, checks that the build account is refused (with the cache's build key),\n" +
    "and — with a spec user's key — runs the base and validation gate checks inside it. Then re-checks the image's SHA-256\n" +
    'against the image-manifest.json beside it. Exit 0 passed, 1 failed.',
  flags: {
    spec: SPEC_FLAG,
    'verify-user': { type: 'string', value: 'USER', help: 'a spec user to log in as (with --verify-key)' },
    'verify-key': { type: 'string', value: 'FILE', help: "that user's private SSH key; without it only boot, SSH and the build account are checked" },
    accel: { type: 'string', value: 'kvm|tcg', help: 'accelerator for the verification VM (default: tcg unless the spec says kvm)' },
    json: JSON_FLAG,
  },
  positionals: { min: 1, max: 1 },
  async run({ positionals, flags, cwd, output }) {
    const login = verifyLoginFlags(flags, cwd);
    const accel = oneOf(flags.accel, '--accel', ['kvm', 'tcg'] as const);
    const { verifyImageFile } = await import('../app/verify-image.js');
    const result = await verifyImageFile({ image: resolve(cwd, positionals[0]!), specArg: stringFlag(flags.spec), cwd, login, accelerator: accel });
    if (flags.json === true) {
      output.json(result);
      return result.status === 'passed' ? 0 : 1;
    }
    const mark = result.status === 'passed' ? output.paint('green', '✔ verified') : output.paint('red', '✖ verification failed');
    output.out(`${mark} ${positionals[0]} in ${result.duration_s.toFixed(0)} s`);
    output.out(`  boots and answers SSH: ${result.booted ? `yes (host key ${result.ssh_host_key_sha256})` : 'no'}`);
    output.out(`  build account refused: ${result.build_account_refused ? 'yes' : 'NO'}`);
    output.out(`  in-guest gate: ${result.gate.status} — ${result.gate.summary}`);
    output.out(`  SHA-256 unchanged: ${result.sha256_unchanged ? 'yes' : 'NO'}`);
    for (const problem of result.problems) output.err(`${output.paint('red', 'error:')} ${problem}`);
    return result.status === 'passed' ? 0 : 1;
  },
};

export const COMMANDS: readonly Command[] = [validate, compat, render, plan, build, verify, ...RELEASE_COMMANDS, rollback, cache, schema];

function gpuCountFlag(value: string | boolean | undefined): number | undefined {
  const given = stringFlag(value);
  if (given === undefined) return undefined;
  if (!/^\d{1,2}$/.test(given) || Number(given) < 1 || Number(given) > 16) {
    throw new UsageError(`--gpus ${JSON.stringify(given.slice(0, 20))} is not a GPU count; give 1 to 16`);
  }
  return Number(given);
}

function verifyLoginFlags(flags: Invocation['flags'], cwd: string): { user: string; privateKey: string } | undefined {
  const user = stringFlag(flags['verify-user']);
  const key = stringFlag(flags['verify-key']);
  if ((user === undefined) !== (key === undefined)) throw new UsageError('--verify-user and --verify-key go together: a spec user and their private key');
  if (user === undefined || key === undefined) return undefined;
  return { user, privateKey: resolve(cwd, key) };
}




