// Package URLs (purl) as the specification writes them canonically. Source: the purl specification,
// "Character encoding" (https://github.com/package-url/purl-spec/blob/main/docs/standard/characters-and-encoding.md):
// only A-Z a-z 0-9 . - _ ~ and the colon stay as they are; every other octet of the UTF-8 text is
// percent-encoded, so a Debian binNMU 5.2.15-2+b8 is `5.2.15-2%2Bb8` and a PyPI local version
// 2.13.0+cu130 is `2.13.0%2Bcu130` (packageurl-js leaves + unencoded, which the specification does not
// allow, hence this module). Type rules: types/deb-definition.json, types/pypi-definition.json and
// types/oci-definition.json in the same repository.

const UNENCODED = /^[A-Za-z0-9._~:-]$/;

/** A purl component percent-encoded as the specification requires. */
export function encodePurlComponent(text: string): string {
  return [...text]
    .map((ch) => (UNENCODED.test(ch) ? ch : [...new TextEncoder().encode(ch)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')))
    .join('');
}

type PurlParts = {
  readonly type: string;
  readonly namespace?: string;
  readonly name: string;
  readonly version?: string;
  /** Written sorted by key, as the specification's canonical form does; undefined values are left out. */
  readonly qualifiers?: Readonly<Record<string, string | undefined>>;
};

/** `pkg:type/namespace/name@version?qualifiers`, each component encoded. */
export function formatPurl(parts: PurlParts): string {
  const namespace = parts.namespace === undefined ? '' : `${parts.namespace.split('/').map(encodePurlComponent).join('/')}/`;
  const version = parts.version === undefined ? '' : `@${encodePurlComponent(parts.version)}`;
  const qualifiers = Object.entries(parts.qualifiers ?? {})
    .filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${encodePurlComponent(value)}`);
  return `pkg:${parts.type}/${namespace}${encodePurlComponent(parts.name)}${version}${qualifiers.length > 0 ? `?${qualifiers.join('&')}` : ''}`;
}

/** A Debian or Ubuntu binary package: the vendor (os-release ID) and name lower-cased, `arch` and `distro` qualifiers. */
export function debPurl(vendor: string, name: string, version: string, arch: string, distro?: string): string {
  return formatPurl({ type: 'deb', namespace: vendor.toLowerCase(), name: name.toLowerCase(), version, qualifiers: { arch, distro } });
}

/** A PyPI name as PEP 503 normalizes it (the purl pypi type's rule): lower-case, runs of - _ . become one -. */
export function normalizePypiName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/** A distribution installed from PyPI (or an index that mirrors it). */
export function pypiPurl(name: string, version: string): string {
  return formatPurl({ type: 'pypi', name: normalizePypiName(name), version });
}

/** An OCI image by its manifest digest: the last segment of its repository as the name, the repository and tag as qualifiers. */
export function ociPurl(repository: string, digest: string, tag?: string): string {
  const name = repository.split('/').at(-1)!.toLowerCase();
  return formatPurl({ type: 'oci', name, version: digest, qualifiers: { repository_url: repository, tag } });
}
