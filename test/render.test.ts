import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTemplateSources, listFiles } from '../src/adapters/fs/read-files.js';
import { renderImage, type TemplateSources } from '../src/core/render/render-image.js';
import { PROJECT_ROOT } from './helpers/project-root.js';
import { DEMO_SPEC_PATH, LOCAL_DEV_SPEC_PATH, specFrom } from './helpers/spec-builders.js';

let sources: TemplateSources;
beforeAll(async () => {
  sources = await loadTemplateSources(PROJECT_ROOT);
});

describe('renderImage golden files', () => {
  it.each([
    ['vault-cube-demo-box', DEMO_SPEC_PATH, '1.6.6'],
    ['local-dev', LOCAL_DEV_SPEC_PATH, '1.6.6'],
  ])('renders %s exactly as the golden files', async (name, specPath, packerVersion) => {
    const files = renderImage(specFrom(specPath), sources, { packerVersion });

    for (const file of files) await expect(file.content).toMatchFileSnapshot(`golden/${name}/${file.path}`);
    expect(files.map((f) => f.path)).toEqual(await listFiles(join(import.meta.dirname, 'golden', name), '.').then((p) => p.map((x) => x.replace(/^\.\//, ''))));
  });
});

describe('renderImage', () => {
  it('is deterministic: the same spec renders byte-identical files', () => {
    const spec = specFrom(DEMO_SPEC_PATH);

    const first = renderImage(spec, sources, { packerVersion: '1.11.2' });
    const second = renderImage(structuredClone(spec), sources, { packerVersion: '1.11.2' });

    expect(second).toEqual(first);
  });

  it('adds plugin requirements only for Packer 1.7 and later', () => {
    const spec = specFrom(DEMO_SPEC_PATH);

    const old = renderImage(spec, sources, { packerVersion: '1.6.6' }).map((f) => f.path);
    const current = renderImage(spec, sources, { packerVersion: '1.11.2' }).map((f) => f.path);
    const unknown = renderImage(spec, sources).map((f) => f.path);

    expect(old.filter((p) => p.endsWith('plugins.pkr.hcl'))).toEqual([]);
    expect(current.filter((p) => p.endsWith('plugins.pkr.hcl'))).toHaveLength(6);
    expect(unknown).toEqual(current);
  });

  it('gives layers 2-5 the previous layer as backing file, at the parent disk size', () => {
    const files = renderImage(specFrom(DEMO_SPEC_PATH), sources, { packerVersion: '1.6.6' });
    const driver = files.find((f) => f.path === 'driver/driver.pkr.hcl')!.content;

    expect(driver).toMatch(/disk_image\s+= true/);
    expect(driver).toMatch(/use_backing_file\s+= true/);
    expect(driver).toMatch(/iso_url\s+= var\.parent_image/);
    expect(driver).toMatch(/disk_size\s+= "204800M"/);
  });

  it('restates the NIC when VFIO devices are passed through, and adds no -device without passthrough', () => {
    const withGpus = renderImage(specFrom(DEMO_SPEC_PATH), sources, { packerVersion: '1.6.6' }).find((f) => f.path === 'base/base.pkr.hcl')!.content;
    const without = renderImage(specFrom(LOCAL_DEV_SPEC_PATH), sources, { packerVersion: '1.6.6' }).find((f) => f.path === 'base/base.pkr.hcl')!.content;

    expect(withGpus).toContain('["-device", "vfio-pci,host=0000:61:00.1,bus=imagebuild-gpu3,addr=00.1"]');
    expect(withGpus).toContain('["-device", "virtio-net,netdev=user.0"]');
    expect(without).not.toContain('"-device"');
  });

  it('renders a cloud-image base with a cloud-init seed CD', () => {
    const spec = specFrom(DEMO_SPEC_PATH, [
      [['os', 'source'], { kind: 'cloud_image', url: 'https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img', checksum: `sha256:${'a'.repeat(64)}` }],
    ]);

    const files = renderImage(spec, sources, { packerVersion: '1.6.6' });
    const base = files.find((f) => f.path === 'base/base.pkr.hcl')!.content;

    expect(files.map((f) => f.path)).toContain('base/cidata/user-data');
    expect(base).toContain('cd_label     = "cidata"');
    expect(base).not.toContain('boot_command');
  });

  it('keeps a hostile string a plain string in HCL and YAML even if it got past validation', () => {
    // The schema refuses these values; rendering must still be safe on its own (defence in depth).
    const spec = structuredClone(specFrom(DEMO_SPEC_PATH));
    if (spec.os.source.kind !== 'iso') throw new Error('demo spec must install from an ISO');
    spec.os.source.url = 'https://mirror.example/x?a=${file("/etc/shadow")}&b=%{if true}"\\\n}';
    spec.layers.frameworks.pip.index_url = 'https://pypi.example/simple/{{ lookup("pipe","id") }}';

    const files = renderImage(spec, sources, { packerVersion: '1.6.6' });
    const base = files.find((f) => f.path === 'base/base.pkr.hcl')!.content;
    const vars = files.find((f) => f.path === 'frameworks/vars.yml')!.content;

    expect(base).toContain('iso_url        = "https://mirror.example/x?a=$${file(\\"/etc/shadow\\")}&b=%%{if true}\\"\\\\\\n}"');
    expect(vars).toContain('ai_frameworks_pip_index_url: !unsafe "https://pypi.example/simple/{{ lookup(\\"pipe\\",\\"id\\") }}"');
  });
});

describe('templates', () => {
  it('route every value in HCL templates through an encoding helper', async () => {
    const paths = (await listFiles(PROJECT_ROOT, 'templates')).filter((p) => p.endsWith('.hbs'));
    const bare: string[] = [];

    for (const path of paths) {
      const text = readFileSync(join(PROJECT_ROOT, path), 'utf8');
      for (const match of text.matchAll(/(?<!\\)\{\{\{?\s*([^}]*?)\s*\}?\}\}/g)) {
        const expression = match[1]!;
        const allowed = /^(hcl|ansible|yaml) \S/.test(expression) || /^[#/>]/.test(expression) || expression === 'else' || /^!/.test(expression);
        const plainTextField = /^(imageName|layer|playbook|reportName)$/.test(expression);
        if (!allowed && !plainTextField) bare.push(`${path}: {{${expression}}}`);
      }
    }

    expect(bare).toEqual([]);
  });
});
