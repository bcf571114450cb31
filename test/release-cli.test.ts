import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Output } from '../src/cli/output.js';
import { RELEASE_COMMANDS } from '../src/cli/command-registry.js';
import { parseRate } from '../src/cli/commands/download.js';
import { VERSION_ROLLBACK_FLAGS } from '../src/cli/commands/rollback.js';
import { createProgressRenderer } from '../src/cli/transfer-progress.js';
import { UsageError } from '../src/errors/index.js';
import { PROJECT_ROOT } from './helpers/project-root.js';

function fakeOutput(interactive: boolean): Output & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    color: false,
    interactive,
    out: (line = '') => void lines.push(`out:${line}`),
    err: (line = '') => void lines.push(`err:${line}`),
    json: (value) => void lines.push(`json:${JSON.stringify(value)}`),
    paint: (_style, text) => text,
  };
}

const event = (bytes: number, done = false) => ({ phase: 'download' as const, label: 'box.qcow2', bytes, total: 100 * 1024 * 1024, rate: 10 * 1024 * 1024, etaS: 5, done });

describe('release commands', () => {
  it('redraws one progress line on a terminal', () => {
    const output = fakeOutput(true);
    const render = createProgressRenderer(output);

    render(event(0));
    render(event(50 * 1024 * 1024));
    render(event(100 * 1024 * 1024, true));

    expect(output.lines).toEqual([
      'err:download box.qcow2  0 B / 100.0 MiB  0%  10.0 MiB/s  ETA 5s',
      'err:\u001b[1A\u001b[2Kdownload box.qcow2  50.0 MiB / 100.0 MiB  50%  10.0 MiB/s  ETA 5s',
      'err:\u001b[1A\u001b[2Kdownload box.qcow2  100.0 MiB / 100.0 MiB  100%  10.0 MiB/s  ETA 5s',
    ]);
  });

  it('prints a plain line every few seconds, and the last one, when not on a terminal', () => {
    const output = fakeOutput(false);
    let now = 0;
    const render = createProgressRenderer(output, () => now);

    for (const [t, bytes] of [
      [0, 0],
      [1000, 10],
      [4000, 20],
      [5000, 30],
      [5500, 40],
    ] as const) {
      now = t;
      render(event(bytes * 1024 * 1024));
    }
    render(event(100 * 1024 * 1024, true));

    expect(output.lines.map((l) => l.split('  ')[1])).toEqual(['0 B / 100.0 MiB', '30.0 MiB / 100.0 MiB', '100.0 MiB / 100.0 MiB']);
  });

  it('parses --limit-rate in binary units and refuses nonsense', () => {
    expect(parseRate('50M')).toBe(50 * 1024 * 1024);
    expect(parseRate('500KiB/s')).toBe(500 * 1024);
    expect(parseRate('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(() => parseRate('fast')).toThrow(UsageError);
    expect(() => parseRate('10')).toThrow('at least 1K');
  });

  it('gives every command usage, a summary and a description, and rollback its --to flags', () => {
    expect(RELEASE_COMMANDS.map((c) => c.name)).toEqual(['publish', 'list', 'download', 'diff', 'prune', 'reindex']);
    for (const command of RELEASE_COMMANDS) {
      expect(command.usage).toMatch(new RegExp(`^imagebuild ${command.name}\\b`));
      expect(command.summary.length).toBeGreaterThan(20);
      expect(command.description.length).toBeGreaterThan(100);
      expect(Object.values(command.flags).every((f) => f.help.length > 10)).toBe(true);
    }
    expect(Object.keys(VERSION_ROLLBACK_FLAGS)).toEqual(['to', 'reason']);
  });

  it('loads the AWS SDK only when a store is opened: nothing the CLI imports statically reaches it', () => {
    const reached = staticImports(join(PROJECT_ROOT, 'src/cli/command-registry.ts'));

    expect([...reached].filter((m) => m.startsWith('@aws-sdk/'))).toEqual([]);
    expect(reached.has(join(PROJECT_ROOT, 'src/adapters/store/s3/index.ts'))).toBe(false);
    expect(staticImports(join(PROJECT_ROOT, 'src/adapters/store/s3/index.ts')).has('@aws-sdk/client-s3')).toBe(true);
  });
});

/** Modules reachable from `file` through static value imports (not `import type`, not `import()`). */
function staticImports(file: string, seen = new Set<string>()): Set<string> {
  const source = readFileSync(file, 'utf8');
  for (const match of source.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)';/gm)) {
    const specifier = match[1]!;
    if (!specifier.startsWith('.')) {
      seen.add(specifier);
      continue;
    }
    const target = resolve(dirname(file), specifier.replace(/\.js$/, '.ts'));
    if (seen.has(target)) continue;
    seen.add(target);
    staticImports(target, seen);
  }
  return seen;
}
