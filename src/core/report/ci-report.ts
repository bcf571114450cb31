import type { GateVerdict } from '../gate/evaluate-gate.js';
import type { ImageManifest } from '../manifest/image-manifest.js';
import { formatBytes, formatDuration } from '../release/transfer-rate.js';

// GitHub Actions' workflow commands and the Markdown step summary of a build, as pure text. The
// escaping follows the runner's rules: data escapes %, CR and LF; properties also : and ,.

export type AnnotationLevel = 'error' | 'warning' | 'notice';

/** Escapes the message part of a workflow command. */
export function escapeWorkflowData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escapes a property value (title=, file=) of a workflow command. */
export function escapeWorkflowProperty(text: string): string {
  return escapeWorkflowData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** `::error title=…,file=…::message` and its siblings. */
export function annotation(level: AnnotationLevel, message: string, properties: { title?: string; file?: string } = {}): string {
  const props = Object.entries(properties)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => `${name}=${escapeWorkflowProperty(value)}`)
    .join(',');
  return `::${level}${props ? ` ${props}` : ''}::${escapeWorkflowData(message)}`;
}

/** Opens a collapsible group in the job log (its title is data: newlines would end the command). */
export function groupStart(title: string): string {
  return `::group::${escapeWorkflowData(title)}`;
}

export const GROUP_END = '::endgroup::';

/** One step of a finished (or failed) build, as the summary shows it. */
export type SummaryStep = {
  readonly step: string;
  readonly status: 'built' | 'reused' | 'skipped' | 'done' | 'failed';
  readonly durationS: number;
  readonly title: string;
  readonly gate?: GateVerdict;
  readonly message?: string;
};

export type BuildSummary = {
  readonly image: string;
  readonly version: string;
  readonly status: 'built' | 'unchanged' | 'failed';
  readonly durationS: number;
  /** The five layers first, in order, then nothing else: the table is about layers. */
  readonly layers: readonly SummaryStep[];
  /** The step that failed, when it was not a layer (preflight, seal, verify…). */
  readonly failedStep?: SummaryStep;
  readonly manifest?: ImageManifest;
  readonly artifact?: string;
  readonly manifestPath?: string;
  readonly published?: string;
  readonly notices: readonly string[];
};

const MAX_MEASURED = 6;

/** The checks a gate measured, `name value (expected)` — skipped checks counted, not listed. */
export function measuredText(gate: GateVerdict | undefined): string {
  if (!gate) return '—';
  const measured = gate.checks.filter((c) => c.status !== 'skipped');
  const shown = measured.slice(0, MAX_MEASURED).map((c) => `${c.status === 'pass' ? '' : `**${c.status}** `}${c.check} ${formatValue(c.measured)} (${c.expected})`);
  if (measured.length > MAX_MEASURED) shown.push(`+${measured.length - MAX_MEASURED} more`);
  if (gate.skipped.length > 0) shown.push(`${gate.skipped.length} skipped`);
  return shown.length > 0 ? shown.join('; ') : 'nothing measured';
}

function formatValue(value: unknown): string {
  if (value === null || value === undefined) return 'none';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (typeof value === 'string') return value.length > 40 ? `${value.slice(0, 37)}…` : value;
  const json = JSON.stringify(value);
  return json.length > 40 ? `${json.slice(0, 37)}…` : json;
}

/** Markdown table cells: no pipes or newlines inside. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

const STATUS_MARK: Record<SummaryStep['status'], string> = { built: '🔨 built', reused: '♻️ reused', skipped: '⏭️ skipped', done: '✅ done', failed: '❌ failed' };

/** The Markdown a build appends to $GITHUB_STEP_SUMMARY. */
export function formatStepSummary(summary: BuildSummary): string {
  const heading =
    summary.status === 'failed'
      ? `❌ ${summary.image} v${summary.version}: build failed after ${formatDuration(summary.durationS)}`
      : summary.status === 'unchanged'
        ? `✅ ${summary.image} v${summary.version}: already built from identical inputs (no-op, ${summary.durationS.toFixed(1)} s)`
        : `✅ ${summary.image} v${summary.version}: built in ${formatDuration(summary.durationS)}`;
  const lines = [`## ${heading}`, '', '| Layer | Result | Duration | Gate | Measured |', '| --- | --- | --- | --- | --- |'];
  for (const layer of summary.layers) {
    const gate = layer.gate ? `${layer.gate.status === 'passed' ? '✅' : '❌'} ${layer.gate.summary}` : layer.status === 'failed' ? `❌ ${layer.message ?? 'failed'}` : '—';
    lines.push(`| ${cell(layer.step)} | ${STATUS_MARK[layer.status]} | ${layer.status === 'skipped' ? '—' : formatDuration(layer.durationS)} | ${cell(gate)} | ${cell(measuredText(layer.gate))} |`);
  }
  if (summary.failedStep) {
    lines.push('', `**${cell(summary.failedStep.step)} failed** after ${formatDuration(summary.failedStep.durationS)}: ${summary.failedStep.message ?? summary.failedStep.title}`);
  }
  const m = summary.manifest;
  if (m) {
    const frameworks = [m.frameworks.pytorch && `PyTorch ${m.frameworks.pytorch}`, m.frameworks.tensorflow && `TensorFlow ${m.frameworks.tensorflow}`, m.frameworks.vllm && `vLLM ${m.frameworks.vllm}`].filter(Boolean).join(', ');
    lines.push(
      '',
      '| Image | |',
      '| --- | --- |',
      `| Artifact | \`${cell(m.artifact)}\` (${formatBytes(m.size_bytes)}) |`,
      `| SHA-256 | \`${m.checksum_sha256}\` |`,
      `| OS / kernel | ${cell(m.os)} / ${cell(m.kernel)} |`,
      `| NVIDIA driver / CUDA | ${cell(m.nvidia_driver ?? 'not installed')} / ${cell(m.cuda_version ?? 'not installed')} |`,
      `| Frameworks | ${cell(frameworks || 'none')} |`,
      `| GPU-validated | ${m.gpu_validated ? 'yes' : '**no** — GPU checks were skipped (no GPU passed through)'} |`,
      `| Verification boot | ${m.verify ? cell(`${m.verify.status}, in-guest gate ${m.verify.gate.status}`) : 'not run'} |`,
      `| Built with | Packer ${m.packer_version}, Ansible ${m.ansible_version}, ${m.host.accelerator} on ${cell(m.host.hostname)} |`,
    );
  }
  if (summary.artifact || summary.published) {
    lines.push('');
    if (summary.artifact) lines.push(`Artifact: \`${summary.artifact}\``);
    if (summary.manifestPath) lines.push(`Manifest: \`${summary.manifestPath}\``);
    if (summary.published) lines.push(`Published: ${summary.published}`);
  }
  if (summary.notices.length > 0) lines.push('', '<details><summary>Notices</summary>', '', ...summary.notices.map((n) => `- ${cell(n)}`), '', '</details>');
  return `${lines.join('\n')}\n`;
}
