import js from '@eslint/js';
import { importX } from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '**/*.tmp.ts', 'test/fixtures/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Import cycles hide which module owns a fact; src/ has none and keeps it that way.
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver': undefined,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    // Pipelines call adapters for files and processes; they never touch them directly.
    files: ['src/app/**/*.ts'],
    ignores: ['src/app/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['node:fs', 'node:fs/promises', 'fs', 'fs/promises', 'node:child_process', 'child_process', 'execa'].map((name) => ({
            name,
            message: 'src/app orchestrates: file and process work belongs in src/adapters.',
          })),
          patterns: [{ group: ['**/cli/**'], message: 'src/app must not depend on the CLI.' }],
        },
      ],
    },
  },
  {
    // The core is pure: spec -> plan/render/manifest. No fs, processes, network or clock; adapters do that.
    files: ['src/core/**/*.ts'],
    ignores: ['src/core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', '!node:crypto', 'fs', 'fs/*', 'child_process', 'os', 'path', 'net', 'http', 'https'], message: 'src/core is pure: take data as arguments; I/O belongs in src/adapters.' },
            { group: ['execa', 'listr2', 'ssh2', '@aws-sdk/*'], message: 'src/core is pure: side effects belong in src/adapters or src/app.' },
            { group: ['**/adapters/**', '**/app/**', '**/cli/**'], message: 'src/core must not depend on the outer layers.' },
          ],
        },
      ],
      'no-restricted-globals': ['error', { name: 'process', message: 'src/core is pure: pass values in.' }, { name: 'Date', message: 'src/core is pure: take the time as an argument.' }, { name: 'fetch', message: 'src/core is pure.' }],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'src/core is pure: take randomness as an argument.' }],
    },
  },
);
