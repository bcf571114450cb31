import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { mutateManifest, type ManifestChanges } from '../helpers/spec-builders.js';
import { APT_MIRROR_PATHS, buildAptMirror, type AptMirror } from './apt-mirror.js';
import { buildPypiMirror, type PypiMirror } from './pypi-mirror.js';
import { serveMirror, type ServedMirror } from './serve-mirror.js';

/** The whole hermetic vendor mirror, built under `<dir>/mirror` and served on loopback for as long as it runs. */
export type VendorMirror = { readonly served: ServedMirror; readonly apt: AptMirror; readonly pypi: PypiMirror };

/** Serves first (the port is baked into what the guest installs), then builds both halves into the served root. */
export async function startVendorMirror(dir: string, options: { port?: number } = {}): Promise<VendorMirror> {
  const root = join(dir, 'mirror');
  await mkdir(root, { recursive: true });
  const served = await serveMirror(root, options);
  try {
    const apt = await buildAptMirror({ dir: root, guestUrl: served.guestUrl });
    const pypi = await buildPypiMirror({ dir: root });
    return { served, apt, pypi };
  } catch (error) {
    await served.stop();
    throw error;
  }
}

/**
 * A shipped spec (local-dev) whose vendor sources are the served mirror, as the build guest reaches it: NVIDIA's
 * Debian 12 CUDA repository, the Container Toolkit's repository and key, PyTorch's and PyPI's indexes. The
 * validation gate's vLLM model is a local path (no Hugging Face; the check is skipped without a GPU anyway).
 * Nothing else changes, so the base layer is the shipped spec's own and a --until-layer base build's is reused.
 */
export function specAgainstMirror(specPath: string, mirror: VendorMirror, changes: ManifestChanges = []): string {
  const url = mirror.served.guestUrl;
  const { pytorchIndexUrl, pypiIndexUrl } = mirror.pypi.indexUrls(url);
  return mutateManifest(specPath, [
    [['layers', 'driver', 'repository'], { url: `${url}/${APT_MIRROR_PATHS.debian12}/` }],
    // NVIDIA's toolkit source line names the architecture as apt's $(ARCH); the mirror holds amd64.
    [['layers', 'runtime', 'repository'], { url: `${url}/${APT_MIRROR_PATHS.containerToolkit.replace(/\/amd64$/, '/$(ARCH)')}`, gpgkey_url: `${url}/${APT_MIRROR_PATHS.containerToolkitGpgKey}` }],
    [['layers', 'frameworks', 'pytorch', 'index_url'], pytorchIndexUrl],
    [['layers', 'frameworks', 'pip'], { index_url: pypiIndexUrl }],
    [['layers', 'validation', 'gate', 'vllm_model'], '/opt/models/none'],
    ...changes,
  ]);
}
