import type { Output } from './output.js';

/** Runs `run` with Ctrl-C/SIGTERM wired to an AbortSignal, telling the user `what` happens on the way out. */
export async function withInterrupt<T>(output: Output, what: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    output.err(`${signal}: ${what}`);
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await run(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
