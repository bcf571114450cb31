import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_CLI, PROJECT_ROOT } from './helpers/project-root.js';
import { requireTools } from './helpers/require-tools.js';
import { LOCAL_DEV_SPEC_PATH, mutateManifest } from './helpers/spec-builders.js';
import { hostWheelhouseTarget } from './helpers/host-python.js';
import { makeTempDir, type TempDir } from './helpers/temp-dir.js';
import { buildPypiMirror, type PypiMirror } from './vendor-mirror/pypi-mirror.js';
import { fillWheelhouse, type Wheelhouse } from '../src/adapters/package-cache/wheelhouse.js';
import { serveWheelhouse, type ServedWheelhouse } from '../src/adapters/package-cache/wheel-server.js';
import { wheelhouseRequestOf } from '../src/app/build/wheelhouse-cache.js';
import { frameworksPipSet, type FrameworksPipSet } from '../src/core/spec/frameworks-pip.js';
import { parseSpec } from '../src/core/spec/parse-spec.js';
import { serveMirror, type ServedMirror } from './vendor-mirror/serve-mirror.js';

// The PyPI half of the hermetic vendor mirror (issue 16), installed from with the real pip the way the
// frameworks role does it: the role's own requirement strings, constraints file and pip environments (its
// defaults evaluated by the real ansible-playbook against a spec rendered by the built CLI), in a venv on this
// machine; then the guest's own programs read the result. No VM: the TCG build does the same in a guest.
const hasTools = requireTools('test/vendor-mirror-pypi.test.ts', 'python3', 'gcc', 'ansible-playbook');

const ROLE = join(PROJECT_ROOT, 'ansible/roles/ai_frameworks');
const SUITE_DIR = join(PROJECT_ROOT, 'ansible/roles/validation_suite/files');
const NO_GPU_REASON = 'no GPU passed through to this build (hardware.gpu.passthrough is empty)';

/** What the role computes from its defaults and the rendered frameworks vars. */
type RoleData = {
  requirements: string[];
  torch_requirement: string;
  extra_requirements: string[];
  nccl_requirement: string;
  pytorch_index_url: string;
  pip_env: Record<string, string>;
  pypi_env: Record<string, string>;
  constraints_file: string;
  wheelhouse_args: string[];
  wheelhouse_env: Record<string, string>;
};
/** A finished process: what a test reads of it. */
type Run = { command: string; exitCode: number | undefined; stdout: string; stderr: string };
type GateCheck = { check: string; status: string; value?: unknown; reason?: string; detail?: Record<string, unknown> };

describe.skipIf(!hasTools)('PyPI stand-in mirror, installed from as the frameworks role does (real pip, no VM)', { timeout: 60_000 }, () => {
  let work: TempDir;
  let mirror: PypiMirror;
  let served: ServedMirror;
  let venv: string;
  let role: RoleData;
  const installs: Run[] = [];
  let servedAfterInstalls: ReturnType<ServedMirror['served']>;
  let pipSet: FrameworksPipSet;
  let wheelhouse: Wheelhouse;
  let servedWheelhouse: ServedWheelhouse;
  const wheelhouseInstalls: Run[] = [];
  let mirrorBytesDuringWheelhouseInstalls: number;
  const wheelhouseVenv = () => join(work.dir, 'wheelhouse-venv');
  let missesAfterInstalls: readonly string[];

  /** pip's environment: only what the role sets, no config file of this machine's (pip --isolated would drop the role's PIP_* too). */
  function pipEnv(extra: Record<string, string>): Record<string, string> {
    return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work.dir, LANG: 'C.UTF-8', PIP_CONFIG_FILE: '/dev/null', PYTHONDONTWRITEBYTECODE: '1', ...extra };
  }

  async function pip(args: readonly string[], env: Record<string, string>, inVenv = venv): Promise<Run> {
    const { command, exitCode, stdout, stderr } = await execa(join(inVenv, 'bin/pip'), args, { env: pipEnv(env), extendEnv: false, reject: false, timeout: 60_000 });
    return { command, exitCode, stdout: String(stdout), stderr: String(stderr) };
  }

  /** Runs `code` with the venv's python and parses the JSON it prints. */
  async function venvPython(code: string): Promise<unknown> {
    const { stdout } = await execa(join(venv, 'bin/python'), ['-B', '-c', code], { env: pipEnv({}), extendEnv: false });
    return JSON.parse(String(stdout));
  }

  async function resolveRoleData(specText: string, wheelhouseUrl: string): Promise<RoleData> {
    const dir = join(work.dir, 'spec');
    await mkdir(dir);
    await writeFile(join(dir, 'spec.yaml'), specText);
    await execa('node', [BUILT_CLI, 'render', '--spec', join(dir, 'spec.yaml'), '--out', join(dir, 'rendered')]);
    const playbook = [
      '- name: Resolve the frameworks role\'s pip requirements and environments',
      '  hosts: localhost',
      '  connection: local',
      '  gather_facts: false',
      `  vars_files: ["${ROLE}/defaults/main.yml", "${dir}/rendered/frameworks/vars.yml"]`,
      '  tasks:',
      '    - name: Pin the frameworks\' versions as the role does',
      '      ansible.builtin.template:',
      `        src: ${ROLE}/templates/constraints.txt.j2`,
      '        dest: "{{ ai_frameworks_constraints_file }}"',
      '        mode: "0644"',
      '    - name: Write what the role would install, from where',
      '      ansible.builtin.copy:',
      `        dest: ${dir}/role.json`,
      '        mode: "0644"',
      "        content: \"{{ {'torch_requirement': ai_frameworks_torch_requirement, 'extra_requirements': ai_frameworks_extra_requirements, " +
        "'requirements': ai_frameworks_requirements, 'nccl_requirement': ai_frameworks_nccl_requirement, 'pytorch_index_url': ai_frameworks_pytorch_index_url, " +
        "'pip_env': ai_frameworks_pip_env, 'pypi_env': ai_frameworks_pypi_env, 'constraints_file': ai_frameworks_constraints_file, " +
        "'wheelhouse_args': ai_frameworks_wheelhouse_args, 'wheelhouse_env': ai_frameworks_wheelhouse_env} | to_json }}\"",
    ].join('\n');
    await writeFile(join(dir, 'play.yml'), `${playbook}\n`);
    // The venv is this machine's temporary one; everything else is the rendered spec's.
    await execa('ansible-playbook', ['-i', 'localhost,', '-e', JSON.stringify({ ai_frameworks_venv: venv, ai_frameworks_wheelhouse_url: wheelhouseUrl }), join(dir, 'play.yml')], {
      env: { ANSIBLE_CONFIG: join(PROJECT_ROOT, 'ansible/ansible.cfg') },
    });
    return JSON.parse(await readFile(join(dir, 'role.json'), 'utf8')) as RoleData;
  }

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-pypi-mirror-');
    venv = join(work.dir, 'venv');
    mirror = await buildPypiMirror({ dir: join(work.dir, 'www') });
    served = await serveMirror(mirror.dir);
    const { pytorchIndexUrl, pypiIndexUrl } = mirror.indexUrls(served.hostUrl);
    const spec = mutateManifest(LOCAL_DEV_SPEC_PATH, [
      [['layers', 'frameworks', 'pytorch', 'index_url'], pytorchIndexUrl],
      [['layers', 'frameworks', 'pip', 'index_url'], pypiIndexUrl],
      [['layers', 'frameworks', 'tensorflow'], { version: '2.21.0' }],
    ]);
    await execa('python3', ['-m', 'venv', venv]);
    // The build's wheelhouse for this spec, filled by the host's pip for this host's Python (so a venv here can
    // install it) from what imagebuild reads of the spec, and served as the build serves it.
    pipSet = frameworksPipSet(parseSpec(spec, 'spec.yaml').spec);
    const request = wheelhouseRequestOf(pipSet);
    if ('unsupported' in request) throw new Error(request.unsupported);
    wheelhouse = await fillWheelhouse({ cacheDir: join(work.dir, 'cache'), ...request, target: hostWheelhouseTarget() });
    servedWheelhouse = await serveWheelhouse(wheelhouse);
    role = await resolveRoleData(spec, servedWheelhouse.hostUrl);

    // The role's pip tasks without a wheelhouse, in its order, each with the environment its task sets.
    installs.push(await pip(['install', ...role.requirements], { ...role.pip_env, ...role.pypi_env, PIP_EXTRA_INDEX_URL: role.pytorch_index_url }));
    installs.push(await pip(['install', '--no-deps', role.nccl_requirement], { ...role.pip_env, ...role.pypi_env }));
    servedAfterInstalls = served.served();
    missesAfterInstalls = served.misses();

    // And with one: the role's wheelhouse tasks into a second venv, the mirror counting what they cost it.
    await execa('python3', ['-m', 'venv', wheelhouseVenv()]);
    const lock = (name: string) => `${servedWheelhouse.hostUrl}/${name}`;
    wheelhouseInstalls.push(await pip(['install', ...role.wheelhouse_args, '-r', lock('requirements.lock')], role.wheelhouse_env, wheelhouseVenv()));
    wheelhouseInstalls.push(await pip(['install', ...role.wheelhouse_args, '--no-deps', '-r', lock('no-deps.lock')], role.wheelhouse_env, wheelhouseVenv()));
    mirrorBytesDuringWheelhouseInstalls = served.served().bytes - servedAfterInstalls.bytes;
  }, 120_000);

  afterAll(async () => {
    await servedWheelhouse?.close();
    await served?.stop();
    await work?.cleanup();
  });

  it('takes its requirements and indexes from the rendered spec, as the role does', () => {
    const { pytorchIndexUrl, pypiIndexUrl } = mirror.indexUrls(served.hostUrl);

    expect(role.torch_requirement).toBe('torch==2.13.0+cu130');
    expect(role.extra_requirements).toEqual(['tensorflow==2.21.0', 'vllm==0.29.0']);
    expect(role.requirements).toEqual(['torch==2.13.0+cu130', 'tensorflow==2.21.0', 'vllm==0.29.0']);
    expect(role.nccl_requirement).toBe('nvidia-nccl-cu13==2.31.2');
    expect(role.pytorch_index_url).toBe(pytorchIndexUrl);
    expect(new URL(pytorchIndexUrl).pathname).toBe(new URL('https://download.pytorch.org/whl/cu130').pathname);
    expect(role.pypi_env).toEqual({ PIP_INDEX_URL: pypiIndexUrl });
    // The mirror is plain http, as a site's internal index may be: the role trusts its host, or pip would ignore it.
    expect(role.pip_env).toEqual({ PIP_CONSTRAINT: join(venv, 'imagebuild-constraints.txt'), PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_CACHE_DIR: '1', PIP_TRUSTED_HOST: '127.0.0.1' });
  });

  it("fills the build's wheelhouse from the same requirements and indexes the role installs from", () => {
    expect(pipSet.requirements).toEqual(role.requirements);
    expect(pipSet.noDeps).toEqual([role.nccl_requirement]);
    expect(pipSet.indexUrl).toBe(role.pypi_env.PIP_INDEX_URL);
    expect(pipSet.extraIndexUrls).toEqual([role.pytorch_index_url]);
    expect(role.wheelhouse_args).toEqual(['--no-index', '--find-links', `${servedWheelhouse.hostUrl}/wheels/`, '--require-hashes', '--trusted-host', '127.0.0.1']);
  });

  it('installs from the wheelhouse exactly what it installs from the indexes, fetching nothing from the mirror', async () => {
    for (const install of wheelhouseInstalls) expect(install.exitCode, `${install.command}\n${install.stdout}\n${install.stderr}`).toBe(0);
    const freeze = async (inVenv: string) => (await pip(['freeze', '--all', '--exclude', 'pip', '--exclude', 'setuptools'], {}, inVenv)).stdout.trim().split('\n').sort();

    const fromIndexes = await freeze(venv);
    const fromWheelhouse = await freeze(wheelhouseVenv());

    expect(fromWheelhouse).toEqual(fromIndexes);
    expect(fromWheelhouse).toEqual(expect.arrayContaining(['torch==2.13.0+cu130', 'nvidia-nccl-cu13==2.31.2', 'vllm==0.29.0', 'tensorflow==2.21.0']));
    expect(mirrorBytesDuringWheelhouseInstalls).toBe(0);
    expect(servedWheelhouse.bytesServed()).toBe(wheelhouse.files.reduce((sum, file) => sum + file.bytes, 0));
  });

  it('installs every step of the role from the mirror', () => {
    for (const install of installs) expect(install.exitCode, `${install.command}\n${install.stdout}\n${install.stderr}`).toBe(0);
    // Only project pages pip asks of both indexes may be missing (PyPI's torch page, say); never a file an index links.
    expect(missesAfterInstalls.filter((path) => !path.endsWith('/'))).toEqual([]);
  });

  it('installs torch 2.13.0+cu130, never the CPU build or the newer release beside it', async () => {
    const byPath = servedAfterInstalls.byPath;
    const fetched = mirror.wheels.filter((wheel) => byPath.has(`/${wheel.path}`)).map((wheel) => `${wheel.index}:${wheel.fileName}`);

    const torch = await venvPython('import json, torch; print(json.dumps([torch.__version__, torch.version.cuda]))');

    expect(torch).toEqual(['2.13.0+cu130', '13.0']);
    expect(fetched.sort()).toEqual([
      'pypi:nvidia_nccl_cu13-2.31.2-py3-none-manylinux_2_28_x86_64.whl',
      'pypi:tensorflow-2.21.0-py3-none-any.whl',
      'pypi:vllm-0.29.0-py3-none-any.whl',
      'pytorch:nvidia_nccl_cu13-2.29.7-py3-none-manylinux_2_28_x86_64.whl',
      'pytorch:torch-2.13.0+cu130-py3-none-any.whl',
    ]);
  });

  it('would take the newer torch without the pin, and the CPU build with a +cpu pin: the pin is what chooses', async () => {
    const index = { PIP_INDEX_URL: role.pytorch_index_url };
    async function resolved(requirement: string): Promise<string> {
      const result = await pip(['install', '--dry-run', '--ignore-installed', '--no-deps', '--quiet', '--report', '-', requirement], index);
      expect(result.exitCode, result.stderr).toBe(0);
      return (JSON.parse(result.stdout) as { install: { metadata: { version: string } }[] }).install.map((i) => i.metadata.version).join(' ');
    }

    const unpinned = await resolved('torch');
    const cpu = await resolved('torch==2.13.0+cpu');

    expect(unpinned).toBe('2.14.0+cu130');
    expect(cpu).toBe('2.13.0+cpu');
  });

  it("has the spec's NCCL over torch's pin, loaded by torch, and pip check names only that conflict", async () => {
    const probe = [
      'import importlib.metadata as m, json, sys',
      `sys.path.insert(0, ${JSON.stringify(SUITE_DIR)})`,
      'import torch, test_pytorch_ddp as ddp',
      'print(json.dumps({"wheel": m.version("nvidia-nccl-cu13"), "loaded": ddp.loaded_nccl_version(), "built": list(torch.cuda.nccl.version())}))',
    ].join('\n');

    const nccl = await venvPython(probe);
    const check = await pip(['check'], {});

    expect(nccl).toEqual({ wheel: '2.31.2', loaded: '2.31.2', built: [2, 29, 7] });
    expect(check.exitCode).toBe(1);
    expect(check.stdout.trim().split('\n')).toEqual([
      'torch 2.13.0+cu130 has requirement nvidia-nccl-cu13==2.29.7; platform_system == "Linux", but you have nvidia-nccl-cu13 2.31.2.',
    ]);
  });

  it("reports the frameworks through the guest's gate and facts, GPU checks skipped", async () => {
    const dir = join(work.dir, 'guest');
    await mkdir(dir);
    await writeFile(join(dir, 'checks.json'), JSON.stringify({ layer: 'frameworks', venv, gpu_passthrough: false, matmul_size: 8192, tensorflow: true, vllm: true }));
    const env = pipEnv({});

    await execa('python3', [join(PROJECT_ROOT, 'guest/run_checks.py'), '--params', join(dir, 'checks.json'), '--out', join(dir, 'gate.json')], { env, extendEnv: false });
    await execa('python3', [join(PROJECT_ROOT, 'guest/facts.py'), '--venv', venv, '--out', join(dir, 'facts.json')], { env, extendEnv: false });

    const checks = (JSON.parse(await readFile(join(dir, 'gate.json'), 'utf8')) as { checks: GateCheck[] }).checks;
    const outcome = Object.fromEntries(checks.map((c) => [c.check, c.status === 'measured' ? c.value : c.status]));
    expect(outcome).toEqual({
      pytorch_import: '2.13.0+cu130',
      pytorch_cuda_devices: 'skipped',
      pytorch_matmul_gpus: 'skipped',
      tensorflow_import: '2.21.0',
      tensorflow_gpus: 'skipped',
      vllm_import: '0.29.0',
    });
    expect(checks.filter((c) => c.status === 'skipped').map((c) => c.reason)).toEqual([NO_GPU_REASON, NO_GPU_REASON, NO_GPU_REASON]);
    // Without a GPU a CUDA build still reports its CUDA and cuDNN; get_arch_list() is [] as the real one's is.
    expect(checks.find((c) => c.check === 'pytorch_import')?.detail).toMatchObject({ cuda_build: '13.0', cudnn: 91300, arch_list: [] });
    expect(checks.find((c) => c.check === 'tensorflow_import')?.detail).toEqual({ built_with_cuda: true });
    const facts = JSON.parse(await readFile(join(dir, 'facts.json'), 'utf8'));
    expect(facts.frameworks).toEqual({ pytorch: '2.13.0+cu130', tensorflow: '2.21.0', vllm: '0.29.0', nccl: '2.31.2' });
  });

  it('marks every installed stand-in in its metadata, and its GPU calls fail as without a driver', async () => {
    const probe = [
      'import importlib.metadata as m, json, torch, tensorflow as tf',
      'names = ["torch", "nvidia-nccl-cu13", "vllm", "tensorflow"]',
      'out = {n: [m.metadata(n)["Keywords"], m.metadata(n)["Summary"].split(" for ")[0]] for n in names}',
      'out["tf_gpus"] = tf.config.list_physical_devices("GPU")',
      'out["torch_cuda"] = [torch.cuda.is_available(), torch.cuda.device_count(), torch._C._cuda_getArchFlags().split()[-1]]',
      'try:',
      '    torch.cuda.get_device_name(0)',
      'except RuntimeError as e:',
      '    out["device_name"] = str(e)',
      'print(json.dumps(out))',
    ].join('\n');

    const found = (await venvPython(probe)) as Record<string, unknown>;

    const marker = ['imagebuild-stand-in', 'imagebuild test stand-in'];
    expect(found).toMatchObject({ torch: marker, 'nvidia-nccl-cu13': marker, vllm: marker, tensorflow: marker, tf_gpus: [], torch_cuda: [false, 0, 'sm_120'] });
    expect(found.device_name).toMatch(/^Found no NVIDIA driver on your system/);
  });

  it('is refused by pip when an index page carries a wrong #sha256 fragment', async () => {
    const page = await readFile(join(mirror.dir, 'simple/vllm/index.html'), 'utf8');
    const wrong = page.replace(/#sha256=[0-9a-f]{64}/, `#sha256=${'0'.repeat(64)}`);
    await mkdir(join(mirror.dir, 'tampered/vllm'), { recursive: true });
    await writeFile(join(mirror.dir, 'tampered/vllm/index.html'), wrong);

    const result = await pip(['download', '--no-deps', '--dest', join(work.dir, 'downloads'), 'vllm==0.29.0'], {
      PIP_INDEX_URL: `${served.hostUrl}/tampered`,
      PIP_NO_CACHE_DIR: '1',
    });

    expect(wrong).not.toBe(page);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('THESE PACKAGES DO NOT MATCH THE HASHES');
    expect(result.stderr).toContain(`Expected sha256 ${'0'.repeat(64)}`);
  });
});
