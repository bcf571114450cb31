import { isLayerName, LAYER_NAMES, type LayerName } from '../core/spec/layers.js';
import { parseVersionArgument } from '../core/version/release-version.js';
import { UsageError } from '../errors.js';

// Reading parsed command-line flags, with the one-line usage errors every command gives.

/** A value the user typed, quoted for an error line: control characters escaped, so it stays one line. */
export function quoteInput(value: string): string {
  return JSON.stringify(value);
}

/** A string flag's value; undefined when absent (or given as a boolean). */
export function stringFlag(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A flag that takes one of a few words. */
export function oneOf<T extends string>(value: string | boolean | undefined, flag: string, valid: readonly T[]): T | undefined {
  const text = stringFlag(value);
  if (text === undefined) return undefined;
  if (!(valid as readonly string[]).includes(text)) throw new UsageError(`${flag} ${quoteInput(text)} is not valid; valid: ${valid.join(', ')}`);
  return valid.find((v) => v === text);
}

/** A release version argument (`v1.1.0` or `1.1.0`) in its canonical form; anything else is a usage error. */
export function versionArg(raw: string): string {
  const parsed = parseVersionArgument(raw);
  if (!parsed.ok) throw new UsageError(parsed.message);
  return parsed.version;
}

/** A flag naming a layer. */
export function layerFlag(value: string | boolean | undefined, flag: string): LayerName | undefined {
  const text = stringFlag(value);
  if (text === undefined) return undefined;
  if (!isLayerName(text)) throw new UsageError(`${flag} ${quoteInput(text)} is not a layer; valid: ${LAYER_NAMES.join(', ')}`);
  return text;
}
