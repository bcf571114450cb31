// A release in output/<name>/ without a build, for the release tests that need no packer or
// qemu-img: random image bytes, a valid manifest describing them (testManifest's facts) and
// SHA256SUMS, laid out as a build leaves them; and a project whose spec names a store.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeTestSigning } from './signing.js';
import { serializeManifest, type ImageManifest } from '../../src/core/manifest/image-manifest.js';
import type { StoreSpec } from '../../src/core/spec/schema.js';
import { DEMO_NAME, smallDemoSpec } from './spec-builders.js';
import { testManifest } from './test-manifest.js';

/** A project directory's spec file (box.yaml) naming `store`, and where its releases are built. */
export async function writeReleaseProject(dir: string, store: StoreSpec): Promise<{ specPath: string; outputRoot: string }> {
  const specPath = join(dir, 'box.yaml');
  await writeFile(specPath, smallDemoSpec([[['artifacts'], { store, retention: 3, signing: writeTestSigning(dir) }]]));
  return { specPath, outputRoot: join(dir, 'output', DEMO_NAME) };
}

/** Writes output/<name>/v<version>/ with `size` random bytes as the image and a manifest that describes them. */
export async function writeLocalRelease(outputRoot: string, version: string, options: { size?: number; manifest?: Partial<ImageManifest> } = {}): Promise<{ manifest: ImageManifest; dir: string; artifactPath: string }> {
  const bytes = randomBytes(options.size ?? 64 * 1024);
  const artifact = `${DEMO_NAME}-v${version}.qcow2`;
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const manifest = testManifest({ name: DEMO_NAME, spec_name: DEMO_NAME, version, artifact, checksum_sha256: sha256, size_bytes: bytes.length, ...options.manifest });
  const dir = join(outputRoot, `v${version}`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, artifact), bytes);
  await writeFile(join(dir, 'image-manifest.json'), serializeManifest(manifest));
  await writeFile(join(dir, 'SHA256SUMS'), `${sha256}  ${artifact}\n`);
  return { manifest, dir, artifactPath: join(dir, artifact) };
}
