import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa, type ResultPromise } from 'execa';
import { freePort } from './free-port.js';
import { waitFor } from './wait.js';

// A real container registry for the image cache's tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1 with
// filesystem storage in a directory of its own, started and stopped by pid; and stand-in images pushed to it with the
// real skopeo from an OCI layout written here (one layer holding one text file: nothing that runs).

/** The programs (Debian: docker-registry, skopeo). */
export const REGISTRY_TOOLS = ['docker-registry', 'skopeo'] as const;

export type TestRegistry = {
  readonly port: number;
  /** 127.0.0.1:<port>: the registry as the host names it in an image reference. */
  readonly hostName: string;
  /** 10.0.2.2:<port>: as a build VM names it. */
  readonly guestName: string;
  /** Pushes a stand-in image to `repository:tag` (content decides its digest); returns the manifest digest. */
  push(repositoryAndTag: string, content: string): Promise<string>;
  stop(): Promise<void>;
};

export async function startRegistry(): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'imagebuild-registry-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child: ResultPromise = execa('docker-registry', ['serve', config], { reject: false, stdin: 'ignore', all: true, cleanup: true });
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status, () => 0)) === 200, 15_000);
  } catch (error) {
    child.kill('SIGKILL');
    const result = await child;
    await rm(dir, { recursive: true, force: true });
    throw new Error(`docker-registry did not answer on 127.0.0.1:${port}: ${String(result.all).slice(-1000)}`, { cause: error });
  }
  let pushes = 0;
  return {
    port,
    hostName: `127.0.0.1:${port}`,
    guestName: `10.0.2.2:${port}`,
    async push(repositoryAndTag, content) {
      pushes += 1;
      const layout = join(dir, `layout-${pushes}`);
      const tag = repositoryAndTag.slice(repositoryAndTag.lastIndexOf(':') + 1);
      await writeOciLayout(layout, tag, content);
      await execa('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:${tag}`, `docker://127.0.0.1:${port}/${repositoryAndTag}`]);
      const { stdout } = await execa('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://127.0.0.1:${port}/${repositoryAndTag}`]);
      return stdout.trim();
    },
    async stop() {
      child.kill('SIGTERM');
      await child;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An OCI image layout with one image: a gzipped layer holding `imagebuild-stand-in.txt` with `content`. */
async function writeOciLayout(dir: string, tag: string, content: string): Promise<void> {
  const blobs = join(dir, 'blobs/sha256');
  await mkdir(blobs, { recursive: true });
  const blob = async (data: Buffer) => {
    const hex = createHash('sha256').update(data).digest('hex');
    await writeFile(join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const tar = tarOneFile('imagebuild-stand-in.txt', Buffer.from(content));
  const layer = await blob(gzipSync(tar));
  const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  const config = await blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] } })));
  const manifest = await blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      }),
    ),
  );
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }] }),
  );
}

/** A ustar archive of one regular file (mode 0644, owner 0, mtime 0). */
function tarOneFile(name: string, data: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) => header.write(value, offset, length, 'ascii');
  field(0, 100, name);
  field(100, 8, '0000644\0');
  field(108, 8, '0000000\0');
  field(116, 8, '0000000\0');
  field(124, 12, `${data.length.toString(8).padStart(11, '0')}\0`);
  field(136, 12, '00000000000\0');
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  header.fill(' ', 148, 156);
  const sum = header.reduce((total, byte) => total + byte, 0);
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, padding, Buffer.alloc(1024)]);
}
