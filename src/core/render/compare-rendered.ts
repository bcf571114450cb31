import type { RenderedFile } from './render-image.js';

/**
 * What differs between the files imagebuild renders now and a rendered directory handed to it
 * (`build --rendered`, e.g. uploaded by a remote build): missing, extra and changed paths, sorted.
 * Empty when they are the same files with the same bytes.
 */
export function compareRendered(expected: readonly RenderedFile[], given: Readonly<Record<string, string>>): string[] {
  const wanted = new Map(expected.map((f) => [f.path, f.content]));
  const problems: string[] = [];
  for (const [path, content] of wanted) {
    if (!(path in given)) problems.push(`${path} missing`);
    else if (given[path] !== content) problems.push(`${path} differs`);
  }
  for (const path of Object.keys(given)) if (!wanted.has(path)) problems.push(`${path} not rendered here`);
  return problems.sort();
}
