import { createHash, createHmac } from 'node:crypto';

// OpenSSH known_hosts, as ssh reads it: `[marker] hostpatterns keytype base64key [comment]`, host
// patterns comma-separated, `[host]:port` for a port other than 22, `!` negation, `*`/`?` wildcards,
// and hashed names `|1|salt|hmac-sha1(salt, name)`. `@revoked` refuses a key; `@cert-authority`
// lines are not used (imagebuild does not check certificates), so a host known only through a CA is
// unknown here.

export type KnownHostEntry = {
  readonly line: number;
  readonly marker?: 'revoked' | 'cert-authority';
  readonly patterns: readonly string[];
  readonly keyType: string;
  readonly key: string;
};

export type HostKeyVerdict =
  | { readonly status: 'match'; readonly line: number }
  | { readonly status: 'revoked'; readonly line: number }
  /** The host is known with other keys: possibly a man in the middle, possibly a reinstalled host. */
  | { readonly status: 'mismatch'; readonly lines: readonly number[] }
  | { readonly status: 'unknown' };

/** Parses known_hosts text; malformed lines are skipped, as ssh skips them. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]?.startsWith('@')) {
      const name = fields.shift()!.slice(1);
      if (name !== 'revoked' && name !== 'cert-authority') return;
      marker = name;
    }
    const [hosts, keyType, key] = fields;
    if (!hosts || !keyType || !key || !/^[A-Za-z0-9+/]+=*$/.test(key)) return;
    entries.push({ line: index + 1, ...(marker ? { marker } : {}), patterns: hosts.split(','), keyType, key });
  });
  return entries;
}

/** How known_hosts names a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function wildcardToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, 'i');
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  return wildcardToRegExp(pattern).test(name);
}

/** Whether an entry's host patterns name this host (a matching negated pattern excludes it). */
export function entryNamesHost(entry: KnownHostEntry, name: string): boolean {
  let matched = false;
  for (const pattern of entry.patterns) {
    if (pattern.startsWith('!')) {
      if (patternMatches(pattern.slice(1), name)) return false;
    } else if (patternMatches(pattern, name)) {
      matched = true;
    }
  }
  return matched;
}

/** Judges the key a server presented (its base64 blob) against the entries for `host`:`port`. */
export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, presentedKey: string): HostKeyVerdict {
  const name = knownHostName(host, port);
  const forHost = entries.filter((e) => e.marker !== 'cert-authority' && entryNamesHost(e, name));
  const revoked = forHost.find((e) => e.marker === 'revoked' && e.key === presentedKey);
  if (revoked) return { status: 'revoked', line: revoked.line };
  const match = forHost.find((e) => e.marker === undefined && e.key === presentedKey);
  if (match) return { status: 'match', line: match.line };
  const others = forHost.filter((e) => e.marker === undefined);
  return others.length > 0 ? { status: 'mismatch', lines: others.map((e) => e.line) } : { status: 'unknown' };
}

/** `SHA256:…` of a public key blob (base64), as `ssh-keygen -l` prints it. */
export function keyFingerprint(keyBase64: string): string {
  return keyBlobFingerprint(Buffer.from(keyBase64, 'base64'));
}

/** `SHA256:<base64 without padding>` of a public key blob, as `ssh-keygen -l` prints it. */
export function keyBlobFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}
