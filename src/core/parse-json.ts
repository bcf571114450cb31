/** JSON.parse that answers undefined for text that is not JSON (a truncated or damaged file), so callers decide what that means. */
export function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
