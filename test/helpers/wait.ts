import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';

// Polling every 20 ms: fast enough to catch a child mid-step, slow enough not to compete with it for the CPU.
const POLL_MS = 20;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until it holds; fails after `timeoutMs`. */
export async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await condition()); ) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
}

/** Waits until `path` exists, up to `timeoutMs`; fails naming it and `context()` (e.g. the child's output so far). */
export async function waitForFile(path: string, timeoutMs: number, context: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${timeoutMs} ms ${context()}`);
    await sleep(POLL_MS);
  }
}

/** Waits until `path` exists with at least `bytes` bytes, up to `timeoutMs`; returns its size then. */
export async function waitForSize(path: string, bytes: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const size = existsSync(path) ? (await stat(path)).size : 0;
    if (size >= bytes) return size;
    if (Date.now() > deadline) throw new Error(`${path} did not reach ${bytes} bytes in ${timeoutMs} ms (has ${size})`);
    await sleep(POLL_MS);
  }
}

/** Resolves once `stream` (a child's output) has carried `text`; after `timeoutMs` rejects with `message` and all it carried. */
export function waitForOutput(stream: Readable | null | undefined, text: string, timeoutMs: number, message: string): Promise<void> {
  let seen = '';
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${message}${seen}`)), timeoutMs);
    stream?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}
