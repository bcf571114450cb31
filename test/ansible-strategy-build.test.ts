import { readFileSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { probeMitogen } from '../src/adapters/tools/ansible-strategy.js';
import { buildImage } from '../src/app/build/pipeline.js';
import { fakeBuildOptions } from './helpers/build-options.js';
import { FAKE_BIN, FAKE_BUILD_TOOLS } from './helpers/fake-tools.js';
import { requireTools } from './helpers/require-tools.js';
import { smallDemoSpec } from './helpers/spec-builders.js';
import { makeTempDir } from './helpers/temp-dir.js';
import { PROJECT_ROOT } from './helpers/project-root.js';

// How the build's Packer runs hand Ansible its strategy: preflight asks the host's ansible-playbook interpreter
// whether it loads Mitogen for Ansible (the real one here, Debian's ansible-mitogen where CI installs it), and every
// Packer run gets the answer in its environment (the fake packer of test/fixtures/bin records it).
const hasTools = requireTools('test/ansible-strategy-build.test.ts', ...FAKE_BUILD_TOOLS);

describe.skipIf(!hasTools)("the build's Ansible strategy (fake packer, the host's ansible-playbook)", () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let record: string;
  const savedPath = process.env.PATH;

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-ansible-strategy-');
    record = join(work.dir, 'packer-env.txt');
    process.env.PATH = `${FAKE_BIN}:${savedPath}`;
    process.env.FAKE_PACKER_ENV_RECORD = record;
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
  });
  afterAll(async () => {
    process.env.PATH = savedPath;
    delete process.env.FAKE_PACKER_ENV_RECORD;
    await work.cleanup();
  });
  beforeEach(() => rm(record, { force: true }));
  const recorded = () => readFileSync(record, 'utf8').trim().split('\n');

  it('auto: every Packer run gets Mitogen where the host loads it, else the linear strategy with the reason', async () => {
    const probe = await probeMitogen();

    const report = await buildImage(fakeBuildOptions(work.dir, '1.0.0'));

    const env = probe.ok ? `imagebuild_mitogen_linear ${join(PROJECT_ROOT, 'ansible/strategy_plugins')}` : 'linear -';
    expect(report.ansibleStrategy).toBe(probe.ok ? 'mitogen_linear' : 'linear');
    expect(recorded()).toEqual(['base', 'driver', 'runtime', 'frameworks', 'validation', 'seal'].map((unit) => `${unit} ${env}`));
  });

  it("linear when asked, whatever the host has", async () => {
    const report = await buildImage(fakeBuildOptions(work.dir, '1.0.1', { fromLayer: 'validation', ansibleStrategy: 'linear' }));

    expect(report.ansibleStrategy).toBe('linear');
    expect(recorded()).toEqual(['validation linear -', 'seal linear -']);
  });

  it('mitogen asked for where it cannot load: refused in preflight, before any Packer run', async () => {
    // An ansible-playbook first on PATH whose Python has no Mitogen.
    const bin = join(work.dir, 'no-mitogen-bin');
    await mkdir(bin, { recursive: true });
    await writeFile(join(bin, 'ansible-playbook'), '#!/usr/bin/env python3\n');
    await writeFile(join(bin, 'python3'), '#!/bin/sh\necho "no:No module named \'mitogen\'"\n');
    await Promise.all(['ansible-playbook', 'python3'].map((name) => chmod(join(bin, name), 0o755)));
    process.env.PATH = `${FAKE_BIN}:${bin}:${savedPath}`;
    try {
      await expect(buildImage(fakeBuildOptions(work.dir, '1.0.2', { fromLayer: 'validation', ansibleStrategy: 'mitogen' }))).rejects.toThrow(
        "--ansible-strategy mitogen: Mitogen for Ansible is not usable here (No module named 'mitogen'); install it (Debian/Ubuntu: apt-get install ansible-mitogen) or use --ansible-strategy auto|linear",
      );
    } finally {
      process.env.PATH = `${FAKE_BIN}:${savedPath}`;
    }
    expect(() => readFileSync(record)).toThrow(/ENOENT/);
  });
});
