import { describe, expect, it } from 'vitest';
import { parseSpec } from '../spec/parse-spec.js';
import type { ImageSpec } from '../spec/schema.js';
import { computeBootstrapKey, computeLayerKey, planBuild, rolesOfPlaybook, type CachedLayer, type ProjectFiles } from './plan-build.js';

const TOOLS = { packer: '1.6.6', ansible: '2.14.18', qemuImg: '7.2.22' };
const digest = (c: string) => c.repeat(64).slice(0, 64);

const SPEC_YAML = `
name: test-image
os:
  distro: ubuntu
  release: "24.04"
  source: { kind: iso, url: "https://releases.example/u.iso", checksum: "sha256:${'a'.repeat(64)}" }
  disk_size_gib: 40
  hostname: test
users:
  - name: ops
    ssh_authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5xIzS2sxbaXaj99WyngVs5C0FroKgeI9aXsY+y8Xpi ops@x"]
hardware:
  gpu: { model: rtx-5090, count: 1 }
  build_vm: {}
layers:
  base: { docker: { version: "5:28.3.3-1~ubuntu.24.04~noble" } }
  driver: { nvidia_driver: "580.173.02", kernel_module: open, cuda: "13.0.2", cudnn: "9.28.1" }
  runtime: { container_toolkit: "1.20.0", gate: { cuda_image: "nvidia/cuda:13.0.2-base-ubuntu24.04" } }
  frameworks: { python: { venv: /opt/ai/venv }, pytorch: { version: "2.13.0", cuda_variant: cu130 } }
  validation: {}
`;

function spec(mutate: (s: ImageSpec) => void = () => {}): ImageSpec {
  const parsed = structuredClone(parseSpec(SPEC_YAML, 'test.yaml').spec);
  mutate(parsed);
  return parsed;
}

const playbook = (role: string) => `- hosts: all\n  roles:\n    - role: ${role}\n`;
const PROJECT: ProjectFiles = {
  digests: {
    'ansible/ansible.cfg': digest('1'),
    'ansible/playbooks/base.yml': digest('2'),
    'ansible/playbooks/driver.yml': digest('3'),
    'ansible/playbooks/runtime.yml': digest('4'),
    'ansible/playbooks/frameworks.yml': digest('5'),
    'ansible/playbooks/validation.yml': digest('6'),
    'ansible/roles/base/tasks/main.yml': digest('7'),
    'ansible/roles/nvidia/tasks/main.yml': digest('8'),
    'ansible/roles/python_venv/tasks/main.yml': digest('9'),
    'ansible/roles/unused/tasks/main.yml': digest('a'),
    'templates/packer/layer.pkr.hcl.hbs': digest('b'),
    'templates/ansible/frameworks.vars.yml.hbs': digest('c'),
    'templates/autoinstall/user-data.hbs': digest('d'),
  },
  texts: {
    'ansible/playbooks/base.yml': playbook('base'),
    'ansible/playbooks/driver.yml': playbook('nvidia'),
    'ansible/playbooks/runtime.yml': playbook('nvidia'),
    'ansible/playbooks/frameworks.yml': `- hosts: all\n  tasks:\n    - ansible.builtin.include_role:\n        name: python_venv\n`,
    'ansible/playbooks/validation.yml': playbook('validation'),
  },
};

function cacheFrom(plan: ReturnType<typeof planBuild>, createdAt = '2026-11-01T00:00:00Z'): CachedLayer[] {
  return plan.layers.map((l) => ({ key: l.key, layer: l.layer, specName: plan.imageName, createdAt, inputs: l.inputs }));
}

describe('planBuild', () => {
  it('builds every layer on an empty cache, chaining each key to its parent', () => {
    const plan = planBuild(spec(), '1.1.0', PROJECT, TOOLS, []);

    expect(plan.artifact).toBe('test-image-v1.1.0.qcow2');
    expect(plan.layers.map((l) => l.action)).toEqual(['build', 'build', 'build', 'build', 'build']);
    expect(plan.layers[0]!.reasons).toEqual(['not in the cache']);
    expect(plan.layers[1]!.parentKey).toBe(plan.layers[0]!.key);
    expect(new Set(plan.layers.map((l) => l.key)).size).toBe(5);
  });

  it('reuses every layer when nothing changed', () => {
    const cached = cacheFrom(planBuild(spec(), '1.0.0', PROJECT, TOOLS, []));

    const plan = planBuild(spec(), '1.1.0', PROJECT, TOOLS, cached);

    expect(plan.layers.map((l) => l.action)).toEqual(['reuse', 'reuse', 'reuse', 'reuse', 'reuse']);
  });

  it('changes the keys of frameworks and validation, and no others, when only the frameworks section changes', () => {
    const before = planBuild(spec(), '1.0.0', PROJECT, TOOLS, []);

    const after = planBuild(spec((s) => void (s.layers.frameworks.pytorch.version = '2.8.0')), '1.1.0', PROJECT, TOOLS, cacheFrom(before));

    expect(after.layers.map((l) => l.key === before.layers.find((b) => b.layer === l.layer)!.key)).toEqual([true, true, true, false, false]);
    expect(after.layers.map((l) => l.action)).toEqual(['reuse', 'reuse', 'reuse', 'build', 'build']);
    expect(after.layers[3]!.reasons).toEqual(['layers.frameworks.pytorch.version changed: "2.13.0" → "2.8.0"']);
    expect(after.layers[4]!.reasons).toEqual(['parent frameworks is rebuilt']);
  });

  it('names a changed role file as the reason, for the layers whose playbooks use that role', () => {
    const before = planBuild(spec(), '1.0.0', PROJECT, TOOLS, []);
    const changed: ProjectFiles = { ...PROJECT, digests: { ...PROJECT.digests, 'ansible/roles/nvidia/tasks/main.yml': digest('f') } };

    const after = planBuild(spec(), '1.1.0', changed, TOOLS, cacheFrom(before));

    expect(after.layers.map((l) => l.action)).toEqual(['reuse', 'build', 'build', 'build', 'build']);
    expect(after.layers[1]!.reasons).toEqual(['ansible/roles/nvidia/tasks/main.yml changed']);
  });

  it('ignores files no layer uses and settings that change no layer content', () => {
    const before = planBuild(spec(), '1.0.0', PROJECT, TOOLS, []);
    const changed: ProjectFiles = { ...PROJECT, digests: { ...PROJECT.digests, 'ansible/roles/unused/tasks/main.yml': digest('0') } };

    const after = planBuild(spec((s) => void (s.hardware.build_vm.cpus = 32)), '1.1.0', changed, TOOLS, cacheFrom(before));

    expect(after.layers.map((l) => l.action)).toEqual(['reuse', 'reuse', 'reuse', 'reuse', 'reuse']);
  });

  it('rebuilds everything when the packer version changes, and says so', () => {
    const before = planBuild(spec(), '1.0.0', PROJECT, TOOLS, []);

    const after = planBuild(spec(), '1.1.0', PROJECT, { ...TOOLS, packer: '1.11.2' }, cacheFrom(before));

    expect(after.layers[0]!.action).toBe('build');
    expect(after.layers[0]!.reasons).toEqual(['packer 1.6.6 → 1.11.2']);
  });

  it('forces a rebuild from --from-layer and skips layers above --until-layer', () => {
    const cached = cacheFrom(planBuild(spec(), '1.0.0', PROJECT, TOOLS, []));

    const plan = planBuild(spec(), '1.1.0', PROJECT, TOOLS, cached, { fromLayer: 'runtime', untilLayer: 'frameworks' });

    expect(plan.layers.map((l) => l.action)).toEqual(['reuse', 'reuse', 'build', 'build', 'skip']);
    expect(plan.layers[2]!.reasons).toEqual(['forced by --from-layer runtime']);
  });

  it('derives the key from the inputs alone', () => {
    const plan = planBuild(spec(), '1.0.0', PROJECT, TOOLS, []);

    expect(plan.layers.every((l) => computeLayerKey(l.inputs) === l.key)).toBe(true);
    expect(plan.layers[0]!.key).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('rolesOfPlaybook', () => {
  it('finds roles in roles lists, include_role/import_role tasks, blocks and meta dependencies', () => {
    const text = `
- hosts: all
  roles:
    - common
    - role: docker
  tasks:
    - name: nested
      block:
        - ansible.builtin.import_role:
            name: nvidia
    - include_role:
        name: extra
`;

    const roles = rolesOfPlaybook(text, { docker: 'dependencies:\n  - role: apt_proxy\n' });

    expect(roles).toEqual(['apt_proxy', 'common', 'docker', 'extra', 'nvidia']);
  });
});

describe('planBuild and the build key', () => {
  const KEY_A = 'SHA256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const KEY_B = 'SHA256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';

  it('makes the build key an input of the base layer, so every key changes with it and the reason names it', () => {
    const before = planBuild(spec(), '1.0.0', PROJECT, TOOLS, [], { buildKey: KEY_A });

    const after = planBuild(spec(), '1.1.0', PROJECT, TOOLS, cacheFrom(before), { buildKey: KEY_B });

    expect(after.layers.map((l) => l.action)).toEqual(['build', 'build', 'build', 'build', 'build']);
    expect(after.layers[0]!.reasons).toEqual([`build key ${KEY_A} → ${KEY_B}`]);
    expect(after.layers.every((l, i) => l.key !== before.layers[i]!.key)).toBe(true);
    expect(after.layers[1]!.inputs.buildKey).toBeUndefined();
  });

  it('reuses every layer for the same build key', () => {
    const cached = cacheFrom(planBuild(spec(), '1.0.0', PROJECT, TOOLS, [], { buildKey: KEY_A }));

    expect(planBuild(spec(), '1.1.0', PROJECT, TOOLS, cached, { buildKey: KEY_A }).layers.map((l) => l.action)).toEqual(['reuse', 'reuse', 'reuse', 'reuse', 'reuse']);
  });

  it('makes the verification key a base input only for a spec with a verify_login user', () => {
    const verifying = () => spec((s) => Object.assign(s.users[0]!, { verify_login: true }));
    const before = planBuild(verifying(), '1.0.0', PROJECT, TOOLS, [], { buildKey: KEY_A, verifyKey: KEY_A });

    const after = planBuild(verifying(), '1.1.0', PROJECT, TOOLS, cacheFrom(before), { buildKey: KEY_A, verifyKey: KEY_B });
    const plain = planBuild(spec(), '1.0.0', PROJECT, TOOLS, [], { buildKey: KEY_A, verifyKey: KEY_B });

    expect(after.layers[0]!.reasons).toEqual([`verification key ${KEY_A} → ${KEY_B}`]);
    expect(after.layers.map((l) => l.action)).toEqual(['build', 'build', 'build', 'build', 'build']);
    expect(after.layers[1]!.inputs.verifyKey).toBeUndefined();
    expect(plain.layers[0]!.inputs.verifyKey).toBeUndefined();
    expect(plain.layers[0]!.key).toBe(planBuild(spec(), '1.0.0', PROJECT, TOOLS, [], { buildKey: KEY_A }).layers[0]!.key);
  });
});

describe('planBuild and the bootstrap image', () => {
  const KEY = 'SHA256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const bootstrapped = (proxy?: string) =>
    spec((s) => {
      s.os.source = { kind: 'bootstrap', suite: 'bookworm', mirror: 'http://deb.debian.org/debian', components: ['main'], include: [] } as unknown as ImageSpec['os']['source'];
      if (proxy) s.cache.apt_proxy = proxy;
    });

  it('makes the bootstrap key an input of the base layer, so an apt proxy written into the image rebuilds it and says why', () => {
    const before = planBuild(bootstrapped(), '1.0.0', PROJECT, TOOLS, [], { buildKey: KEY });

    const after = planBuild(bootstrapped('http://10.0.2.2:3142'), '1.1.0', PROJECT, TOOLS, cacheFrom(before), { buildKey: KEY });

    expect(after.layers[0]!.inputs.bootstrapKey).toBe(computeBootstrapKey(bootstrapped('http://10.0.2.2:3142'), KEY));
    expect(after.layers[0]!.action).toBe('build');
    expect(after.layers[0]!.reasons).toEqual(['bootstrap image inputs changed (cache.apt_proxy or the build key)']);
  });

  it('gives images from an installer or a cloud image no bootstrap key', () => {
    const plan = planBuild(spec(), '1.0.0', PROJECT, TOOLS, [], { buildKey: KEY });

    expect(plan.layers.map((l) => l.inputs.bootstrapKey)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});
