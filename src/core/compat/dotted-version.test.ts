import { describe, expect, it } from 'vitest';

import { compareDottedVersions, majorMinor, majorOf, parseDottedVersion } from './dotted-version.js';

describe('compareDottedVersions', () => {
  it.each([
    { a: '570.133.20', b: '570.86', expected: 1 },
    { a: '570.86', b: '570.133.20', expected: -1 },
    { a: '550.54.14', b: '550.127.05', expected: -1 },
    { a: '570', b: '570.0.0', expected: 0 },
    { a: '570', b: '570.26', expected: -1 },
    { a: '12.8.1', b: '12.8', expected: 1 },
    { a: '12.10', b: '12.9', expected: 1 },
    { a: '3.12', b: '3.9', expected: 1 },
    { a: '0.10.1.1', b: '0.10.1', expected: 1 },
    { a: '0.10.1.1', b: '0.10.2', expected: -1 },
    { a: '2.7.1', b: '2.10.0', expected: -1 },
    { a: '520.61.05', b: '520.61.5', expected: 0 },
  ])('compares $a with $b as $expected', ({ a, b, expected }) => {
    const result = compareDottedVersions(a, b);

    expect(result).toBe(expected);
  });

  it.each(['', 'abc', '12.8.1+cu128', '1..2'])('throws a RangeError for %j', (garbage) => {
    const compare = () => compareDottedVersions(garbage, '1.0');

    expect(compare).toThrow(RangeError);
  });
});

describe('parseDottedVersion', () => {
  it.each([
    { input: '570.86.05', expected: [570, 86, 5] },
    { input: '570', expected: [570] },
    { input: '0.10.1.1', expected: [0, 10, 1, 1] },
    { input: '3.12', expected: [3, 12] },
  ])('parses $input', ({ input, expected }) => {
    const parts = parseDottedVersion(input);

    expect(parts).toEqual(expected);
  });

  it.each(['', 'abc', '1..2', '1.2.', '.1', '12.8.1+cu128', 'v1.2', ' 1.2', '1.2 ', '1.-2', '1e3', '2.7.1rc1'])(
    'rejects %j',
    (garbage) => {
      const parts = parseDottedVersion(garbage);

      expect(parts).toBeUndefined();
    },
  );
});

describe('majorMinor', () => {
  it.each([
    { input: '12.8.1', expected: '12.8' },
    { input: '3.12', expected: '3.12' },
    { input: '570', expected: '570.0' },
    { input: '2.07.1', expected: '2.7' },
  ])('turns $input into $expected', ({ input, expected }) => {
    const result = majorMinor(input);

    expect(result).toBe(expected);
  });

  it('throws a RangeError for garbage', () => {
    const call = () => majorMinor('twelve');

    expect(call).toThrow(RangeError);
  });
});

describe('majorOf', () => {
  it.each([
    { input: '12.8.1', expected: 12 },
    { input: '9', expected: 9 },
  ])('takes $expected from $input', ({ input, expected }) => {
    const result = majorOf(input);

    expect(result).toBe(expected);
  });
});
