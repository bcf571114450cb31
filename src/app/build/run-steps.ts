import { Listr, PRESET_TIMESTAMP } from 'listr2';
import type { BuildEvent, BuildOptions, BuildStep, LayerOutcome } from './options.js';

/** The part of a listr2 task a step uses: its title, its live output line, and skipping. */
export type TaskHandle = { title: string; output: string; skip(message: string): void };

/** One step of the build as the pipeline lists it. */
export type StepTask = {
  readonly step: BuildStep;
  readonly title: string;
  /** The title observers are told at the start, when it depends on what earlier steps did. */
  readonly startTitle?: () => string;
  readonly enabled?: () => boolean;
  readonly run: (task: TaskHandle) => Promise<void>;
};

/**
 * What a failed step throws into listr: its plain renderer appends the message to the ✖ line, and the
 * CLI prints the error once more as its last line; so listr gets a pointer and runSteps rethrows the
 * real error after it.
 */
class StepFailure extends Error {
  constructor(readonly original: unknown) {
    super('see below');
  }
}

/** Runs the steps in order with listr2, telling `onEvent` as each starts, ends (with its layer's outcome, from `outcomeOf`) or fails. */
export async function runSteps(
  steps: readonly StepTask[],
  options: { readonly renderer: BuildOptions['renderer']; readonly onEvent?: (event: BuildEvent) => void; readonly outcomeOf: (step: BuildStep) => LayerOutcome | undefined },
): Promise<void> {
  const { onEvent } = options;
  const tasks = steps.map((step) => ({
    title: step.title,
    enabled: step.enabled,
    task: async (_: unknown, task: TaskHandle) => {
      const started = Date.now();
      const seconds = () => (Date.now() - started) / 1000;
      onEvent?.({ type: 'step-start', step: step.step, title: step.startTitle?.() ?? task.title });
      try {
        await step.run(task);
      } catch (error) {
        onEvent?.({ type: 'step-failed', step: step.step, title: task.title, message: error instanceof Error ? error.message : String(error), durationS: seconds() });
        throw new StepFailure(error);
      }
      const outcome = options.outcomeOf(step.step);
      onEvent?.({ type: 'step-end', step: step.step, title: task.title, durationS: seconds(), ...(outcome ? { outcome } : {}) });
    },
  }));
  const list = new Listr<unknown, 'default' | 'simple' | 'silent', 'simple' | 'silent'>(tasks, {
    renderer: options.renderer,
    fallbackRenderer: options.renderer === 'silent' ? 'silent' : 'simple',
    // A terminal gets the live task list; a pipe or file gets plain timestamped lines.
    rendererOptions: options.renderer === 'simple' ? { timestamp: PRESET_TIMESTAMP } : { collapseSubtasks: false, showErrorMessage: false },
    fallbackRendererOptions: { timestamp: PRESET_TIMESTAMP },
    exitOnError: true,
    registerSignalListeners: false,
  });
  await list.run().catch((error: unknown) => {
    throw error instanceof StepFailure ? error.original : error;
  });
}
