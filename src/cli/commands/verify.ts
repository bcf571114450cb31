import { resolve } from 'node:path';
import { decodeBuildFlags } from '../../app/build/options.js';
import { FIRMWARES, type Firmware } from '../../core/spec/schema.js';
import { UsageError } from '../../errors/index.js';
import type { Command } from '../command.js';
import { JSON_FLAG, SPEC_FLAG, stringFlag } from '../flags.js';

/** `imagebuild verify`. */
export const verifyCommand: Command = {
  name: 'verify',
  usage: 'imagebuild verify <image.qcow2> [--spec FILE] [--allowed-signers FILE | --allow-unsigned REASON] [--verify-user USER --verify-key FILE] [--firmware bios,uefi] [--accel kvm|tcg] [--json]',
  positionals: { min: 1, max: 1 },
  summary: 'boot a finished image through a throwaway overlay and check it over SSH',
  description:
    'The same step `build` runs on every artifact: boots the image by its own bootloader once per firmware it was made for\n' +
    "(the manifest's firmware: SeaBIOS for bios, OVMF for uefi), each time through a throwaway overlay 1 GiB bigger than\n" +
    'the image (the image itself is never written; the first-boot grow must fill the extra space), waits for SSH, checks\n' +
    "that the build account is refused (with the cache's build key), and — with a spec user's key — runs the base gate\n" +
    '(boot loaders, root grown to the disk, the firmware the guest saw) and the validation gate inside it. Two first boots\n' +
    "must show different SSH host keys. Then re-checks the image's SHA-256\n" +
    'against the image-manifest.json beside it. Before the boot, the release beside the image is proved like a\n' +
    "download: SHA256SUMS.sig against allowed_signers (the spec's artifacts.signing, or --allowed-signers), then\n" +
    'SHA256SUMS against the manifest; a bad signature is refused, and so is an unsigned release (a build not yet\n' +
    'published) unless --allow-unsigned gives a reason. Exit 0 passed, 1 failed.',
  flags: {
    spec: SPEC_FLAG,
    'verify-user': { type: 'string', value: 'USER', help: 'a spec user to log in as (with --verify-key)' },
    'verify-key': { type: 'string', value: 'FILE', help: "that user's private SSH key; without it only boot, SSH and the build account are checked" },
    'allowed-signers': { type: 'string', value: 'FILE', help: "allowed_signers file to check the release's signature against, over the spec's" },
    'allow-unsigned': { type: 'string', value: 'REASON', help: 'verify a release without a signature (e.g. a build not yet published); REASON is printed with the result' },
    firmware: { type: 'string', value: 'bios,uefi', help: "boot under these only (comma list), instead of every firmware the image's manifest records" },
    accel: { type: 'string', value: 'kvm|tcg', help: 'accelerator for the verification VM (default: tcg unless the spec says kvm)' },
    json: JSON_FLAG,
  },
  async run({ positionals, flags, cwd, output }) {
    const { verifyLogin: login, accel } = decodeBuildFlags(flags, cwd);
    const { verifyImageFile } = await import('../../app/verify-image.js');
    const allowUnsigned = stringFlag(flags['allow-unsigned']);
    if (allowUnsigned !== undefined && allowUnsigned.trim() === '') throw new UsageError('--allow-unsigned needs a reason, e.g. --allow-unsigned "fresh build, not published yet"');
    const firmware = parseFirmwareList(stringFlag(flags.firmware));
    const result = await verifyImageFile({ image: resolve(cwd, positionals[0]!), specArg: stringFlag(flags.spec), cwd, login, accelerator: accel, allowedSigners: stringFlag(flags['allowed-signers']), allowUnsigned, firmware });
    const { describeVerdict } = await import('../../app/release-signing.js');
    if (flags.json === true) {
      output.json(result);
      return result.status === 'passed' ? 0 : 1;
    }
    const mark = result.status === 'passed' ? output.paint('green', '✔ verified') : output.paint('red', '✖ verification failed');
    output.out(`${mark} ${positionals[0]} in ${result.duration_s.toFixed(0)} s`);
    output.out(`  ${describeVerdict(result.signature)}`);
    output.out(`  boots and answers SSH: ${result.booted ? `yes (host key ${result.ssh_host_key_sha256})` : 'no'}`);
    for (const boot of result.boots ?? []) {
      const seen = boot.guest_firmware === null ? '' : `, guest saw ${boot.guest_firmware}`;
      output.out(`    ${boot.firmware}: ${boot.booted ? `booted in ${boot.duration_s.toFixed(0)} s${seen}, gate ${boot.gate_status}` : 'did not boot'}`);
    }
    output.out(`  build account refused: ${result.build_account_refused ? 'yes' : 'NO'}`);
    output.out(`  in-guest gate: ${result.gate.status} — ${result.gate.summary}`);
    output.out(`  SHA-256 unchanged: ${result.sha256_unchanged ? 'yes' : 'NO'}`);
    for (const problem of result.problems) output.err(`${output.paint('red', 'error:')} ${problem}`);
    return result.status === 'passed' ? 0 : 1;
  },
};

/** --firmware: a comma list of FIRMWARES, each once. */
function parseFirmwareList(text: string | undefined): Firmware[] | undefined {
  if (text === undefined) return undefined;
  const names = text.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(FIRMWARES as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) throw new UsageError(`--firmware: not a firmware: ${unknown.join(', ') || '(empty)'}; valid: ${FIRMWARES.join(', ')}`);
  if (new Set(names).size !== names.length) throw new UsageError(`--firmware: a firmware is listed twice: ${text}`);
  return names as Firmware[];
}
