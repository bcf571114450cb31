import { decodeBuildFlags } from '../../app/build/options.js';
import { LAYER_NAMES } from '../../core/spec/layers.js';
import type { Command } from '../command.js';
import { HOST_PROFILE_FLAG, JSON_FLAG, SPEC_FLAG, versionArg } from '../flags.js';

/** `imagebuild plan`. */
export const planCommand: Command = {
  name: 'plan',
  usage: 'imagebuild plan <version> [--spec FILE] [--from-layer LAYER] [--until-layer LAYER] [--json]',
  positionals: { min: 1, max: 1 },
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
  async run({ positionals, flags, cwd, output }) {
    // The same flags as build, read by the same codec: the plan is the one build would follow.
    const version = versionArg(positionals[0]!);
    const { specArg, fromLayer, untilLayer, hostProfile } = decodeBuildFlags(flags, cwd);
    const { planImage } = await import('../../app/plan-image.js');
    const { displayPathOf } = await import('../../app/load-spec.js');
    const result = await planImage({ specArg, version, cwd, fromLayer, untilLayer, hostProfile });
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
