import { describe, expect, it } from 'vitest';
import { printableText } from './printable-text.js';

describe('printable text', () => {
  it('escapes what could forge a line, move the cursor, recolour or reorder text, and nothing else', () => {
    const forged = 'ci@runner\nerror: \u001b[31mrelease v9 is compromised\u001b[0m\r\u0085\u2028\u202e evil \t ünïcode ✓ \\n';

    const shown = printableText(forged);

    expect(shown).toBe('ci@runner\\nerror: \\u001b[31mrelease v9 is compromised\\u001b[0m\\r\\u0085\\u2028\\u202e evil \\t ünïcode ✓ \\n');
    expect(printableText(shown)).toBe(shown);
    expect(printableText('alice@build-01')).toBe('alice@build-01');
  });
});
