import { describe, expect, it } from 'vitest';
import { selectReleasesToPrune } from './retention.js';

describe('selectReleasesToPrune', () => {
  it('keeps the newest N by semver (not by name) and removes the rest', () => {
    const plan = selectReleasesToPrune(['1.9.0', '1.10.0', '1.2.0', '2.0.0', '1.0.0'], '2.0.0', 3);

    expect(plan.keep.map((k) => k.version)).toEqual(['2.0.0', '1.10.0', '1.9.0']);
    expect(plan.remove.map((k) => k.version)).toEqual(['1.2.0', '1.0.0']);
  });

  it('never removes the current release, even when it is the oldest', () => {
    const plan = selectReleasesToPrune(['1.0.0', '1.0.1', '1.1.0', '1.2.0'], '1.0.0', 2);

    expect(plan.keep.map((k) => k.version)).toEqual(['1.2.0', '1.1.0', '1.0.0']);
    expect(plan.keep.at(-1)?.why).toBe('current (never pruned)');
    expect(plan.remove.map((k) => k.version)).toEqual(['1.0.1']);
  });

  it('refuses to keep fewer than one', () => {
    expect(() => selectReleasesToPrune(['1.0.0'], null, 0)).toThrow(RangeError);
  });
});
