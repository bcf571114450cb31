// Every error code imagebuild exits with, its exit status and what it means: the one list, which
// docs/errors.md mirrors (a test holds them together). A code is stable: scripts and CI match on it.

/** Exit 2: the command, the spec or another input is wrong; fix it and run again. */
const INPUT = 2;
/** Exit 1: the work failed or was refused for a reason the message names. */
const FAILED = 1;
/** Exit 130: stopped by SIGINT or SIGTERM; re-running resumes. */
const INTERRUPTED = 130;

export const ERROR_CODES = {
  USAGE: { exit: INPUT, meaning: 'wrong command-line usage: unknown flag, missing or malformed argument' },
  SPEC_INVALID: { exit: INPUT, meaning: 'the spec file does not parse or validate; every problem is listed' },
  VERSION_EXISTS: { exit: INPUT, meaning: 'the version was already built from other inputs: versions are immutable' },
  RENDERED_MISMATCH: { exit: INPUT, meaning: 'files rendered elsewhere (a remote build) are not what this imagebuild renders' },
  BUMP_MISMATCH: { exit: INPUT, meaning: 'the version bump is smaller than the changes since the previous release need' },
  RELEASE_NOT_FOUND: { exit: INPUT, meaning: 'no such release in output/ or in the store' },
  RELEASE_REFUSED: { exit: INPUT, meaning: 'the release may not be published or made current (failed gates or verification, wrong name)' },
  STORE_NOT_CONFIGURED: { exit: INPUT, meaning: 'the spec names no artifacts.store (or cache.store) for this command' },
  STORE_SETTINGS_INVALID: { exit: INPUT, meaning: 'a store setting is not valid: an S3 prefix with empty, . or .. segments, or a timeout variable that is not a number of seconds' },
  BUILD_KEY_MISSING: { exit: INPUT, meaning: '$IMAGEBUILD_BUILD_KEY_FILE names no file' },
  BUILD_KEY_INVALID: { exit: INPUT, meaning: '$IMAGEBUILD_BUILD_KEY_FILE is not an unencrypted OpenSSH private key' },
  IDENTITY_MISSING: { exit: INPUT, meaning: '--identity names no file' },
  NO_SSH_IDENTITY: { exit: INPUT, meaning: 'no SSH identity for a remote build: no agent, no --identity, no ~/.ssh key' },
  FILE_ACCESS: { exit: FAILED, meaning: 'a file imagebuild must read or write could not be (not found, permission, a directory)' },
  TOOL_FAILED: { exit: FAILED, meaning: 'an external tool (packer, qemu-img, ssh-keygen, mmdebstrap) failed or could not start' },
  OFFLINE_CACHE_MISS: { exit: FAILED, meaning: 'an --offline build needs a package cache entry that is not there (a pip wheelhouse, a package in the apt cache); build once with the network' },
  PREFLIGHT: { exit: FAILED, meaning: 'the host cannot run this build (disk, tools, KVM, VFIO); every problem is listed' },
  LOCKED: { exit: FAILED, meaning: 'another process holds the lock: a build, prune or rollback the cache lock, or a download of the same release into the same directory' },
  GATE_FAILED: { exit: FAILED, meaning: "a layer's gate failed; the layer is kept under the cache's failed/ and not cached" },
  GATE_REPORT_INVALID: { exit: FAILED, meaning: 'a report from the build VM (gate, facts, Ansible run, seal inventory) is missing or malformed' },
  PACKER_NO_ARTIFACT: { exit: FAILED, meaning: 'Packer succeeded but left no image' },
  NO_LAYERS: { exit: FAILED, meaning: 'no layer was built or reused, so there is nothing to seal' },
  NO_FACTS: { exit: FAILED, meaning: 'no facts were read from the image, so no manifest can be written' },
  VERIFY_FAILED: { exit: FAILED, meaning: 'the finished artifact failed its verification boot; it is not published' },
  CACHE_BROKEN: { exit: FAILED, meaning: 'the layer cache is damaged (a missing parent, an empty key directory); roll the layer back' },
  CACHE_ENTRY_INVALID: { exit: FAILED, meaning: "a cached layer's entry.json is unreadable or has no valid gate verdict" },
  CACHE_ENTRY_MISSING: { exit: FAILED, meaning: 'no registered layer with that key' },
  SHARED_CACHE_INVALID: { exit: FAILED, meaning: 'a layer in the shared cache is incomplete or fails its checksums' },
  MANIFEST_INVALID: { exit: FAILED, meaning: 'an image-manifest.json is unreadable, truncated or not a valid manifest' },
  RELEASE_INDEX_INVALID: { exit: FAILED, meaning: "the store's releases.json is unreadable or not a valid index; imagebuild reindex rebuilds it" },
  RELEASE_INDEX_MISSING: { exit: FAILED, meaning: "the store holds releases but no releases.json; imagebuild reindex rebuilds it from their manifests" },
  RELEASE_INCONSISTENT: { exit: FAILED, meaning: 'a release in the store disagrees with its index or its manifest' },
  FLASH_TARGET_REFUSED: { exit: INPUT, meaning: 'flash refused the target disk: mounted, the running root or swap, held by LVM/md/dm, read-only, a partition, too small, a plain file without --to-file, or not confirmed; nothing was written' },
  FLASH_READBACK_FAILED: { exit: FAILED, meaning: 'a flashed disk read back differently from the image (or the image changed while it was written); do not boot it' },
  RELEASE_UNSIGNED: { exit: FAILED, meaning: 'a release has no signature, or nothing (allowed_signers) to check its signature against, and --allow-unsigned gave no reason to accept it' },
  CHECKSUM_MISMATCH: { exit: FAILED, meaning: 'bytes do not match the SHA-256 their manifest records' },
  SIGNATURE_INVALID: { exit: FAILED, meaning: 'an SSH signature does not verify: changed bytes, another namespace, a signer not in allowed_signers (or not for that principal or namespace), a revoked, expired or not yet valid key, or a malformed signature' },
  ALLOWED_SIGNERS_INVALID: { exit: INPUT, meaning: 'an allowed_signers or revoked-keys file does not parse; the message names the file and line' },
  SIGNING_KEY_INVALID: { exit: INPUT, meaning: 'the signing key cannot be used: not an Ed25519 OpenSSH key, a wrong or missing passphrase, a key file others can read, or a key the ssh-agent does not hold' },
  NO_SPACE: { exit: FAILED, meaning: 'not enough free space at the destination' },
  DOWNLOAD_INTERRUPTED: { exit: FAILED, meaning: 'a download stopped part-way; the same command resumes it' },
  DOWNLOAD_DEST_UNSAFE: { exit: FAILED, meaning: "a download's destination holds something it did not write (a link, a directory, another user's file) or is controlled by another user; nothing is followed or replaced" },
  STORE_ACCESS: { exit: FAILED, meaning: 'the artifact store (S3 or a directory) could not be reached or refused the request' },
  STORE_CONFLICT: { exit: FAILED, meaning: 'someone else changed the store at the same time (a conditional write lost)' },
  HOST_KEY_REFUSED: { exit: FAILED, meaning: "a remote host's SSH key does not match known_hosts" },
  SSH_CONNECT_FAILED: { exit: FAILED, meaning: 'the remote build host could not be reached over SSH' },
  REMOTE_FAILED: { exit: FAILED, meaning: 'a command on the remote build host failed' },
  REMOTE_NO_IMAGEBUILD: { exit: FAILED, meaning: 'the remote host has no working imagebuild' },
  REMOTE_VERSION_MISMATCH: { exit: FAILED, meaning: 'the remote host runs another imagebuild version' },
  REMOTE_BUILD_REFUSED: { exit: INPUT, meaning: 'the imagebuild on the remote host refused the build (it exited 2: bad spec or flags)' },
  REMOTE_BUILD_FAILED: { exit: FAILED, meaning: 'the build on the remote host failed' },
  REMOTE_NO_MANIFEST: { exit: FAILED, meaning: 'the remote build succeeded but left no manifest' },
  INTERRUPTED: { exit: INTERRUPTED, meaning: 'stopped by SIGINT or SIGTERM; nothing half-done was registered — re-run to resume' },
} as const satisfies Record<string, { readonly exit: number; readonly meaning: string }>;

/** A code imagebuild exits with (`error.code` of every ImagebuildError). */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The exit status of an error nobody raised on purpose (a bug): the CLI prints its stack. */
export const INTERNAL_ERROR_EXIT = 70;
