import { sha256Hex } from '../digest.js';
import { ReleaseInconsistentError } from '../../errors/index.js';
import { printableText } from '../printable-text.js';

/** One file of a release and the SHA-256 its SHA256SUMS (or manifest) gives it. */
export type FileSum = { readonly name: string; readonly sha256: string };

// What `sha256sum` writes: 64 hex digits, a space, a space (text mode) or `*` (binary mode), a name.
const SUMS_LINE = /^([0-9a-f]{64}) [ *]([^\n/\\]+)$/;

/**
 * Parses a SHA256SUMS file as `sha256sum -c` reads it (one `<sha256>  <name>` per line, plain file
 * names only). Anything else — a path, a duplicate name, a malformed line — is ReleaseInconsistentError
 * naming `where` and the line: a release's checksum list is written by imagebuild, never by hand.
 */
export function parseSumsText(text: string, where: string): FileSum[] {
  const sums: FileSum[] = [];
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
  for (const [i, line] of lines.entries()) {
    const match = SUMS_LINE.exec(line);
    if (!match) throw new ReleaseInconsistentError(`${where}: line ${i + 1} is not "<sha256>  <file name>" (${JSON.stringify(printableText(line.slice(0, 80)))})`);
    const [, sha256, name] = match as unknown as [string, string, string];
    if (sums.some((s) => s.name === name)) throw new ReleaseInconsistentError(`${where}: line ${i + 1} lists ${printableText(name)} a second time`);
    sums.push({ name, sha256 });
  }
  if (sums.length === 0) throw new ReleaseInconsistentError(`${where}: lists no file`);
  return sums;
}

/**
 * Checks that a release's SHA256SUMS agrees with what it must cover: every `expected` file listed with
 * exactly that SHA-256. Files the list names beyond those (an export this reader does not fetch) are
 * allowed; a missing or different one is ReleaseInconsistentError naming the file and both digests.
 */
export function checkSums(sums: readonly FileSum[], expected: readonly FileSum[], where: string): void {
  for (const file of expected) {
    const listed = sums.find((s) => s.name === file.name);
    if (listed === undefined) throw new ReleaseInconsistentError(`${where} does not list ${file.name}; the release is inconsistent, refusing it`);
    if (listed.sha256 !== file.sha256) {
      throw new ReleaseInconsistentError(`${where} gives ${file.name} SHA-256 ${listed.sha256}, but ${file.sha256} was expected; the release is inconsistent, refusing it`);
    }
  }
}

/**
 * A release's SHA256SUMS: the lines for its files (the image, SBOM, provenance, exports: releaseSumsText
 * of its manifest), then the manifest's own line, so one signature over this file covers every byte.
 */
export function sumsWithManifest(filesText: string, manifestFile: string, manifestText: string): string {
  return `${filesText}${sha256Hex(manifestText)}  ${manifestFile}\n`;
}
