import { join, relative } from 'node:path';
import { ensureDirectory } from '../../adapters/fs/directories.js';
import { readTree } from '../../adapters/fs/read-files.js';
import { RENDER_MARKER, replaceDirectory } from '../../adapters/fs/write-files.js';
import { qemuImgShimDir } from '../../adapters/qemu-img/qemu-img-shim.js';
import { compareRendered } from '../../core/render/compare-rendered.js';
import { ImagebuildError } from '../../errors/index.js';
import { renderSpec } from '../prepare-image.js';
import type { BuildRun } from './build-run.js';

/**
 * Makes the run's directory (logs, reports, work), the qemu-img shim and the rendered files. Files
 * rendered elsewhere (`renderedDir`, from a remote build's laptop) must be exactly what this renders:
 * what was reviewed is what is built. Returns the shim's directory.
 */
export async function prepareBuildDirectory(run: BuildRun, renderedDir: string | undefined): Promise<{ shimDir: string }> {
  for (const dir of [run.dir.logs, run.dir.reports, run.dir.work]) await ensureDirectory(dir);
  const shimDir = await qemuImgShimDir(run.cache.shim);
  const files = await renderSpec(run.spec, run.tools.packer === 'missing' ? undefined : run.tools.packer);
  if (renderedDir !== undefined) {
    const differences = compareRendered(files, await readTree(renderedDir, [RENDER_MARKER]));
    if (differences.length > 0) {
      throw new ImagebuildError(
        'RENDERED_MISMATCH',
        `${renderedDir}: not what this imagebuild renders for the spec (${differences.slice(0, 3).join(', ')}${differences.length > 3 ? `, +${differences.length - 3} more` : ''}); render with the same imagebuild version and Packer version`,
      );
    }
  }
  // The installer fetches the build key from the base unit's HTTP directory; written with the rendered files, so the
  // render marker lists it and a second run in the same build directory replaces it like the rest.
  const buildKeyFile = run.spec.os.source.kind === 'iso' ? [{ path: join(relative(run.dir.rendered, run.dir.renderedOf('base')), 'http', 'build-key.pub'), content: `${run.buildKey.publicKey}\n` }] : [];
  await replaceDirectory(run.dir.rendered, [...files, ...buildKeyFile]);
  return { shimDir };
}
