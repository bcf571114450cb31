import { PackageURL } from 'packageurl-js';
import { describe, expect, it } from 'vitest';
import { debPurl, encodePurlComponent, ociPurl, pypiPurl } from './package-url.js';

describe('package URLs', () => {
  it('percent-encode + (and anything outside A-Z a-z 0-9 . - _ ~ :) as the purl specification requires', () => {
    expect(encodePurlComponent('2.13.0+cu130')).toBe('2.13.0%2Bcu130');
    expect(encodePurlComponent('1:2.4.47-2+b1')).toBe('1:2.4.47-2%2Bb1');
    expect(encodePurlComponent('a b/c@d?e#f%')).toBe('a%20b%2Fc%40d%3Fe%23f%25');
    expect(encodePurlComponent('ü')).toBe('%C3%BC');
  });

  it("write the specification's own deb example, and a PyPI local version", () => {
    expect(debPurl('debian', 'attr', '1:2.4.47-2+b1', 'amd64')).toBe('pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=amd64');
    expect(debPurl('Ubuntu', 'bash', '5.2.21-2ubuntu4', 'amd64', 'noble')).toBe('pkg:deb/ubuntu/bash@5.2.21-2ubuntu4?arch=amd64&distro=noble');
    expect(pypiPurl('torch', '2.13.0+cu130')).toBe('pkg:pypi/torch@2.13.0%2Bcu130');
  });

  it('normalize PyPI names as PEP 503 does (lower case, runs of - _ . become one -)', () => {
    expect(pypiPurl('Foo_Bar.Baz', '1.0')).toBe('pkg:pypi/foo-bar-baz@1.0');
    expect(pypiPurl('ruamel.yaml', '0.18.14')).toBe('pkg:pypi/ruamel-yaml@0.18.14');
  });

  it('name an OCI image by the last segment of its repository, with the repository and tag as qualifiers', () => {
    expect(ociPurl('nvcr.io/nvidia/CUDA', 'sha256:abc', '12.8.1-base')).toBe('pkg:oci/cuda@sha256:abc?repository_url=nvcr.io%2Fnvidia%2FCUDA&tag=12.8.1-base');
  });

  it('parse back with the reference implementation (packageurl-js) into the same parts', () => {
    const deb = PackageURL.fromString(debPurl('debian', 'libc6', '2.36-9+deb12u4', 'amd64', 'bookworm'));
    const pypi = PackageURL.fromString(pypiPurl('torch', '2.13.0+cu130'));
    const oci = PackageURL.fromString(ociPurl('docker.io/library/debian', 'sha256:244fd47e07d10', 'bookworm'));

    expect([deb.type, deb.namespace, deb.name, deb.version, { ...deb.qualifiers }]).toEqual(['deb', 'debian', 'libc6', '2.36-9+deb12u4', { arch: 'amd64', distro: 'bookworm' }]);
    expect([pypi.type, pypi.name, pypi.version]).toEqual(['pypi', 'torch', '2.13.0+cu130']);
    expect([oci.name, oci.version, { ...oci.qualifiers }]).toEqual(['debian', 'sha256:244fd47e07d10', { repository_url: 'docker.io/library/debian', tag: 'bookworm' }]);
  });
});
