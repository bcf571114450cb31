import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { signBytes, signFile } from '../src/adapters/signing/sign.js';
import { verifySignature, verifySignedFile } from '../src/adapters/signing/verify.js';
import { sshKeygenVerifyCommand } from '../src/core/signature/verify-signature.js';
import { SignatureInvalidError, SigningKeyInvalidError, type SignatureProblem } from '../src/errors/index.js';
import { requireTools } from './helpers/require-tools.js';
import { useTempDir } from './helpers/temp-dir.js';
import { waitForFile } from './helpers/wait.js';

// imagebuild's SSHSIG signatures against the real OpenSSH: what one signs the other verifies, and both
// refuse the same bad inputs.

const NAMESPACE = 'imagebuild-release';
const PRINCIPAL = 'release@example.com';
const canRun = requireTools('test/signing-sshkeygen.test.ts', 'ssh-keygen', 'ssh-agent', 'ssh-add');

/** A fresh Ed25519 key pair made by ssh-keygen; returns the private key's path. */
async function makeKey(dir: string, name: string, passphrase = ''): Promise<{ keyFile: string; publicLine: string; fingerprint: string }> {
  const keyFile = join(dir, name);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', `${name}@test`, '-f', keyFile], { stdin: 'ignore' });
  const publicLine = (await readFile(`${keyFile}.pub`, 'utf8')).trim();
  const fingerprint = (await execa('ssh-keygen', ['-l', '-f', `${keyFile}.pub`])).stdout.split(' ')[1]!;
  return { keyFile, publicLine, fingerprint };
}

/** `ssh-keygen -Y verify` of `file` against `file.sig`; its exit code and output. */
async function sshKeygenVerify(input: { allowed: string; file: string; namespace?: string; principal?: string; revoked?: string; verifyTime?: string }): Promise<{ exitCode: number; stdout: string }> {
  const args = ['-Y', 'verify', '-f', input.allowed, '-I', input.principal ?? PRINCIPAL, '-n', input.namespace ?? NAMESPACE, '-s', `${input.file}.sig`];
  if (input.revoked) args.push('-r', input.revoked);
  if (input.verifyTime) args.push('-O', `verify-time=${input.verifyTime}`);
  const result = await execa('ssh-keygen', args, { inputFile: input.file, reject: false });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout };
}

/** The SignatureInvalidError reason imagebuild refuses with, or 'accepted'. */
async function imagebuildVerdict(input: { allowed: string; file: string; namespace?: string; principal?: string; revoked?: string; now?: Date }): Promise<SignatureProblem | 'accepted'> {
  try {
    await verifySignedFile(input.file, { file: input.allowed }, input.namespace ?? NAMESPACE, { principal: input.principal ?? PRINCIPAL, ...(input.revoked ? { revoked: { file: input.revoked } } : {}), ...(input.now ? { now: input.now } : {}) });
    return 'accepted';
  } catch (error) {
    if (error instanceof SignatureInvalidError) return error.reason;
    throw error;
  }
}

describe.skipIf(!canRun)('SSH signatures against the real ssh-keygen', () => {
  const temp = useTempDir('imagebuild-signing-');

  it("makes signatures ssh-keygen -Y verify accepts, byte for byte what ssh-keygen -Y sign makes, and says the verify command with safe quoting", async () => {
    // A directory with a space and a quote: the printed command must still work when pasted into a shell.
    const dir = join(temp.dir, "rel ease's");
    await mkdir(dir);
    const key = await makeKey(dir, 'signer');
    const sums = join(dir, 'SHA256SUMS');
    await writeFile(sums, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  image.qcow2\n');
    const allowed = join(dir, 'allowed signers');
    await writeFile(allowed, `# release keys\n\n${PRINCIPAL} namespaces="${NAMESPACE}" ${key.publicLine}\n`);

    const armored = await signFile(sums, { keyFile: key.keyFile }, NAMESPACE);
    await writeFile(`${sums}.sig`, armored);
    const verified = await sshKeygenVerify({ allowed, file: sums });
    const command = sshKeygenVerifyCommand({ allowedSignersFile: allowed, principal: PRINCIPAL, namespace: NAMESPACE, file: sums });
    const pasted = await execa('sh', ['-c', command], { reject: false });
    const theirs = await execa('ssh-keygen', ['-Y', 'sign', '-f', key.keyFile, '-n', NAMESPACE, '-q'], { inputFile: sums, stripFinalNewline: false });

    expect(verified).toEqual({ exitCode: 0, stdout: `Good "${NAMESPACE}" signature for ${PRINCIPAL} with ED25519 key ${key.fingerprint}` });
    expect(pasted.exitCode).toBe(0);
    expect(pasted.stdout).toContain(`Good "${NAMESPACE}" signature for ${PRINCIPAL}`);
    // Ed25519 is deterministic: the same key, namespace and bytes make the same signature.
    expect(armored).toMatch(/^-----BEGIN SSH SIGNATURE-----\n/);
    expect(theirs.stdout).toBe(armored);
  });

  it('verifies what ssh-keygen -Y sign made, naming the principal and the fingerprint ssh-keygen prints', async () => {
    const key = await makeKey(temp.dir, 'signer');
    const sums = join(temp.dir, 'SHA256SUMS');
    await writeFile(sums, 'abc  image.qcow2\n');
    await execa('ssh-keygen', ['-Y', 'sign', '-f', key.keyFile, '-n', NAMESPACE, sums]);
    const allowed = `other@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n*@example.com ${key.publicLine}\n`;

    const sha256 = await execa('ssh-keygen', ['-Y', 'sign', '-f', key.keyFile, '-n', NAMESPACE, '-O', 'hashalg=sha256', '-q'], { inputFile: sums, stripFinalNewline: false });

    const withPrincipal = await verifySignature(await readFile(sums), await readFile(`${sums}.sig`, 'utf8'), { text: allowed, name: 'allowed_signers' }, NAMESPACE, { principal: PRINCIPAL });
    const anyPrincipal = await verifySignature(await readFile(sums), await readFile(`${sums}.sig`, 'utf8'), { text: allowed, name: 'allowed_signers' }, NAMESPACE);

    expect(withPrincipal).toEqual({ principal: PRINCIPAL, principals: '*@example.com', fingerprint: key.fingerprint, keyType: 'ssh-ed25519', line: 2 });
    expect(anyPrincipal.principal).toBe('*@example.com');
    expect(sha256.stdout).not.toBe(await readFile(`${sums}.sig`, 'utf8'));
    expect((await verifySignature(await readFile(sums), sha256.stdout, { text: allowed, name: 'allowed_signers' }, NAMESPACE)).fingerprint).toBe(key.fingerprint);
  });

  describe('refuses what ssh-keygen refuses, saying why', () => {
    async function signedRelease(): Promise<{ sums: string; allowed: string; key: Awaited<ReturnType<typeof makeKey>>; stranger: Awaited<ReturnType<typeof makeKey>> }> {
      const key = await makeKey(temp.dir, 'signer');
      const stranger = await makeKey(temp.dir, 'stranger');
      const sums = join(temp.dir, 'SHA256SUMS');
      await writeFile(sums, 'abc  image.qcow2\n');
      await writeFile(`${sums}.sig`, await signFile(sums, { keyFile: key.keyFile }, NAMESPACE));
      const allowed = join(temp.dir, 'allowed_signers');
      await writeFile(allowed, `${PRINCIPAL} ${key.publicLine}\n`);
      return { sums, allowed, key, stranger };
    }

    it('accepts the untouched release (both tools), the baseline every refusal below differs from by one thing', async () => {
      const { sums, allowed } = await signedRelease();

      expect([await imagebuildVerdict({ allowed, file: sums }), (await sshKeygenVerify({ allowed, file: sums })).exitCode]).toEqual(['accepted', 0]);
    });

    it('a changed byte', async () => {
      const { sums, allowed } = await signedRelease();
      await writeFile(sums, 'abd  image.qcow2\n');

      expect([await imagebuildVerdict({ allowed, file: sums }), (await sshKeygenVerify({ allowed, file: sums })).exitCode]).toEqual(['bad-signature', 255]);
    });

    it('a wrong namespace', async () => {
      const { sums, allowed } = await signedRelease();

      expect([await imagebuildVerdict({ allowed, file: sums, namespace: 'file' }), (await sshKeygenVerify({ allowed, file: sums, namespace: 'file' })).exitCode]).toEqual(['wrong-namespace', 255]);
    });

    it('an unknown signer, and a known signer for another principal', async () => {
      const { sums, allowed, stranger } = await signedRelease();
      const otherPrincipal = [await imagebuildVerdict({ allowed, file: sums, principal: 'ops@example.com' }), (await sshKeygenVerify({ allowed, file: sums, principal: 'ops@example.com' })).exitCode];
      await writeFile(`${sums}.sig`, await signFile(sums, { keyFile: stranger.keyFile }, NAMESPACE));

      const unknown = [await imagebuildVerdict({ allowed, file: sums }), (await sshKeygenVerify({ allowed, file: sums })).exitCode];

      expect(unknown).toEqual(['unknown-signer', 255]);
      expect(otherPrincipal).toEqual(['unknown-signer', 255]);
    });

    it('a malformed signature: cut short, or not a signature at all', async () => {
      const { sums, allowed } = await signedRelease();
      const armored = await readFile(`${sums}.sig`, 'utf8');
      const lines = armored.split('\n');
      const verdicts = [];

      for (const broken of [[...lines.slice(0, 2), ...lines.slice(-2)].join('\n'), 'not a signature\n']) {
        await writeFile(`${sums}.sig`, broken);
        verdicts.push([await imagebuildVerdict({ allowed, file: sums }), (await sshKeygenVerify({ allowed, file: sums })).exitCode]);
      }

      expect(verdicts).toEqual([
        ['malformed', 255],
        ['malformed', 255],
      ]);
    });

    it('a revoked key (a file of public key lines, as -r takes)', async () => {
      const { sums, allowed, key, stranger } = await signedRelease();
      const revoked = join(temp.dir, 'revoked');
      await writeFile(revoked, `# compromised 2026-01-01\n${stranger.publicLine}\n${key.publicLine}\n`);

      expect([await imagebuildVerdict({ allowed, file: sums, revoked }), (await sshKeygenVerify({ allowed, file: sums, revoked })).exitCode]).toEqual(['revoked', 255]);
    });

    it('an expired key, a not yet valid key and a key limited to other namespaces', async () => {
      const { sums, allowed, key } = await signedRelease();
      const cases: Array<[string, SignatureProblem]> = [
        ['valid-before="20200101Z"', 'expired'],
        ['valid-after="29990101"', 'not-yet-valid'],
        ['namespaces="file,git"', 'namespace-not-allowed'],
      ];

      const verdicts = [];
      for (const [option] of cases) {
        await writeFile(allowed, `${PRINCIPAL} ${option} ${key.publicLine}\n`);
        verdicts.push([await imagebuildVerdict({ allowed, file: sums }), (await sshKeygenVerify({ allowed, file: sums })).exitCode]);
      }

      expect(verdicts).toEqual(cases.map(([, reason]) => [reason, 255]));
    });
  });

  it('reads allowed_signers lines as ssh-keygen does: quoting, wildcards, negation, case, option spelling, local times, CRLF', async () => {
    const key = await makeKey(temp.dir, 'signer');
    const sums = join(temp.dir, 'SHA256SUMS');
    await writeFile(sums, 'abc  image.qcow2\n');
    await writeFile(`${sums}.sig`, await signFile(sums, { keyFile: key.keyFile }, NAMESPACE));
    const allowed = join(temp.dir, 'allowed_signers');
    const lines = [
      `"${PRINCIPAL}" ${key.publicLine}`,
      `*@example.com ${key.publicLine}`,
      `other@example.com,release@example.co? ${key.publicLine}`,
      `!${PRINCIPAL},*@example.com ${key.publicLine}`,
      `Release@example.com ${key.publicLine}`,
      `${PRINCIPAL} NAMESPACES="imagebuild-*",Valid-After="20200101" ${key.publicLine}`,
      `${PRINCIPAL} valid-after="202001011200",valid-before="29990101000000" ${key.publicLine}`,
      `${PRINCIPAL} namespaces="file,!imagebuild-release,*" ${key.publicLine}`,
      `  # a comment\n\n\t${PRINCIPAL} ${key.publicLine} a comment with "quotes"`,
      `${PRINCIPAL} ${key.publicLine}\r\n`,
    ];

    const verdicts = [];
    for (const line of lines) {
      await writeFile(allowed, `${line}\n`);
      const ours = await imagebuildVerdict({ allowed, file: sums });
      const theirs = (await sshKeygenVerify({ allowed, file: sums })).exitCode;
      verdicts.push({ line, agree: (ours === 'accepted') === (theirs === 0), ours });
    }

    expect(verdicts.filter((v) => !v.agree)).toEqual([]);
    expect(verdicts.map((v) => v.ours)).toEqual(['accepted', 'accepted', 'accepted', 'unknown-signer', 'unknown-signer', 'accepted', 'accepted', 'namespace-not-allowed', 'accepted', 'accepted']);
  });

  it('places valid-after/valid-before times without Z in local time and takes the bounds themselves, as ssh-keygen does', async () => {
    const key = await makeKey(temp.dir, 'signer');
    const sums = join(temp.dir, 'SHA256SUMS');
    await writeFile(sums, 'abc  image.qcow2\n');
    await writeFile(`${sums}.sig`, await signFile(sums, { keyFile: key.keyFile }, NAMESPACE));
    const allowed = join(temp.dir, 'allowed_signers');
    await writeFile(allowed, `${PRINCIPAL} valid-after="20260601080000",valid-before="20260601120000" ${key.publicLine}\n`);
    const times: Array<[string, Date]> = [
      ['20260601075959', new Date(2026, 5, 1, 7, 59, 59)],
      ['20260601080000', new Date(2026, 5, 1, 8, 0, 0)],
      ['20260601120000', new Date(2026, 5, 1, 12, 0, 0)],
      ['20260601120001', new Date(2026, 5, 1, 12, 0, 1)],
    ];

    const verdicts = [];
    for (const [verifyTime, now] of times) {
      verdicts.push([await imagebuildVerdict({ allowed, file: sums, now }), (await sshKeygenVerify({ allowed, file: sums, verifyTime })).exitCode]);
    }

    expect(verdicts).toEqual([
      ['not-yet-valid', 255],
      ['accepted', 0],
      ['accepted', 0],
      ['expired', 255],
    ]);
  });

  describe('signing through a real ssh-agent', () => {
    let agent: ChildProcess | undefined;
    afterEach(() => {
      if (agent?.pid !== undefined && agent.exitCode === null) process.kill(agent.pid, 'SIGTERM');
      agent = undefined;
    });

    async function startAgent(): Promise<string> {
      const socket = join(temp.dir, 'agent.sock');
      agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
      await waitForFile(socket, 10_000);
      return socket;
    }

    it('signs with the agent identity the public key names, and ssh-keygen verifies it', async () => {
      const key = await makeKey(temp.dir, 'agent-key');
      const other = await makeKey(temp.dir, 'other-key');
      const socket = await startAgent();
      await execa('ssh-add', ['-q', other.keyFile, key.keyFile], { env: { SSH_AUTH_SOCK: socket } });
      const sums = join(temp.dir, 'SHA256SUMS');
      await writeFile(sums, 'abc  image.qcow2\n');
      const allowed = join(temp.dir, 'allowed_signers');
      await writeFile(allowed, `${PRINCIPAL} ${key.publicLine}\n`);

      const armored = await signFile(sums, { agent: { publicKeyFile: `${key.keyFile}.pub` } }, NAMESPACE, { SSH_AUTH_SOCK: socket });
      await writeFile(`${sums}.sig`, armored);

      expect((await sshKeygenVerify({ allowed, file: sums })).stdout).toContain(key.fingerprint);
      expect(armored).toBe(await signBytes(await readFile(sums), { keyFile: key.keyFile }, NAMESPACE));
    });

    it('refuses a key the agent does not hold, and no agent at all, in one line each', async () => {
      const key = await makeKey(temp.dir, 'absent-key');
      const socket = await startAgent();

      const absent = await signBytes(Buffer.from('x'), { agent: { publicKeyFile: `${key.keyFile}.pub` } }, NAMESPACE, { SSH_AUTH_SOCK: socket }).catch((e: unknown) => e);
      const noAgent = await signBytes(Buffer.from('x'), { agent: { publicKeyFile: `${key.keyFile}.pub` } }, NAMESPACE, {}).catch((e: unknown) => e);

      expect(absent).toBeInstanceOf(SigningKeyInvalidError);
      expect((absent as Error).message).toBe(`the ssh-agent at ${socket} does not hold the key ${key.fingerprint} (${key.keyFile}.pub); ssh-add it`);
      expect(noAgent).toBeInstanceOf(SigningKeyInvalidError);
      expect((noAgent as Error).message).toMatch(/^no ssh-agent to sign with: \$SSH_AUTH_SOCK is not set/);
    });
  });

  describe('private key files', () => {
    const passphrase = "correct horse 'battery' staple";

    it('signs with an encrypted key whose passphrase is in the named variable', async () => {
      const key = await makeKey(temp.dir, 'encrypted', passphrase);
      const sums = join(temp.dir, 'SHA256SUMS');
      await writeFile(sums, 'abc  image.qcow2\n');
      const allowed = join(temp.dir, 'allowed_signers');
      await writeFile(allowed, `${PRINCIPAL} ${key.publicLine}\n`);

      await writeFile(`${sums}.sig`, await signFile(sums, { keyFile: key.keyFile, passphraseEnv: 'RELEASE_KEY_PASSPHRASE' }, NAMESPACE, { RELEASE_KEY_PASSPHRASE: passphrase }));

      expect((await sshKeygenVerify({ allowed, file: sums })).exitCode).toBe(0);
    });

    it('refuses a wrong or missing passphrase in one line that holds neither the passphrase nor the key', async () => {
      const key = await makeKey(temp.dir, 'encrypted', passphrase);
      const keyText = await readFile(key.keyFile, 'utf8');
      const keyLines = keyText.split('\n').filter((line) => line.length > 20 && !line.startsWith('-----'));

      const failures = [
        await signBytes(Buffer.from('x'), { keyFile: key.keyFile, passphraseEnv: 'PASS' }, NAMESPACE, { PASS: `${passphrase}!` }).catch((e: unknown) => e),
        await signBytes(Buffer.from('x'), { keyFile: key.keyFile, passphraseEnv: 'PASS' }, NAMESPACE, {}).catch((e: unknown) => e),
        await signBytes(Buffer.from('x'), { keyFile: key.keyFile }, NAMESPACE, {}).catch((e: unknown) => e),
      ];

      expect(failures.map((e) => (e as Error).message)).toEqual([
        `${key.keyFile}: wrong passphrase in $PASS: the key does not decrypt`,
        `$PASS is not set: it should hold the passphrase of ${key.keyFile}`,
        `${key.keyFile}: the key is encrypted; name the environment variable that holds its passphrase`,
      ]);
      for (const failure of failures) {
        expect(failure).toBeInstanceOf(SigningKeyInvalidError);
        const seen = `${(failure as Error).message} ${String((failure as Error).cause ?? '')} ${(failure as Error).stack ?? ''}`;
        expect(seen).not.toContain('horse');
        for (const line of keyLines) expect(seen).not.toContain(line);
      }
    });

    it('refuses a key file others may read, as ssh-keygen -Y sign does', async () => {
      const key = await makeKey(temp.dir, 'open-key');
      await chmod(key.keyFile, 0o644);
      const file = join(temp.dir, 'SHA256SUMS');
      await writeFile(file, 'abc\n');

      const ours = await signFile(file, { keyFile: key.keyFile }, NAMESPACE).catch((e: unknown) => e);
      const theirs = await execa('ssh-keygen', ['-Y', 'sign', '-f', key.keyFile, '-n', NAMESPACE, file], { reject: false, env: { SSH_AUTH_SOCK: '' } });

      expect(ours).toBeInstanceOf(SigningKeyInvalidError);
      expect((ours as Error).message).toBe(`${key.keyFile}: permissions 0644 are too open for a private key (ssh-keygen refuses it too); chmod 600 ${key.keyFile}`);
      expect(theirs.exitCode).not.toBe(0);
      expect(theirs.stderr).toContain('UNPROTECTED PRIVATE KEY FILE');
    });

    it('refuses a key that is not Ed25519', async () => {
      const keyFile = join(temp.dir, 'ecdsa');
      await execa('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', keyFile]);

      const error = await signBytes(Buffer.from('x'), { keyFile }, NAMESPACE).catch((e: unknown) => e);

      expect((error as Error).message).toBe(`${keyFile}: is a ecdsa-sha2-nistp256 key; release signatures use Ed25519 keys (ssh-keygen -t ed25519)`);
    });
  });
});
