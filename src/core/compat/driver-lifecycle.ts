import { compareDottedVersions, majorOf, parseDottedVersion } from './dotted-version.js';
import { COMPAT_TABLE, type CompatTable, type DriverBranchFacts } from './table.js';
import { lookupKey } from './table-queries.js';
import { warningAt, type CompatFinding, type StackContext } from './stack-context.js';

/** Warns about a driver branch past, near or without an end of life on the spec's date. */
export function checkDriverBranchLifecycle({ driver, today, table }: StackContext): CompatFinding[] {
  if (driver === undefined || today === undefined) return [];
  const branch = String(majorOf(driver));
  const facts = lookupKey(table.driverBranches, branch);
  const others = supportedBranches(today, table)
    .filter(({ branch: candidate }) => candidate !== branch)
    .map(({ branch: b, facts: f }) => `R${b} (${describeBranchType(f.type)}, end of life ${formatMonth(f.endOfLife)})`);
  // A table with no other supported branch on that date is out of date, not a reason for an empty list.
  const supported = others.length > 0 ? others.join(', ') : `none other in the compatibility table on ${today} (src/core/compat/table.ts needs an update)`;
  const path = 'layers.driver.nvidia_driver';
  if (facts === undefined) {
    return [warningAt(path, `driver branch R${branch} is not in the lifecycle table, so its support status is unknown; supported branches on ${today}: ${supported}`)];
  }
  const state = branchState(facts, today);
  if (state.status === 'ended') {
    return [warningAt(path, `driver branch R${branch} is past end of life (${state.when}) on ${today} and gets no security fixes; supported branches: ${supported}`)];
  }
  if (facts.type === 'new-feature') {
    return [warningAt(path, `driver branch R${branch} is a New Feature Branch: short-lived, with no end-of-life commitment; for an image prefer a supported branch: ${supported}`)];
  }
  if (state.status === 'ending') {
    return [warningAt(path, `driver branch R${branch} reaches end of life in ${formatMonth(facts.endOfLife)} (${plural(state.days, 'day')} after ${today}); plan the move to one of: ${supported}`)];
  }
  return [];
}

type BranchState = { status: 'supported' } | { status: 'ending'; days: number } | { status: 'ended'; when: string };

// A branch is ended from the first day of its end-of-life month, and "ending" in the 180 days before.
const ENDING_WITHIN_DAYS = 180;

function branchState(facts: DriverBranchFacts, today: string): BranchState {
  if (facts.endedBy !== undefined) return { status: 'ended', when: `listed as ended by NVIDIA in ${formatMonth(facts.endedBy)}` };
  if (facts.endOfLife === undefined) return { status: 'supported' };
  const days = daysBetween(today, `${facts.endOfLife}-01`);
  if (days <= 0) return { status: 'ended', when: `ended ${formatMonth(facts.endOfLife)}` };
  return days <= ENDING_WITHIN_DAYS ? { status: 'ending', days } : { status: 'supported' };
}

export type SupportedBranch = { branch: string; facts: DriverBranchFacts };

/** Long Term Support and Production branches not past end of life on `today` (YYYY-MM-DD), newest first. */
export function supportedBranches(today: string, table: CompatTable = COMPAT_TABLE): SupportedBranch[] {
  return Object.entries(table.driverBranches)
    .filter(([, facts]) => facts.type !== undefined && facts.type !== 'new-feature' && branchState(facts, today).status !== 'ended')
    .map(([branch, facts]) => ({ branch, facts }))
    .sort((a, b) => compareDottedVersions(b.branch, a.branch));
}

/** Describes the lifecycle of a driver version's branch on `today`, e.g. `R580 Long Term Support, end of life June 2028`. */
export function describeDriverBranch(driver: string, today: string, table: CompatTable = COMPAT_TABLE): string {
  if (parseDottedVersion(driver) === undefined) return 'branch unknown';
  const branch = String(majorOf(driver));
  const facts = lookupKey(table.driverBranches, branch);
  return facts === undefined ? `R${branch}, not in the lifecycle table` : `R${branch} ${describeBranchLifecycle(facts, today)}`;
}

/** Describes a branch's lifecycle on `today`, e.g. `Long Term Support, end of life June 2028`. */
export function describeBranchLifecycle(facts: DriverBranchFacts, today: string): string {
  const state = branchState(facts, today);
  const type = facts.type === undefined ? 'branch' : describeBranchType(facts.type);
  if (state.status === 'ended') return `${type}, past end of life: ${state.when}`;
  if (facts.endOfLife === undefined) return `${type}, no end-of-life date`;
  return `${type}, end of life ${formatMonth(facts.endOfLife)}${state.status === 'ending' ? `, in ${plural(state.days, 'day')}` : ''}`;
}

function describeBranchType(type: DriverBranchFacts['type']): string {
  switch (type) {
    case 'long-term-support':
      return 'Long Term Support';
    case 'production':
      return 'Production';
    case 'new-feature':
      return 'New Feature';
    case undefined:
      return 'branch';
  }
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function formatMonth(yearMonth: string | undefined): string {
  if (yearMonth === undefined) return 'none given';
  const [year, month] = yearMonth.split('-');
  return `${MONTHS[Number(month) - 1] ?? month} ${year}`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function daysBetween(from: string, to: string): number {
  return dayNumber(to) - dayNumber(from);
}

// Days since 1970-01-01 of a YYYY-MM-DD date (Howard Hinnant's days_from_civil); the core reads no Date.
function dayNumber(isoDate: string): number {
  const [y = 1970, m = 1, d = 1] = isoDate.split('-').map(Number);
  const year = m <= 2 ? y - 1 : y;
  const era = Math.floor(year / 400);
  const yearOfEra = year - era * 400;
  const dayOfYear = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}
