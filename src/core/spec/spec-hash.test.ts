import { describe, expect, it } from 'vitest';
import { DEMO_SPEC_PATH, specFrom } from '../../../test/helpers/spec-builders.js';
import { specHashOf, specIdentity } from './spec-hash.js';

describe('spec identity', () => {
  it('ignores where things are kept and stored, not what the image is', () => {
    const base = specHashOf(specFrom(DEMO_SPEC_PATH));

    expect(specHashOf(specFrom(DEMO_SPEC_PATH, [[['cache', 'dir'], '/srv/cache'], [['output', 'dir'], '/srv/out'], [['artifacts', 'retention'], 9]]))).toBe(base);
    expect(specHashOf(specFrom(DEMO_SPEC_PATH, [[['output', 'compress'], true]]))).not.toBe(base);
    expect(specHashOf(specFrom(DEMO_SPEC_PATH, [[['cache', 'apt_proxy'], 'http://proxy:3142']]))).not.toBe(base);
    expect(specHashOf(specFrom(DEMO_SPEC_PATH, [[['os', 'hostname'], 'other-box']]))).not.toBe(base);
    expect(JSON.stringify(specIdentity(specFrom(DEMO_SPEC_PATH, [[['cache', 'dir'], '/srv/cache']])))).not.toContain('/srv/cache');
  });
});
