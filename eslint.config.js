import js from '@eslint/js';
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
