// Kept apart from s3-server.ts, which the benchmarks import outside vitest.
import { afterAll, beforeAll } from 'vitest';
import { startS3Server, type TestS3Server } from './s3-server.js';

/**
 * One s3rver for the calling test file, started before its tests with this run's credentials in process.env
 * (restored after). The returned server is usable inside tests and hooks.
 */
export function useS3Server(): TestS3Server {
  let server: TestS3Server | undefined;
  const savedEnv = { ...process.env };
  beforeAll(async () => {
    server = await startS3Server();
    Object.assign(process.env, server.credentialsEnv);
  });
  afterAll(async () => {
    process.env = savedEnv;
    await server?.close();
  });
  const current = (): TestS3Server => {
    if (!server) throw new Error('useS3Server: use the server inside a test or hook');
    return server;
  };
  return {
    get endpoint() { return current().endpoint; },
    get dir() { return current().dir; },
    get bucket() { return current().bucket; },
    get accessKeyId() { return current().accessKeyId; },
    get secretAccessKey() { return current().secretAccessKey; },
    get env() { return current().env; },
    get credentialsEnv() { return current().credentialsEnv; },
    storeSpec: (prefix) => current().storeSpec(prefix),
    objectFile: (key) => current().objectFile(key),
    close: () => current().close(),
  };
}
