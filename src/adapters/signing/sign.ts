import { readFile } from 'node:fs/promises';
import { armorSshSignature, checkNamespace, decodeSshSignature, encodeSshSignature, sshsigSignedData, verifySshSignature } from '../../core/signature/sshsig.js';
import { FileAccessError, SigningKeyInvalidError } from '../../errors/index.js';
import { describeFsError } from '../fs/describe-fs-error.js';
import { loadSigningKey, type SigningKeySource } from './signing-key.js';

/**
 * Signs `message` for `namespace` (e.g. `imagebuild-release`) with the key `source` names and returns the
 * armored signature, the same bytes `ssh-keygen -Y sign -n <namespace>` writes to `<file>.sig`; checks it before returning.
 */
export async function signBytes(message: Uint8Array, source: SigningKeySource, namespace: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  checkNamespace(namespace);
  const key = await loadSigningKey(source, env);
  const signature = await key.sign(sshsigSignedData(message, namespace, 'sha512'));
  const blob = encodeSshSignature({ publicKey: key.publicKey, namespace, hashAlgorithm: 'sha512', signature });
  try {
    // An agent could answer with another key or algorithm; a signature nobody can verify must not be published.
    verifySshSignature(decodeSshSignature(blob), message, namespace);
  } catch {
    throw new SigningKeyInvalidError(`the signature made with ${key.fingerprint} does not verify; the key or agent signed something else`);
  }
  return armorSshSignature(blob);
}

/** Signs the file at `path` (e.g. a release's SHA256SUMS); returns the armored signature for `<path>.sig`. */
export async function signFile(path: string, source: SigningKeySource, namespace: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  let message: Buffer;
  try {
    message = await readFile(path);
  } catch (error) {
    throw new FileAccessError(`${path}: the file to sign cannot be read: ${describeFsError(error)}`, { cause: error });
  }
  return signBytes(message, source, namespace, env);
}
