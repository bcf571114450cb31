import { parseDocument } from 'yaml';
import type { ManifestChanges } from './spec-builders.js';

// The demo box as the core's unit tests write it: four RTX 5090 and today's GPU stack, trimmed to what the
// core reads, with the schema's default gates. Smaller and steadier than manifests/vault-cube-demo-box.yaml.
const DEMO_SPEC_YAML = `
name: vault-cube-demo-box
os:
  distro: ubuntu
  release: "24.04"
  source: { kind: iso, url: "https://releases.example/u.iso", checksum: "sha256:${'a'.repeat(64)}" }
  disk_size_gib: 200
  hostname: vault-cube
users:
  - name: vaultadmin
    ssh_authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5xIzS2sxbaXaj99WyngVs5C0FroKgeI9aXsY+y8Xpi ops@x"]
hardware:
  gpu: { model: rtx-5090, count: 4 }
layers:
  base: { docker: { version: "5:28.3.3-1~ubuntu.24.04~noble" } }
  driver: { nvidia_driver: "580.173.02", kernel_module: open, cuda: "13.0.2", cudnn: "9.28.1" }
  runtime: { container_toolkit: "1.20.0", gate: { cuda_image: "nvidia/cuda:13.0.2-base-ubuntu24.04" } }
  frameworks:
    python: { venv: /opt/ai/venv }
    pytorch: { version: "2.13.0", cuda_variant: cu130 }
    nccl: { version: "2.31.2" }
    tensorflow: { version: "2.19.0" }
    vllm: { version: "0.29.0" }
  validation: {}
`;

/** The core tests' demo spec as YAML text, with values set at YAML paths. */
export function demoSpecYaml(changes: ManifestChanges = []): string {
  const doc = parseDocument(DEMO_SPEC_YAML);
  for (const [at, value] of changes) doc.setIn(at, value);
  return doc.toString();
}
