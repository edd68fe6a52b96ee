// ESLint 9 flat config: typescript-eslint's type-aware recommended rules over src/, test/ and scripts/ (*.ts).
// `npm run lint` runs it; `npm test` runs it before the build and the tests.
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'fixtures/', 'build/', '.bench/', '**/*.js', '**/*.mjs'] },
  {
    files: ['src/**/*.ts', 'test/**/*.ts', 'scripts/**/*.ts'],
    extends: [eslint.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's test()/suite()/it()/describe() return promises the runner itself awaits; every other promise must be handled.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'suite', 'describe'] }] },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      // Arrays of numbers and dims in messages print as `1,3,640,640` on purpose; objects and unknowns must still be converted.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowArray: true, allowNullish: true }],
      // String(x) of hostile pickle/plan/report values is deliberate: a message shows whatever the file held.
      '@typescript-eslint/no-base-to-string': 'off',
      // ONNX protobuf fields are plain numbers (dataType, elemType) compared with onnx-buf's enums: the wire values are the enum values.
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // Some functions are async to match an async interface or to turn a synchronous throw into a rejection.
      '@typescript-eslint/require-await': 'off',
      // The terminal escaper and the pickle reader match control characters on purpose.
      'no-control-regex': 'off',
      // Runs of spaces in test regexes mirror the table and code layout they match; {n} would hide it.
      'no-regex-spaces': 'off',
      // Consecutive case labels with a comment between them are grouped labels, not a fallthrough.
      'no-fallthrough': ['error', { allowEmptyCase: true }],
    },
  },
  {
    // Tests read the CLI's --json output and reports with JSON.parse (any); their assertions are the type check.
    files: ['test/**/*.ts', 'src/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // OpenCV.js ships no types: the worker drives its `cv` module object as `any`.
    files: ['src/runtime/opencv-worker.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
