import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTemplateSources } from '../src/adapters/fs/read-files.js';
import { replaceDirectory } from '../src/adapters/fs/write-files.js';
import { parsePackerVersion } from '../src/adapters/tools/tool-versions.js';
import { RENDER_UNITS, renderImage } from '../src/core/render/render-image.js';
import { PROJECT_ROOT } from './helpers/project-root.js';
import { DEMO_SPEC_PATH, LOCAL_DEV_SPEC_PATH, specFrom } from './helpers/spec-builders.js';
import { makeTempDir } from './helpers/temp-dir.js';
import { requireTools } from './helpers/require-tools.js';

// The real packer (Debian's 1.6.6 in CI) judges the rendered HCL. CI installs it; without it here the
// suite is skipped and says so, rather than passing.
const packerVersion = requireTools('test/packer-validate.test.ts', 'packer')
  ? parsePackerVersion(execFileSync('packer', ['version'], { encoding: 'utf8', env: { ...process.env, CHECKPOINT_DISABLE: '1' } }))
  : null;

const CLOUD_IMAGE: [readonly string[], unknown] = [
  ['os', 'source'],
  { kind: 'cloud_image', url: 'https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img', checksum: `sha256:${'0'.repeat(64)}` },
];

describe.skipIf(!packerVersion)(`rendered HCL through the real packer ${packerVersion ?? '(not installed: skipped)'}`, () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let keyFile: string;

  beforeAll(async () => {
    work = await makeTempDir();
    keyFile = join(work.dir, 'build_ed25519');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
  });
  afterAll(() => work.cleanup());

  it.each([
    ['demo box (ISO autoinstall, VFIO passthrough)', DEMO_SPEC_PATH, []],
    ['local-dev (bootstrapped base, no GPU)', LOCAL_DEV_SPEC_PATH, []],
    ['cloud image base', DEMO_SPEC_PATH, [CLOUD_IMAGE]],
    ['TCG accelerator on the pc machine', LOCAL_DEV_SPEC_PATH, [[['hardware', 'build_vm', 'accelerator'], 'tcg'] as [readonly string[], unknown]]],
  ] as const)('%s: every unit passes packer validate and packer fmt -check', async (name, specPath, changes) => {
    const outDir = join(work.dir, name.replace(/\W+/g, '-'));
    await replaceDirectory(outDir, renderImage(specFrom(specPath, changes), await loadTemplateSources(PROJECT_ROOT), { packerVersion: packerVersion! }));
    const vars = [
      `project_dir=${PROJECT_ROOT}`,
      `report_dir=${work.dir}`,
      `output_directory=${join(work.dir, 'out')}`,
      `parent_image=${join(work.dir, 'parent.qcow2')}`,
      `kernel_dir=${work.dir}`,
      `ssh_private_key_file=${keyFile}`,
      `build_key_pub=${keyFile}.pub`,
    ].flatMap((v) => ['-var', v]);

    for (const unit of RENDER_UNITS) {
      const validate = await execa('packer', ['validate', ...vars, `${unit}/${unit}.pkr.hcl`], { cwd: outDir, reject: false, env: { CHECKPOINT_DISABLE: '1' } });
      const fmt = await execa('packer', ['fmt', '-check', '-diff', unit], { cwd: outDir, reject: false });

      expect({ unit, exitCode: validate.exitCode, stderr: validate.stderr }).toEqual({ unit, exitCode: 0, stderr: '' });
      expect({ unit, exitCode: fmt.exitCode, diff: fmt.stdout }).toEqual({ unit, exitCode: 0, diff: '' });
    }
  });

  it('rejects a bad accelerator through the variable validation block', async () => {
    const outDir = join(work.dir, 'accel');
    await replaceDirectory(outDir, renderImage(specFrom(LOCAL_DEV_SPEC_PATH), await loadTemplateSources(PROJECT_ROOT), { packerVersion: packerVersion! }));

    const result = await execa(
      'packer',
      ['validate', '-var', `project_dir=${PROJECT_ROOT}`, '-var', `report_dir=${work.dir}`, '-var', `output_directory=${work.dir}/o`, '-var', `ssh_private_key_file=${keyFile}`, '-var', `parent_image=${work.dir}/p.qcow2`, '-var', 'accelerator=hvf', 'driver/driver.pkr.hcl'],
      { cwd: outDir, reject: false, env: { CHECKPOINT_DISABLE: '1' } },
    );

    expect(result.exitCode).toBe(1);
    expect(result.stdout + result.stderr).toContain('The accelerator must be kvm or tcg.');
  });

  it('formats the current-Packer plugin requirements file', async () => {
    const outDir = join(work.dir, 'plugins');
    await replaceDirectory(outDir, renderImage(specFrom(DEMO_SPEC_PATH), await loadTemplateSources(PROJECT_ROOT), { packerVersion: '1.11.2' }));

    const fmt = await execa('packer', ['fmt', '-check', '-diff', 'base/plugins.pkr.hcl'], { cwd: outDir, reject: false });

    expect(fmt.exitCode).toBe(0);
  });
});
