import { resolve } from 'node:path';
import { defaultRenderDir } from '../adapters/workspace/project-layout.js';
import { whyNotWritableDirectory } from '../adapters/fs/probe-directory.js';
import { replaceDirectory } from '../adapters/fs/write-files.js';
import { FileAccessError } from '../errors/index.js';
import { readToolVersion } from '../adapters/tools/tool-versions.js';
import type { RenderedFile } from '../core/render/render-image.js';
import { loadSpec, type LoadedSpec } from './load-spec.js';
import { renderSpec } from './prepare-image.js';

export type RenderResult = {
  readonly spec: LoadedSpec;
  readonly outDir: string;
  readonly files: readonly RenderedFile[];
  /** The Packer version the files were rendered for, and where that came from. */
  readonly packerTarget: { version: string | undefined; source: 'flag' | 'installed' | 'default' };
};

/** Renders a spec's build files and writes them atomically to `outDir` (default `.imagebuild/rendered/<name>`). */
export async function renderSpecFiles(options: { specArg?: string; outArg?: string; packerVersion?: string; cwd: string }): Promise<RenderResult> {
  const spec = await loadSpec(options.specArg, options.cwd);
  const packerTarget = options.packerVersion
    ? { version: options.packerVersion, source: 'flag' as const }
    : await detectPackerTarget();
  const files = await renderSpec(spec.spec, packerTarget.version);
  const outDir = options.outArg === undefined ? defaultRenderDir(options.cwd, spec.spec.name) : resolve(options.cwd, options.outArg);
  // A file or a link loop where the directory should be, or a read-only filesystem: said as such, not as a failed temporary path.
  const unwritable = await whyNotWritableDirectory(outDir);
  if (unwritable !== undefined) throw new FileAccessError(`render: ${unwritable}; choose another --out directory`);
  await replaceDirectory(outDir, files);
  return { spec, outDir, files, packerTarget };
}

async function detectPackerTarget(): Promise<RenderResult['packerTarget']> {
  const installed = await readToolVersion('packer');
  return installed.version ? { version: installed.version, source: 'installed' } : { version: undefined, source: 'default' };
}
