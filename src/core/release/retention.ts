import semver from 'semver';

/** What retention keeps and removes, each with the reason. */
export type RetentionPlan = {
  readonly keep: readonly { readonly version: string; readonly why: string }[];
  readonly remove: readonly { readonly version: string; readonly why: string }[];
};

/**
 * Keeps the `keep` highest versions (by semver) and the current one, whatever its age; everything
 * else is removed. The current release does not take one of the `keep` slots.
 */
export function selectReleasesToPrune(versions: readonly string[], current: string | null, keep: number): RetentionPlan {
  if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`retention must keep at least 1 release, got ${keep}`);
  const sorted = [...new Set(versions)].sort(semver.rcompare);
  const newest = new Set(sorted.slice(0, keep));
  const plan: { keep: { version: string; why: string }[]; remove: { version: string; why: string }[] } = { keep: [], remove: [] };
  for (const version of sorted) {
    if (version === current) plan.keep.push({ version, why: newest.has(version) ? `current, and among the newest ${keep}` : 'current (never pruned)' });
    else if (newest.has(version)) plan.keep.push({ version, why: `among the newest ${keep}` });
    else plan.remove.push({ version, why: `older than the newest ${keep}${current ? ` and not current (v${current})` : ''}` });
  }
  return plan;
}
