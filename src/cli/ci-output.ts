import { appendFileSync } from 'node:fs';
import type { BuildEvent, BuildReport } from '../app/build/options.js';
import { annotation, formatStepSummary, GROUP_END, groupStart, type BuildSummary, type SummaryStep } from '../core/report/ci-report.js';
import { LAYER_NAMES, type LayerName } from '../core/spec/layers.js';
import type { Output } from './output.js';

export type BuildObserver = {
  readonly onEvent: (event: BuildEvent) => void;
  /** After the build (and publish) succeeded: annotations for the notices, and the step summary. */
  succeeded(report: BuildReport, published?: string): void;
  /** After it failed, whatever step it was in. */
  failed(error: unknown): void;
};

/**
 * GitHub Actions output for `build`: a log group per step (each layer its own), `::error::` for a
 * failed step or gate, `::warning::` for compatibility warnings and GPU checks that were skipped, and
 * a Markdown table appended to $GITHUB_STEP_SUMMARY. Workflow commands go to stdout, as the runner
 * reads them there.
 */
export function createGithubObserver(output: Output, input: { version: string }, env: NodeJS.ProcessEnv = process.env): BuildObserver {
  const started = Date.now();
  const layers = new Map<LayerName, SummaryStep>();
  let failedStep: SummaryStep | undefined;
  let open = false;
  let announced = false;
  let image = 'image';
  const close = () => {
    if (open) output.out(GROUP_END);
    open = false;
  };
  const isLayer = (step: string): step is LayerName => (LAYER_NAMES as readonly string[]).includes(step);

  const writeSummary = (summary: BuildSummary) => {
    const file = env.GITHUB_STEP_SUMMARY;
    if (!file) return;
    try {
      appendFileSync(file, formatStepSummary(summary));
    } catch (error) {
      output.out(annotation('warning', `could not append the build summary to $GITHUB_STEP_SUMMARY: ${(error as Error).message}`));
    }
  };
  const orderedLayers = () => LAYER_NAMES.flatMap((l) => (layers.has(l) ? [layers.get(l)!] : []));

  return {
    onEvent(event) {
      switch (event.type) {
        case 'start':
          image = event.image;
          return;
        case 'warning':
          output.out(annotation('warning', event.message, { title: 'imagebuild: compatibility', ...(event.file ? { file: event.file } : {}) }));
          return;
        case 'step-start':
          close();
          output.out(groupStart(event.title));
          open = true;
          return;
        case 'step-end':
          output.out(event.title);
          close();
          if (event.outcome) {
            layers.set(event.outcome.layer, {
              step: event.outcome.layer,
              status: event.outcome.action,
              durationS: event.outcome.durationS,
              title: event.title,
              ...(event.outcome.gate ? { gate: event.outcome.gate } : {}),
            });
          }
          return;
        case 'step-failed': {
          close();
          const step: SummaryStep = { step: event.step, status: 'failed', durationS: event.durationS, title: event.title, message: event.message };
          if (isLayer(event.step)) layers.set(event.step, step);
          else failedStep = step;
          output.out(annotation('error', event.message, { title: isLayer(event.step) ? `imagebuild: layer ${event.step} failed` : `imagebuild: ${event.step} failed` }));
          announced = true;
          return;
        }
      }
    },
    succeeded(report, published) {
      close();
      for (const notice of report.notices) {
        output.out(annotation(/GPU checks skipped|not GPU-validated|failed|unavailable|not used/.test(notice) ? 'warning' : 'notice', notice, { title: 'imagebuild' }));
      }
      const { manifest } = report;
      if (report.status === 'unchanged') {
        for (const layer of report.layers) layers.set(layer.layer, { step: layer.layer, status: layer.action, durationS: 0, title: layer.layer });
      }
      writeSummary({
        image,
        version: report.version,
        status: report.status,
        durationS: report.durationS,
        layers: orderedLayers(),
        manifest,
        artifact: report.artifact,
        manifestPath: report.manifestPath,
        ...(published ? { published } : {}),
        notices: report.notices,
      });
    },
    failed(error) {
      close();
      const message = error instanceof Error ? error.message : String(error);
      // A failure before any step (bad input, a refused version) still gets its annotation.
      if (!announced) output.out(annotation('error', message, { title: 'imagebuild: build failed' }));
      writeSummary({
        image,
        version: input.version,
        status: 'failed',
        durationS: (Date.now() - started) / 1000,
        layers: orderedLayers(),
        ...(failedStep ? { failedStep } : !announced ? { failedStep: { step: 'build', status: 'failed', durationS: (Date.now() - started) / 1000, title: 'build', message } } : {}),
        notices: [],
      });
    },
  };
}
