import { describe, expect, it } from 'vitest';
import { ReleaseInconsistentError } from '../../errors/index.js';
import { checkSums, parseSumsText } from './release-sums.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('SHA256SUMS', () => {
  it('reads text and binary mode lines, as sha256sum writes them', () => {
    expect(parseSumsText(`${A}  box-v1.0.0.qcow2\n${B} *sbom.cdx.json\n`, 'SHA256SUMS')).toEqual([
      { name: 'box-v1.0.0.qcow2', sha256: A },
      { name: 'sbom.cdx.json', sha256: B },
    ]);
  });

  it.each([
    ['a path', `${A}  ../etc/passwd\n`, /line 1 is not/],
    ['upper-case hex', `${A.toUpperCase()}  x.qcow2\n`, /line 1 is not/],
    ['a short digest', `${A.slice(1)}  x.qcow2\n`, /line 1 is not/],
    ['a blank line', `${A}  x.qcow2\n\n`, /line 2 is not/],
    ['a duplicate', `${A}  x.qcow2\n${B}  x.qcow2\n`, /line 2 lists x\.qcow2 a second time/],
    ['nothing', '', /line 1 is not/],
  ])('refuses %s in one line naming the file', (_what, text, message) => {
    expect(() => parseSumsText(text, 's3://b/SHA256SUMS')).toThrow(ReleaseInconsistentError);
    expect(() => parseSumsText(text, 's3://b/SHA256SUMS')).toThrow(message);
  });

  it('accepts a list covering every expected file (and more), refuses a missing or different one', () => {
    const sums = parseSumsText(`${A}  x.qcow2\n${B}  sbom.cdx.json\n${A}  x.raw.xz\n`, 'SUMS');
    expect(() => checkSums(sums, [{ name: 'x.qcow2', sha256: A }, { name: 'sbom.cdx.json', sha256: B }], 'SUMS')).not.toThrow();
    expect(() => checkSums(sums, [{ name: 'image-manifest.json', sha256: A }], 'SUMS')).toThrow('SUMS does not list image-manifest.json');
    expect(() => checkSums(sums, [{ name: 'x.qcow2', sha256: B }], 'SUMS')).toThrow(`SUMS gives x.qcow2 SHA-256 ${A}, but ${B} was expected`);
  });
});
