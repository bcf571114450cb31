// How large a release's small files may be when imagebuild reads them whole (from a store or a
// directory): anything larger is not what imagebuild wrote, and is refused rather than read into memory.

/** Upper bounds, in bytes, of the small files of a release. */
export const RELEASE_FILE_MAX_BYTES = {
  /** image-manifest.json: layers, gates and summaries, kilobytes. */
  manifest: 4 * 1024 * 1024,
  /** SHA256SUMS: a line per file. */
  sums: 64 * 1024,
  /** SHA256SUMS.sig: an armored Ed25519 SSHSIG is under 400 bytes. */
  signature: 16 * 1024,
  /** The SBOM and the provenance statement: SBOMs of large images run to megabytes. */
  document: 64 * 1024 * 1024,
} as const;
