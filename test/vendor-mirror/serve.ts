// Builds the hermetic vendor mirror and serves it on 127.0.0.1 until interrupted, for building a GPU spec by hand
// (test infrastructure: never for a production build). Usage, from the project root:
//   npx tsx test/vendor-mirror/serve.ts <dir> [--port N] [--spec manifests/local-dev.yaml]
// writes <dir>/gpu.yaml (the spec with its vendor sources pointed at the mirror), then prints what it serves.
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freeProxyablePort } from '../../src/adapters/package-cache/apt-proxy.js';
import { LOCAL_DEV_SPEC_PATH } from '../helpers/spec-builders.js';
import { specAgainstMirror, startVendorMirror } from './gpu-spec.js';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { port: { type: 'string' }, spec: { type: 'string' } } });
const dir = positionals[0];
if (dir === undefined) {
  console.error('usage: npx tsx test/vendor-mirror/serve.ts <dir> [--port N] [--spec path]');
  process.exit(2);
}
// A port the build's apt cache can reach (apt-cacher-ng mishandles ports above 32767); a fixed --port keeps wheelhouse
// keys and cached sources the same between runs.
const mirror = await startVendorMirror(resolve(dir), { port: values.port === undefined ? await freeProxyablePort() : Number(values.port) });
const specPath = join(resolve(dir), 'gpu.yaml');
await writeFile(specPath, specAgainstMirror(resolve(values.spec ?? LOCAL_DEV_SPEC_PATH), mirror));
console.log(`vendor mirror at ${mirror.served.hostUrl} (guests: ${mirror.served.guestUrl}); spec ${specPath}`);
const stop = async () => {
  const { bytes, requests } = mirror.served.served();
  console.log(`served ${requests} requests, ${bytes} bytes; misses: ${mirror.served.misses().join(', ') || 'none'}`);
  await mirror.served.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
