import { formatBytes, formatDuration } from '../../core/release/transfer-rate.js';
import { UsageError } from '../../errors/index.js';
import type { Command } from '../command.js';
import { STORE_JSON_FLAG, STORE_NOTE, STORE_SPEC_FLAG, stringFlag, versionArg } from '../flags.js';
import { withInterrupt } from '../interrupt.js';
import { createProgressRenderer } from '../transfer-progress.js';

/** `imagebuild publish`. */
export const publishCommand: Command = {
  name: 'publish',
  usage: 'imagebuild publish <version> [--spec FILE] [--signing-key FILE] [--allow-bump-mismatch REASON] [--make-current] [--json]',
  positionals: { min: 1, max: 1 },
  summary: "upload a built release to the spec's store: image, manifest, then the release index and current",
  description:
    'Publishes output/<name>/vX.Y.Z/ to the store, under a directory of its own (vX.Y.Z/<publish id>/), in an order\n' +
    'that keeps it atomic for readers: the qcow2 first (multipart, 8 parts in flight, a checksum per part, retries with\n' +
    'backoff), then SHA256SUMS, the spec, the SBOM and provenance statement and image-manifest.json, then the release\n' +
    'index with `current` last. A version already in the store is refused: versions are immutable. The bump is checked\n' +
    'against the previous release by the semver rule — OS or architecture change: MAJOR; new framework or capability:\n' +
    'at least MINOR; fixes, driver patches, security updates: PATCH — and a mismatch is refused with the change that\n' +
    'demands the bump, unless --allow-bump-mismatch gives a reason (recorded in the manifest). `current` moves to the\n' +
    'new version when it is a stable version above the current one; a prerelease (v1.1.0-rc.1) is published like any\n' +
    'release but never made current unless asked: --make-current here, or imagebuild rollback --to later\n' +
    '(--make-current also moves current to a version below it). The image, the SBOM and the provenance statement are\n' +
    'hashed as they upload (read once) and must match the SHA-256 their manifest records: one that changed after the\n' +
    'build is refused (exit 1), the upload deleted, and nothing is listed. The index write claims the version: of two\n' +
    'runners publishing it at once one is listed and the other refused; a publish that fails deletes what it uploaded,\n' +
    'and running it again works.\n' +
    'SHA256SUMS lists the image, SBOM, provenance, exports and the manifest; with a key it is signed (SSHSIG, as\n' +
    'ssh-keygen -Y sign makes, Ed25519) on this machine before anything uploads, and SHA256SUMS.sig is published beside\n' +
    "it. The key: --signing-key FILE, else $IMAGEBUILD_SIGNING_KEY, else the spec's artifacts.signing.key_file (its\n" +
    "passphrase in the variable passphrase_env names) or agent_public_key (signed by the ssh-agent). When the spec names\n" +
    'allowed_signers, the signature must pass that check, and publishing without a key is refused; without any signing\n' +
    'configuration the release is published unsigned, with a notice (downloads then need --allow-unsigned).\n' +
    STORE_NOTE,
  flags: {
    spec: STORE_SPEC_FLAG,
    'allow-bump-mismatch': { type: 'string', value: 'REASON', help: 'publish although the bump does not fit the changes; REASON is recorded in the manifest and index' },
    'signing-key': { type: 'string', value: 'FILE', help: 'OpenSSH Ed25519 private key to sign SHA256SUMS with (over $IMAGEBUILD_SIGNING_KEY and the spec)' },
    'make-current': { type: 'boolean', help: 'make this version current even if it is a prerelease or below the current one' },
    json: STORE_JSON_FLAG,
  },
  async run({ positionals, flags, cwd, output }) {
    const version = versionArg(positionals[0]!);
    const reason = stringFlag(flags['allow-bump-mismatch']);
    if (reason !== undefined && reason.trim() === '') throw new UsageError('--allow-bump-mismatch needs a reason, e.g. --allow-bump-mismatch "hotfix branch for customer X"');
    const { publishRelease } = await import('../../app/release-publish.js');
    const asJson = flags.json === true;
    const report = await withInterrupt(output, 'stopping; the upload stops; nothing is listed in the release index until a publish completes', (signal) =>
      publishRelease({ specArg: stringFlag(flags.spec), cwd, version, allowBumpMismatch: reason, signingKey: stringFlag(flags['signing-key']), makeCurrent: flags['make-current'] === true, signal, onProgress: asJson ? undefined : createProgressRenderer(output) }),
    );
    if (asJson) {
      output.json(report);
      return 0;
    }
    const bump = report.bump.actual === 'initial' ? 'first release' : `${report.bump.actual.toUpperCase()} bump from v${report.bump.from}`;
    output.out(`${output.paint('green', '✔')} published ${report.name} v${report.version} to ${report.store} (${bump}) in ${formatDuration(report.durationS)}, ${formatBytes(report.bytes)} at ${formatBytes(report.rate)}/s`);
    output.out(`  image    ${report.artifact}`);
    output.out(`  manifest ${report.manifest}`);
    output.out(`  signed   ${report.signedBy ?? 'no (unsigned)'}`);
    output.out(`  current  ${report.current ? `v${report.version}` : 'unchanged (see the notice below)'}`);
    for (const change of report.bump.changes) output.out(`  ${output.paint('dim', `${change.subject}: ${change.from ?? '(none)'} → ${change.to ?? '(none)'} (${change.demands.toUpperCase()}, ${change.reason})`)}`);
    for (const notice of report.notices) output.err(`${output.paint('yellow', 'notice:')} ${notice}`);
    return 0;
  },
};
