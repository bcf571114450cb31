import { AllowedSignersInvalidError, SignatureInvalidError } from '../../errors/index.js';
import { keyBlobFingerprint } from '../remote/known-hosts.js';
import { sshKeyBlobType } from './sshsig.js';

// OpenSSH allowed_signers (ssh-keygen(1) "ALLOWED SIGNERS", sshsig.c) and revoked-key lists, as
// `ssh-keygen -Y verify -f allowed_signers -r revoked` reads them:
//   principals [options] keytype base64-key [comment]
// principals: a comma list of patterns (`*`, `?`, `!negation`), quoted when it holds spaces; options:
// namespaces="pattern-list", valid-after="time", valid-before="time" (YYYYMMDD[HHMM[SS]], a trailing Z
// for UTC, else local time), cert-authority. imagebuild does not check certificates, so it refuses
// cert-authority lines rather than silently ignore them. ssh-keygen skips a malformed line that
// names another principal; imagebuild refuses every malformed line, so a typo never hides.

/** A wall-clock time as allowed_signers writes it without a trailing Z: local time, which only the caller can place. */
export type CivilTime = { readonly year: number; readonly month: number; readonly day: number; readonly hour: number; readonly minute: number; readonly second: number };

/** One allowed_signers line. */
export type AllowedSigner = {
  readonly line: number;
  /** The principal patterns as written, e.g. `release@example.com,*@ops.example.com`. */
  readonly principals: string;
  /** namespaces="…" as written (a pattern list); absent: every namespace. */
  readonly namespaces?: string;
  /** valid-after, seconds since the epoch. */
  readonly validAfter?: number;
  /** valid-before, seconds since the epoch. */
  readonly validBefore?: number;
  readonly keyType: string;
  /** The public key's SSH wire encoding. */
  readonly publicKey: Buffer;
};

/** A parsed allowed_signers file; `file` names it in every message. */
export type AllowedSigners = { readonly file: string; readonly signers: readonly AllowedSigner[] };

/** A parsed revoked-keys file: public key lines, as `ssh-keygen -Y verify -r` accepts besides a binary KRL. */
export type RevokedKeys = { readonly file: string; readonly keys: readonly { readonly line: number; readonly publicKey: Buffer }[] };

export type ParseAllowedSignersOptions = {
  /** The file's name, for `file:line:` in errors. */
  readonly file: string;
  /** Seconds since the epoch of a local wall-clock time (times without a trailing Z); the adapter passes the host's time zone. */
  readonly localTimeToEpoch: (time: CivilTime) => number;
};

// The key types sshkey_read knows; any other first word after the principals starts the options.
const KEY_TYPES = new Set(
  ['ssh-ed25519', 'sk-ssh-ed25519@openssh.com', 'ssh-rsa', 'ssh-dss', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'sk-ecdsa-sha2-nistp256@openssh.com'].flatMap((type) => [
    type,
    type.includes('@') ? type.replace('@', '-cert-v01@') : `${type}-cert-v01@openssh.com`,
  ]),
);

/** Parses allowed_signers text; throws AllowedSignersInvalidError naming `file:line` and what would be valid. */
export function parseAllowedSigners(text: string, options: ParseAllowedSignersOptions): AllowedSigners {
  const signers: AllowedSigner[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const where = `${options.file}:${line}`;
    let rest = raw.replace(/^[ \t\r\n]+/, '').replace(/[\r\n]+$/, '');
    if (rest === '' || rest.startsWith('#')) return;
    const principalsField = takePrincipals(rest, where);
    const principals = principalsField.value;
    rest = principalsField.rest;
    if (principals === '') throw new AllowedSignersInvalidError(`${where}: no principals; a line is: principals [options] keytype base64-key [comment]`);
    if (rest === '') throw new AllowedSignersInvalidError(`${where}: nothing after the principals; a line is: principals [options] keytype base64-key [comment]`);
    let parsedOptions: LineOptions = {};
    if (!KEY_TYPES.has(firstWord(rest))) {
      const end = endOfOptions(rest, where);
      parsedOptions = parseOptions(rest.slice(0, end), where, options.localTimeToEpoch);
      rest = rest.slice(end).replace(/^[ \t]+/, '');
      if (rest === '') throw new AllowedSignersInvalidError(`${where}: no public key after the options; a line is: principals [options] keytype base64-key [comment]`);
    }
    const key = parsePublicKey(rest, where);
    signers.push({ line, principals, ...parsedOptions, ...key });
  });
  return { file: options.file, signers };
}

/** Parses a revoked-keys file (public key lines, `#` comments); throws AllowedSignersInvalidError for a line that is not a key or for a binary KRL. */
export function parseRevokedKeys(text: string, file: string): RevokedKeys {
  if (text.startsWith('SSHKRL\n\0')) {
    throw new AllowedSignersInvalidError(`${file}: is a binary key revocation list (KRL); imagebuild reads revoked keys as public key lines (keytype base64-key [comment]), one per line`);
  }
  const keys: { line: number; publicKey: Buffer }[] = [];
  text.split('\n').forEach((raw, index) => {
    const rest = raw.replace(/^[ \t]+/, '').replace(/[\r\n]+$/, '');
    if (rest === '' || rest.startsWith('#')) return;
    keys.push({ line: index + 1, publicKey: parsePublicKey(rest, `${file}:${index + 1}`).publicKey });
  });
  return { file, keys };
}

/** Whether `value` matches an OpenSSH pattern list (`a,b*,!c`): some pattern matches and no negated one does (match_pattern_list, case-sensitive). */
export function matchPatternList(value: string, patterns: string): boolean {
  let positive = false;
  for (const item of patterns.split(',')) {
    const negated = item.startsWith('!');
    if (!globToRegExp(negated ? item.slice(1) : item).test(value)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

/** What to check a signing key against: the principal asked for (optional), the signature's namespace, and the time of verification. */
export type SignerQuery = {
  readonly publicKey: Buffer;
  readonly namespace: string;
  readonly principal?: string;
  /** Seconds since the epoch. */
  readonly now: number;
};

/** The allowed_signers lines that let `query.publicKey` sign for `query.namespace` at `query.now` (for `query.principal` when given), in file order. */
export function findAllowedSigners(allowed: AllowedSigners, query: SignerQuery): AllowedSigner[] {
  return allowed.signers.filter((signer) => signerRefusal(allowed.file, signer, query) === undefined);
}

/**
 * The first allowed_signers line that lets the key sign (as `ssh-keygen -Y verify` accepts the first such line);
 * otherwise throws SignatureInvalidError saying why: the key is not there (or not for that principal), or its
 * line limits the namespace or the time.
 */
export function checkAllowedSigner(allowed: AllowedSigners, query: SignerQuery): AllowedSigner {
  const fingerprint = keyBlobFingerprint(query.publicKey);
  const withKey = allowed.signers.filter((signer) => signer.publicKey.equals(query.publicKey));
  if (withKey.length === 0) throw new SignatureInvalidError('unknown-signer', `${allowed.file}: the signing key ${fingerprint} is not an allowed signer`);
  const forPrincipal = query.principal === undefined ? withKey : withKey.filter((signer) => matchPatternList(query.principal!, signer.principals));
  if (forPrincipal.length === 0) {
    const listed = withKey.map((signer) => `line ${signer.line}: "${signer.principals}"`).join(', ');
    throw new SignatureInvalidError('unknown-signer', `${allowed.file}: the signing key ${fingerprint} is allowed for other principals (${listed}), not for "${query.principal}"`);
  }
  let firstRefusal: SignatureInvalidError | undefined;
  for (const signer of forPrincipal) {
    const refusal = signerRefusal(allowed.file, signer, query);
    if (refusal === undefined) return signer;
    firstRefusal ??= refusal;
  }
  throw firstRefusal!;
}

/** Refuses `query.publicKey` when it appears in the revoked keys; the message names the file and line. */
export function checkNotRevoked(revoked: RevokedKeys, publicKey: Buffer): void {
  const hit = revoked.keys.find((key) => key.publicKey.equals(publicKey));
  if (hit) throw new SignatureInvalidError('revoked', `${revoked.file}:${hit.line}: the signing key ${keyBlobFingerprint(publicKey)} is revoked`);
}

/** Why `signer` does not let the key sign under `query`, or undefined when it does. */
function signerRefusal(file: string, signer: AllowedSigner, query: SignerQuery): SignatureInvalidError | undefined {
  if (!signer.publicKey.equals(query.publicKey)) return new SignatureInvalidError('unknown-signer', `${file}:${signer.line}: another key`);
  if (query.principal !== undefined && !matchPatternList(query.principal, signer.principals)) return new SignatureInvalidError('unknown-signer', `${file}:${signer.line}: other principals`);
  const where = `${file}:${signer.line}: the signing key ${keyBlobFingerprint(signer.publicKey)}`;
  if (signer.namespaces !== undefined && !matchPatternList(query.namespace, signer.namespaces)) {
    return new SignatureInvalidError('namespace-not-allowed', `${where} may sign only for namespaces="${signer.namespaces}", not "${query.namespace}"`);
  }
  if (signer.validAfter !== undefined && query.now < signer.validAfter) {
    return new SignatureInvalidError('not-yet-valid', `${where} is not valid yet: valid-after ${formatUtc(signer.validAfter)}, verified at ${formatUtc(query.now)}`);
  }
  if (signer.validBefore !== undefined && query.now > signer.validBefore) {
    return new SignatureInvalidError('expired', `${where} has expired: valid-before ${formatUtc(signer.validBefore)}, verified at ${formatUtc(query.now)}`);
  }
  return undefined;
}

type LineOptions = { namespaces?: string; validAfter?: number; validBefore?: number };

/** A word from the file, short enough for a one-line message. */
function clip(word: string): string {
  return word.length > 40 ? `${word.slice(0, 40)}…` : word;
}

function firstWord(text: string): string {
  return /^[^ \t]*/.exec(text)![0];
}

/** The principals field as strdelimw splits it: up to whitespace, with a double-quoted part taken whole. */
function takePrincipals(text: string, where: string): { value: string; rest: string } {
  const stop = text.search(/[ \t"]/);
  if (stop < 0) return { value: text, rest: '' };
  if (text[stop] === '"') {
    const close = text.indexOf('"', stop + 1);
    if (close < 0) throw new AllowedSignersInvalidError(`${where}: the principals' opening " has no closing "`);
    return { value: text.slice(0, stop) + text.slice(stop + 1, close), rest: text.slice(close + 1).replace(/^[ \t]+/, '') };
  }
  return { value: text.slice(0, stop), rest: text.slice(stop).replace(/^[ \t]+/, '') };
}

/** Where the options end: the first space or tab outside double quotes (sshkey_advance_past_options). */
function endOfOptions(text: string, where: string): number {
  let quoted = false;
  for (let at = 0; at < text.length; at++) {
    const char = text[at];
    if (char === '\\' && text[at + 1] === '"') at++;
    else if (char === '"') quoted = !quoted;
    else if (!quoted && (char === ' ' || char === '\t')) return at;
  }
  if (quoted) throw new AllowedSignersInvalidError(`${where}: an option's opening " has no closing "`);
  return text.length;
}

const OPTION_HELP = 'allowed_signers options are namespaces="…", valid-after="…", valid-before="…" (and cert-authority, which imagebuild does not support)';

/** sshsigopt_parse: comma-separated, case-insensitive names, values in double quotes. */
function parseOptions(text: string, where: string, localTimeToEpoch: (time: CivilTime) => number): LineOptions {
  const result: LineOptions = {};
  let rest = text;
  while (rest !== '') {
    const name = /^[^=,]*/.exec(rest)![0];
    const lower = name.toLowerCase();
    if (lower === 'cert-authority') {
      throw new AllowedSignersInvalidError(`${where}: cert-authority (signatures by SSH certificates) is not supported by imagebuild; list each signer's own public key instead`);
    }
    if (!['namespaces', 'valid-after', 'valid-before'].includes(lower) || rest[name.length] !== '=') {
      throw new AllowedSignersInvalidError(`${where}: unknown option "${clip(name)}"; ${OPTION_HELP}`);
    }
    const { value, rest: after } = dequote(rest.slice(name.length + 1), where, lower);
    if (lower === 'namespaces') {
      if (result.namespaces !== undefined) throw new AllowedSignersInvalidError(`${where}: namespaces is given twice`);
      result.namespaces = value;
    } else {
      const key = lower === 'valid-after' ? 'validAfter' : 'validBefore';
      if (result[key] !== undefined) throw new AllowedSignersInvalidError(`${where}: ${lower} is given twice`);
      result[key] = parseAbsoluteTime(value, `${where}: ${lower}="${value}"`, localTimeToEpoch);
    }
    if (after === '') break;
    if (!after.startsWith(',')) throw new AllowedSignersInvalidError(`${where}: options must be separated by commas, without spaces; ${OPTION_HELP}`);
    rest = after.slice(1);
    if (rest === '') throw new AllowedSignersInvalidError(`${where}: the options end with a comma`);
  }
  if (result.validAfter !== undefined && result.validBefore !== undefined && result.validBefore <= result.validAfter) {
    throw new AllowedSignersInvalidError(`${where}: valid-before is not after valid-after`);
  }
  return result;
}

function dequote(text: string, where: string, name: string): { value: string; rest: string } {
  if (!text.startsWith('"')) throw new AllowedSignersInvalidError(`${where}: ${name}= takes a double-quoted value, e.g. ${name}="${name === 'namespaces' ? 'imagebuild-release' : '20260101Z'}"`);
  let value = '';
  for (let at = 1; at < text.length; at++) {
    if (text[at] === '\\' && text[at + 1] === '"') {
      value += '"';
      at++;
    } else if (text[at] === '"') {
      return { value, rest: text.slice(at + 1) };
    } else {
      value += text[at];
    }
  }
  throw new AllowedSignersInvalidError(`${where}: ${name}="…" has no closing "`);
}

/** parse_absolute_time: YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, a trailing Z (or z) for UTC, else local time. */
function parseAbsoluteTime(text: string, what: string, localTimeToEpoch: (time: CivilTime) => number): number {
  const match = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?([Zz])?$/.exec(text);
  const invalid = () => new AllowedSignersInvalidError(`${what} is not a time; write YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, with a trailing Z for UTC`);
  if (!match) throw invalid();
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) throw invalid();
  const civil = { year, month, day, hour, minute, second };
  const epoch = match[7] ? utcToEpoch(civil) : localTimeToEpoch(civil);
  if (!Number.isFinite(epoch) || epoch <= 0) throw invalid();
  return epoch;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Seconds since the epoch of a UTC civil time (Howard Hinnant's days_from_civil): the core keeps no clock or Date. */
export function utcToEpoch(time: CivilTime): number {
  const y = time.month <= 2 ? time.year - 1 : time.year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (time.month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + time.day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  const days = era * 146097 + doe - 719468;
  return days * 86400 + time.hour * 3600 + time.minute * 60 + time.second;
}

/** `YYYY-MM-DDTHH:MM:SSZ` of seconds since the epoch (civil_from_days). */
export function formatUtc(epochSeconds: number): string {
  const days = Math.floor(epochSeconds / 86400);
  const secs = epochSeconds - days * 86400;
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(Math.floor(secs / 3600))}:${pad(Math.floor((secs % 3600) / 60))}:${pad(secs % 60)}Z`;
}

/** `keytype base64-key [comment]` as sshkey_read reads it: a known type whose blob names that same type. */
function parsePublicKey(text: string, where: string): { keyType: string; publicKey: Buffer } {
  const [keyType = '', base64 = ''] = text.split(/[ \t]+/);
  if (!KEY_TYPES.has(keyType)) throw new AllowedSignersInvalidError(`${where}: "${clip(keyType)}" is not an SSH key type; a key is e.g. ssh-ed25519 AAAAC3Nza… (the line of a .pub file)`);
  if (base64 === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) throw new AllowedSignersInvalidError(`${where}: the ${keyType} key is not base64`);
  const publicKey = Buffer.from(base64, 'base64');
  const inner = sshKeyBlobType(publicKey);
  if (inner !== keyType) throw new AllowedSignersInvalidError(`${where}: the key says ${keyType} but its base64 holds ${inner === undefined ? 'no SSH key' : `a ${inner} key`}`);
  return { keyType, publicKey };
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[\\s\\S]*').replace(/\?/g, '[\\s\\S]');
  return new RegExp(`^${escaped}$`);
}
