import { UsageError } from '../../errors/index.js';
import type { Command } from '../command.js';
import { JSON_FLAG, SPEC_FLAG, stringFlag } from '../flags.js';

/** `imagebuild render`. */
export const renderCommand: Command = {
  name: 'render',
  usage: 'imagebuild render [--spec FILE] [--out DIR] [--packer-version X.Y.Z] [--json]',
  positionals: { min: 0, max: 0 },
  summary: 'write the Packer HCL, Ansible vars and install seeds of every layer',
  description:
    'Renders, per layer (base, driver, runtime, frameworks, validation) and for the final seal step, a Packer HCL2 build,\n' +
    "that layer's Ansible variables and its gate parameters; layer 1 also gets its autoinstall or cloud-init seed.\n" +
    'Output is deterministic (same spec, same bytes) and replaces DIR atomically; DIR defaults to .imagebuild/rendered/<name>.\n' +
    'DIR/.imagebuild-rendered lists the files a render wrote; a render over DIR refuses (exit 1, naming them) when DIR holds\n' +
    'anything else — a note, a directory, a link — so it never deletes a file it did not write.\n' +
    'Plugin requirements (plugins.pkr.hcl) are included only for Packer >= 1.7; the target is --packer-version, else the\n' +
    'installed packer, else current Packer.',
  flags: {
    spec: SPEC_FLAG,
    out: { type: 'string', value: 'DIR', help: 'output directory (replaced as a whole; refused if it holds any file imagebuild did not write there)' },
    'packer-version': { type: 'string', value: 'X.Y.Z', help: 'render for this Packer version instead of the installed one' },
    json: JSON_FLAG,
  },
  async run({ flags, cwd, output }) {
    const packerVersion = stringFlag(flags['packer-version']);
    if (packerVersion !== undefined && !/^\d+\.\d+\.\d+$/.test(packerVersion)) {
      throw new UsageError(`--packer-version "${packerVersion}" is not a version; give X.Y.Z, e.g. 1.6.6`);
    }
    const { renderSpecFiles } = await import('../../app/render-files.js');
    const { displayPathOf } = await import('../../app/load-spec.js');
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
