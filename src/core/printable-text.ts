// Text read from outside (a release index, a stored manifest: anyone with write access to the store
// wrote it) is printed on operators' terminals and in CI logs. A control character there could add a
// forged line ("error: …"), move the cursor, recolour or hide text; bidirectional controls reorder it.

// C0 controls, DEL, C1 controls, the Unicode line and paragraph separators and the bidirectional marks,
// embeddings, overrides and isolates.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every character that could forge or hide terminal output escaped as JSON escapes it
 * (`\n`, `\u001b`), the way spec errors quote what a spec says: one line, shown, never obeyed.
 * Idempotent: its output contains none of those characters.
 */
export function printableText(text: string): string {
  return text.replace(UNPRINTABLE, (ch) => {
    const escaped = JSON.stringify(ch).slice(1, -1);
    return escaped === ch ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}` : escaped;
  });
}
