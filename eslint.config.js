// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import vitest from '@vitest/eslint-plugin';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'src/codec/gen/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'hil/**/*.ts'],
    plugins: { vitest },
    rules: {
      // A left-behind .only silently skips the rest of a suite.
      'vitest/no-focused-tests': 'error',
      'vitest/no-identical-title': 'error',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts'],
    rules: {
      // The library OEMs link must not depend on the hub, the simulator or the harness.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/hub/**', '**/firmware-sim/**', '**/hil/**', '**/cli/**'],
              message:
                'src/ must not import hub, firmware-sim, hil or cli (DESIGN.md dependency rules).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['firmware-sim/**/*.ts'],
    rules: {
      // The simulator stands in for a device someone else built: it shares no code with the agent.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/src/**', '**/hub/**', '**/hil/**', '**/cli/**'],
              message: 'firmware-sim/ may import only protocols/ (DESIGN.md dependency rules).',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['hub/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/src/runtime/**',
                '**/src/adapters/**',
                '**/src/tunnel/**',
                '**/src/spool/**',
                '**/firmware-sim/**',
                '**/hil/**',
              ],
              message:
                'hub/ uses the wire contract (protocols/, src/codec) but not the agent runtime.',
            },
          ],
        },
      ],
    },
  },
);
