/** met/not met for a row with a goal; `info` for context rows; `skipped` when the baseline tool is missing. */
export type RowStatus = { readonly kind: 'met' } | { readonly kind: 'not-met' } | { readonly kind: 'info' } | { readonly kind: 'skipped'; readonly reason: string };

/** One line of the results table. */
export type FigureRow = {
  readonly figure: string;
  readonly measured: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly goal: string;
  readonly status: RowStatus;
};

/** What a figure returns: its rows and notes (how it was measured, what was seen) for the report. */
export type FigureResult = { readonly rows: readonly FigureRow[]; readonly notes: readonly string[] };

/** Settings every figure gets from the command line. */
export type BenchSettings = {
  readonly reps: number;
  /** Repetitions of the S3 figure, whose rounds move the artifact four times (about a minute each at 2 GiB). */
  readonly transferReps: number;
  readonly sizeGiB: number;
  /** A fresh directory for this run, removed at the end unless --keep. */
  readonly workDir: string;
  /** Kept between runs: the random multi-GiB artifact (generating it costs seconds per GiB). */
  readonly cacheDir: string;
};

/** A named, separately runnable figure. */
export type Figure = {
  readonly name: string;
  readonly title: string;
  run(settings: BenchSettings): Promise<FigureResult>;
};

/** The status of a row with a goal. */
export function goalStatus(met: boolean): RowStatus {
  return met ? { kind: 'met' } : { kind: 'not-met' };
}

/** A row that could not be measured, with the reason in its status: never a made-up number. */
export function skippedRow(figure: string, goal: string, reason: string): FigureRow {
  return { figure, measured: '—', baseline: '—', ratio: '—', goal, status: { kind: 'skipped', reason } };
}

/** "1.23×" */
export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}×`;
}
