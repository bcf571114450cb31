import type { LayerName } from '../spec/layers.js';
import type { ImageSpec } from '../spec/schema.js';
import type { GateCheckResult } from './gate-verdict.js';
import type { AnsibleRunReport } from './gate-report.js';
import { oneLine } from '../../errors/index.js';

const MAX_NAMED_TASKS = 5;

/** The Ansible reports of a layer's build: its run and, where the layer's gate asks, the idempotence run. */
export type GateAnsibleReports = { readonly run?: AnsibleRunReport; readonly idempotence?: AnsibleRunReport };

/** Judges a layer's Ansible run (no failed task) and, where the spec asks, its idempotence run (nothing changed). */
export function ansibleChecks(layer: LayerName, spec: ImageSpec, ansible: GateAnsibleReports | undefined): GateCheckResult[] {
  const checks: GateCheckResult[] = [];
  const run = ansible?.run;
  // The run report is optional: without it, packer's own exit status already said whether Ansible failed.
  if (run !== undefined) {
    const failures = sumHosts(run, 'failures') + sumHosts(run, 'unreachable');
    checks.push({
      check: 'ansible_run',
      status: failures === 0 ? 'pass' : 'fail',
      measured: failures,
      expected: '== 0 failed tasks',
      ...(failures === 0 ? {} : { reason: `${playbookOf(run)} failed: ${nameTasks(run.failed_tasks)}` }),
      gpu: false,
    });
  }
  if (spec.layers[layer].gate.idempotence) {
    const second = ansible?.idempotence;
    if (second === undefined) {
      checks.push({ check: 'ansible_idempotent', status: 'error', measured: null, expected: '== 0 changed', reason: 'not reported: no idempotence run report', gpu: false });
    } else {
      const changed = sumHosts(second, 'changed');
      const failures = sumHosts(second, 'failures') + sumHosts(second, 'unreachable');
      const reasons = [
        ...(changed > 0 ? [`the second run changed ${changed} task${changed === 1 ? '' : 's'}: ${nameTasks(second.changed_tasks)}`] : []),
        ...(failures > 0 ? [`the second run failed: ${nameTasks(second.failed_tasks)}`] : []),
      ];
      checks.push({
        check: 'ansible_idempotent',
        status: reasons.length === 0 ? 'pass' : 'fail',
        measured: changed,
        expected: '== 0 changed',
        ...(reasons.length === 0 ? {} : { reason: reasons.join('; ') }),
        gpu: false,
      });
    }
  }
  return checks;
}

function sumHosts(report: AnsibleRunReport, field: 'changed' | 'failures' | 'unreachable'): number {
  return Object.values(report.hosts).reduce((sum, host) => sum + host[field], 0);
}

function playbookOf(report: AnsibleRunReport): string {
  return report.playbook ?? 'the playbook';
}

function nameTasks(tasks: readonly { host: string; task: string; message?: string }[]): string {
  if (tasks.length === 0) return 'no task named in the report';
  const named = tasks.slice(0, MAX_NAMED_TASKS).map((t) => `${t.host}: ${oneLine(t.task)}${t.message ? ` (${oneLine(t.message)})` : ''}`);
  const more = tasks.length > MAX_NAMED_TASKS ? `, and ${tasks.length - MAX_NAMED_TASKS} more` : '';
  return `${named.join(', ')}${more}`;
}
