import type { z } from 'zod';
import { oneLine } from '../../errors/index.js';

// How a rule turns one measured value into pass, fail or error; a value of the wrong kind is an error, never a pass.

export type Json = z.infer<ReturnType<typeof z.json>>;
export type Judgement = { status: 'pass' | 'fail' | 'error'; reason?: string };
export type GateRule = {
  readonly check: string;
  readonly gpu: boolean;
  readonly expected: string;
  readonly judge: (value: Json, detail: Readonly<Record<string, unknown>> | undefined) => Judgement;
};

/** A rule with no threshold: the value is recorded in the verdict, and must be a number. */
export function recorded(check: string, gpu = false): GateRule {
  // No threshold in the spec: the value is kept in the verdict for the record, but must be a number.
  return { check, gpu, expected: 'recorded', judge: (value) => withNumber(value, () => passed()) };
}

/** A rule that passes when the guest imported a module and reported its version. */
export function imported(check: string): GateRule {
  return {
    check,
    gpu: false,
    expected: 'importable',
    judge: (value) => withString(value, (version) => (version.trim() === '' ? failed('import reported no version') : passed())),
  };
}

/** Judges a number against a minimum. */
export function atLeast(min: number): GateRule['judge'] {
  return (value) => withNumber(value, (n) => (n >= min ? passed() : failed()));
}

/** Judges a number against a maximum. */
export function atMost(max: number): GateRule['judge'] {
  return (value) => withNumber(value, (n) => (n <= max ? passed() : failed()));
}

/** Judges a whole number against an exact count. */
export function equalsCount(expected: number): GateRule['judge'] {
  return (value) =>
    withNumber(value, (n) => (Number.isInteger(n) ? (n === expected ? passed() : failed()) : errored(`measured value ${n} is not a count`)));
}

/** Judges a measured number; anything else is an error. */
export function withNumber(value: Json, judge: (n: number) => Judgement): Judgement {
  return typeof value === 'number' && Number.isFinite(value) ? judge(value) : errored(`measured value ${formatMeasured(value)} is not a number`);
}

/** Judges a measured string; anything else is an error. */
export function withString(value: Json, judge: (s: string) => Judgement): Judgement {
  return typeof value === 'string' ? judge(value) : errored(`measured value ${formatMeasured(value)} is not a string`);
}

/** Judges a measured true or false; anything else is an error. */
export function withBoolean(value: Json, judge: (b: boolean) => Judgement): Judgement {
  return typeof value === 'boolean' ? judge(value) : errored(`measured value ${formatMeasured(value)} is not true or false`);
}

/** Judges a measured list of strings; anything else is an error. */
export function withStringList(value: Json, judge: (list: string[]) => Judgement): Judgement {
  return Array.isArray(value) && value.every((v) => typeof v === 'string')
    ? judge(stringList(value))
    : errored(`measured value ${formatMeasured(value)} is not a list of strings`);
}

/** The strings of a detail value that should be a list of them. */
export function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** A passing judgement. */
export function passed(): Judgement {
  return { status: 'pass' };
}

/** A failing judgement, with what failed where the threshold alone does not say. */
export function failed(reason?: string): Judgement {
  return reason === undefined ? { status: 'fail' } : { status: 'fail', reason };
}

/** A judgement that could not be made, and why. */
export function errored(reason: string): Judgement {
  return { status: 'error', reason };
}

/** A measured value for a one-line message, cut at 200 characters. */
export function formatMeasured(value: Json): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const line = oneLine(text);
  return line.length <= 200 ? line : `${line.slice(0, 197)}...`;
}
