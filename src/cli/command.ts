import type { FlagValues } from '../app/build/options.js';
import type { Output } from './output.js';

/** A parsed command line handed to a command. */
export type Invocation = {
  readonly positionals: readonly string[];
  readonly flags: FlagValues;
  readonly cwd: string;
  readonly output: Output;
};

export type FlagSpec = {
  readonly type: 'string' | 'boolean';
  readonly value?: string;
  readonly help: string;
  /** A string option that may repeat: its values are joined with commas, as one comma list. Others refuse a repeat. */
  readonly list?: boolean;
};

export type Command = {
  readonly name: string;
  readonly usage: string;
  /** How many arguments the usage line takes. */
  readonly positionals: { readonly min: number; readonly max: number };
  readonly summary: string;
  readonly description: string;
  readonly flags: Readonly<Record<string, FlagSpec>>;
  run(invocation: Invocation): Promise<number>;
};
