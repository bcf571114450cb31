import { open, readFile } from 'node:fs/promises';
import type { ParsedKey } from 'ssh2';
import { keyBlobFingerprint } from '../../core/remote/known-hosts.js';
import { ED25519 } from '../../core/signature/sshsig.js';
import { FileAccessError, SigningKeyInvalidError } from '../../errors/index.js';
import { describeFsError } from '../fs/describe-fs-error.js';

// Where a release signature's Ed25519 key lives: an OpenSSH private key file (optionally encrypted, its
// passphrase in an environment variable the caller names) or an ssh-agent holding it. Neither the key
// nor the passphrase ever reaches a message: every error here is written by imagebuild, never copied
// from ssh2 (whose messages are safe today, but that is not ours to promise).

/** Which key signs: a private key file, or the agent identity whose public half is `publicKeyFile`. */
export type SigningKeySource =
  | {
      /** An OpenSSH private key file (`ssh-keygen -t ed25519`), mode 0600 or stricter as ssh-keygen demands. */
      readonly keyFile: string;
      /** The environment variable holding the key's passphrase, for an encrypted key. */
      readonly passphraseEnv?: string;
    }
  | {
      readonly agent: {
        /** The `.pub` file of the agent identity to sign with. */
        readonly publicKeyFile: string;
        /** The agent's socket; default $SSH_AUTH_SOCK. */
        readonly socket?: string;
      };
    };

/** A key ready to sign: its public half and a raw Ed25519 signing function. */
export type SigningKey = {
  /** The public key's SSH wire encoding. */
  readonly publicKey: Buffer;
  /** `SHA256:…`, as ssh-keygen prints it. */
  readonly fingerprint: string;
  /** Raw Ed25519 signature (64 bytes) over `data`. */
  readonly sign: (data: Buffer) => Promise<Buffer>;
};

/** Opens the signing key `source` names (reading `env` for the passphrase and $SSH_AUTH_SOCK); throws SigningKeyInvalidError or FileAccessError. */
export async function loadSigningKey(source: SigningKeySource, env: NodeJS.ProcessEnv = process.env): Promise<SigningKey> {
  return 'keyFile' in source ? loadKeyFile(source.keyFile, source.passphraseEnv, env) : loadAgentKey(source.agent.publicKeyFile, source.agent.socket ?? env.SSH_AUTH_SOCK);
}

async function loadKeyFile(keyFile: string, passphraseEnv: string | undefined, env: NodeJS.ProcessEnv): Promise<SigningKey> {
  const text = await readPrivateKeyFile(keyFile);
  let passphrase: string | undefined;
  if (passphraseEnv !== undefined) {
    passphrase = env[passphraseEnv];
    if (passphrase === undefined || passphrase === '') throw new SigningKeyInvalidError(`$${passphraseEnv} is not set: it should hold the passphrase of ${keyFile}`);
  }
  const { utils } = await loadSsh2();
  const parsed = utils.parseKey(text, passphrase);
  if (parsed instanceof Error) throw new SigningKeyInvalidError(describeParseFailure(keyFile, parsed.message, passphraseEnv));
  const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey | undefined) : parsed;
  if (!key || !key.isPrivateKey()) throw new SigningKeyInvalidError(`${keyFile}: is a public key; give the private key file (the one without .pub)`);
  if (key.type !== ED25519) throw new SigningKeyInvalidError(`${keyFile}: is a ${key.type} key; release signatures use Ed25519 keys (ssh-keygen -t ed25519)`);
  const publicKey = key.getPublicSSH();
  return {
    publicKey,
    fingerprint: keyBlobFingerprint(publicKey),
    sign: async (data) => {
      const signature = key.sign(data);
      if (signature instanceof Error) throw new SigningKeyInvalidError(`${keyFile}: the key could not sign (${keyBlobFingerprint(publicKey)})`);
      return signature;
    },
  };
}

/** Reads a private key file, refusing one its owner lets others read as ssh-keygen does (sshkey_perm_ok). */
async function readPrivateKeyFile(keyFile: string): Promise<string> {
  let handle;
  try {
    handle = await open(keyFile, 'r');
  } catch (error) {
    throw new FileAccessError(`${keyFile}: the signing key cannot be read: ${describeFsError(error)}`, { cause: error });
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new SigningKeyInvalidError(`${keyFile}: is not a file; give an OpenSSH private key file`);
    if (stats.uid === process.getuid?.() && (stats.mode & 0o077) !== 0) {
      const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
      throw new SigningKeyInvalidError(`${keyFile}: permissions ${mode} are too open for a private key (ssh-keygen refuses it too); chmod 600 ${keyFile}`);
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** ssh2's parse errors, turned into our own words (they must never quote the key or the passphrase). */
function describeParseFailure(keyFile: string, message: string, passphraseEnv: string | undefined): string {
  if (/no passphrase given/i.test(message)) return `${keyFile}: the key is encrypted; name the environment variable that holds its passphrase`;
  if (/bad passphrase|integrity check failed|decrypt/i.test(message)) {
    return `${keyFile}: wrong passphrase${passphraseEnv ? ` in $${passphraseEnv}` : ''}: the key does not decrypt`;
  }
  if (/unsupported|cipher|kdf/i.test(message)) return `${keyFile}: the key is encrypted in a way imagebuild cannot read; re-encrypt it with ssh-keygen -p`;
  return `${keyFile}: is not an OpenSSH private key (ssh-keygen -t ed25519 makes one)`;
}

async function loadAgentKey(publicKeyFile: string, socket: string | undefined): Promise<SigningKey> {
  if (!socket) throw new SigningKeyInvalidError('no ssh-agent to sign with: $SSH_AUTH_SOCK is not set; start one (eval "$(ssh-agent)") and ssh-add the key');
  let text: string;
  try {
    text = await readFile(publicKeyFile, 'utf8');
  } catch (error) {
    throw new FileAccessError(`${publicKeyFile}: the signing public key cannot be read: ${describeFsError(error)}`, { cause: error });
  }
  const { OpenSSHAgent, utils } = await loadSsh2();
  const parsed = utils.parseKey(text);
  const wanted = parsed instanceof Error || Array.isArray(parsed) ? undefined : parsed;
  if (!wanted || wanted.isPrivateKey()) throw new SigningKeyInvalidError(`${publicKeyFile}: is not an OpenSSH public key (the .pub file of the key in the agent)`);
  if (wanted.type !== ED25519) throw new SigningKeyInvalidError(`${publicKeyFile}: is a ${wanted.type} key; release signatures use Ed25519 keys (ssh-keygen -t ed25519)`);
  const publicKey = wanted.getPublicSSH();
  const fingerprint = keyBlobFingerprint(publicKey);
  const agent = new OpenSSHAgent(socket);
  const identities = await new Promise<ParsedKey[]>((resolve, reject) => {
    agent.getIdentities((error, keys) => {
      if (error) reject(new SigningKeyInvalidError(`the ssh-agent at ${socket} cannot be reached or listed its keys: ${error.message}`));
      else resolve((keys ?? []).filter((key): key is ParsedKey => typeof key === 'object' && !Buffer.isBuffer(key) && 'getPublicSSH' in key));
    });
  });
  const identity = identities.find((key) => key.getPublicSSH().equals(publicKey));
  if (!identity) throw new SigningKeyInvalidError(`the ssh-agent at ${socket} does not hold the key ${fingerprint} (${publicKeyFile}); ssh-add it`);
  return {
    publicKey,
    fingerprint,
    sign: (data) =>
      new Promise<Buffer>((resolve, reject) => {
        agent.sign(identity, data, {}, (error, signature) => {
          if (error || !signature) reject(new SigningKeyInvalidError(`the ssh-agent at ${socket} refused to sign with ${fingerprint}: ${error?.message ?? 'no signature'}`));
          else resolve(signature);
        });
      }),
  };
}

/** ssh2's exports. It is CommonJS: Node's ESM import sees `utils` only on the default export (vitest's interop shows both). */
async function loadSsh2(): Promise<typeof import('ssh2')> {
  const module = await import('ssh2');
  return (module as unknown as { default?: typeof import('ssh2') }).default ?? module;
}
