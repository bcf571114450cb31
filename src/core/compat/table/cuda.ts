import type { CompatTable } from './facts.js';

// Carried over from the table's first version (see table.ts).
const TABLE_3 = ['cuda-release-notes-table-3'] as const;

// Minor-version compatibility: a toolkit of the major runs, with a limited feature set, on these drivers. The
// per-minor GA minimums below are stricter and are what validate checks (over-strict but safe).
export const CUDA_MAJORS = {
  '12': { minDriver: '525', sources: ['cuda-minor-version-compatibility'] },
  '13': { minDriver: '580', sources: ['cuda-minor-version-compatibility', 'cuda-13.4-release-notes'] },
} satisfies CompatTable['cudaMajors'];

// CUDA release notes, Table 3: toolkit minor and the minimum Linux x86_64 driver of its GA release.
export const CUDA = {
  '11.0': { minDriver: '450.51.05', sources: TABLE_3 },
  '11.1': { minDriver: '455.23', sources: TABLE_3 },
  '11.2': { minDriver: '460.27.03', sources: TABLE_3 },
  '11.3': { minDriver: '465.19.01', sources: TABLE_3 },
  '11.4': { minDriver: '470.42.01', sources: TABLE_3 },
  '11.5': { minDriver: '495.29.05', sources: TABLE_3 },
  '11.6': { minDriver: '510.39.01', sources: TABLE_3 },
  '11.7': { minDriver: '515.43.04', sources: TABLE_3 },
  '11.8': { minDriver: '520.61.05', sources: TABLE_3 },
  '12.0': { minDriver: '525.60.13', sources: TABLE_3 },
  '12.1': { minDriver: '530.30.02', sources: TABLE_3 },
  '12.2': { minDriver: '535.54.03', sources: TABLE_3 },
  '12.3': { minDriver: '545.23.06', sources: TABLE_3 },
  '12.4': { minDriver: '550.54.14', sources: TABLE_3 },
  '12.5': { minDriver: '555.42.02', sources: TABLE_3 },
  '12.6': { minDriver: '560.28.03', sources: TABLE_3 },
  '12.8': { minDriver: '570.26', sources: ['cuda-release-notes-table-3-copies', 'cudnn-support-matrix-9.17.0'] },
  '12.9': { minDriver: '575.51.03', sources: ['cuda-release-notes-table-3-copies'] },
  '13.0': { minDriver: '580.65.06', sources: ['cuda-redistrib-manifests'] },
  '13.1': { minDriver: '590.44.01', sources: ['cuda-release-notes-table-3-copies'] },
  '13.2': { minDriver: '595.45.04', sources: ['cuda-redistrib-manifests'] },
  '13.3': { minDriver: '610.43.02', sources: ['cuda-redistrib-manifests'] },
  // No driver bundled from 13.4 on: the CUDA 13 minor-version-compatibility minimum (cudaMajors) applies.
  '13.4': { sources: ['cuda-13.4-release-notes', 'cuda-redistrib-manifests'] },
  '13.5': { sources: ['cuda-13.4-release-notes'] },
} satisfies CompatTable['cuda'];

export const CUDNN = {
  firstForCuda: {
    '13': { version: '9.12.0', sources: ['cudnn-redistrib-9.12.0'] },
  },
  newest: { version: '9.28.1', sources: ['cudnn-redistrib-9.28.1'] },
} satisfies CompatTable['cudnn'];
