import { saveImage, serveImages, type CachedImage } from '../../adapters/package-cache/image-cache.js';
import type { FileServer } from '../../adapters/package-cache/file-server.js';
import type { BuildPlan } from '../../core/plan/plan-build.js';
import { formatBytes } from '../../core/release/transfer-rate.js';
import { firstLine, ImagebuildError } from '../../errors/index.js';
import type { BuildRun } from './build-run.js';
import type { ImageCacheReport } from './options.js';

// The runtime layer's container images for one build (issue 20): each image the spec lists (layers.runtime.images) is
// saved once on the host (or found saved and verified) and served to that layer's build VM, which loads it instead of
// pulling it. The URL reaches the role as a run-time extra var (container_runtime_image_cache_url), never through the
// rendered vars, so it is in no layer key.

/** The image cache a build's runtime layer loads from, or none. */
export type BuildImageCache = {
  /** container_runtime_image_cache_url for the runtime layer's build VM; "" = none (the role pulls). */
  readonly guestUrl: string;
  readonly title: string;
  readonly notices: readonly string[];
  /** Stops serving and says what was served; safe to call twice. */
  finish(): Promise<ImageCacheReport | undefined>;
};

/**
 * Saves (or finds) and serves the spec's container images when this build builds the runtime layer. Without --offline
 * an image that cannot be saved costs the build its image cache, not its run: the role then pulls every image as it
 * would without one. With --offline every image must be saved already, or the build stops before its first layer.
 */
export async function openImageCache(run: BuildRun, plan: BuildPlan, options: { disabled: boolean; offline: boolean; onLine: (line: string) => void }): Promise<BuildImageCache> {
  const none = (title: string, notices: string[] = []): BuildImageCache => ({ guestUrl: '', title, notices, finish: async () => undefined });
  const refs = run.spec.layers.runtime.images;
  if (refs.length === 0 || !plan.layers.some((l) => l.layer === 'runtime' && l.action === 'build')) return none('image cache: not needed');
  if (options.disabled) return none('image cache: off (--no-package-cache); the build VM pulls every image');
  const images: CachedImage[] = [];
  const notices: string[] = [];
  for (const ref of refs) {
    let saved: Awaited<ReturnType<typeof saveImage>>;
    try {
      saved = await saveImage({ cacheDir: run.cache.root, ref, offline: options.offline, onLine: options.onLine });
    } catch (error) {
      if (run.signal.aborted) throw error;
      return none('image cache: off', [`image cache off for this build: ${firstLine(error)}; the build VM pulls every image`]);
    }
    if ('missing' in saved) {
      throw new ImagebuildError('OFFLINE_CACHE_MISS', `--offline: the runtime layer needs the container image ${ref}, and ${saved.missing.replace(`${ref} `, 'it ')}; build once with the network to save it`);
    }
    if (saved.notice) notices.push(`image cache: ${saved.notice}`);
    images.push(saved);
  }
  const server: FileServer = await serveImages(images);
  const total = images.reduce((sum, image) => sum + image.record.bytes, 0);
  const downloaded = images.reduce((sum, image) => sum + image.bytesDownloaded, 0);
  const hits = images.filter((image) => image.hit).length;
  let finished: Promise<ImageCacheReport> | undefined;
  return {
    guestUrl: server.guestUrl,
    title: `image cache: ${images.length} image(s), ${formatBytes(total)}, ${hits} from the cache, ${formatBytes(downloaded)} downloaded; served on 127.0.0.1:${server.port}`,
    notices,
    finish() {
      finished ??= server.close().then(() => ({ images: images.map((image) => ({ ref: image.record.ref, digest: image.record.digest, hit: image.hit })), bytesDownloaded: downloaded, bytesServed: server.bytesServed() }));
      return finished;
    },
  };
}

/** One line for the build's notices: what the image cache gave the runtime layer. */
export function describeImageCache(report: ImageCacheReport): string {
  return `image cache: ${formatBytes(report.bytesServed)} served to the build VM, ${formatBytes(report.bytesDownloaded)} downloaded by the host for it (${report.images.filter((i) => i.hit).length} of ${report.images.length} image(s) from the cache)`;
}
