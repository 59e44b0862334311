import tseslint from 'typescript-eslint'

const pureFolders = ['src/core/**', 'src/fairness/**', 'src/bidding/**', 'src/dag/**']

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/results/**', 'eslint.config.js'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname }
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/require-await': 'off'
    }
  },
  {
    // The pure core takes clock and randomness as arguments and does no I/O.
    files: pureFolders,
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['node:*', 'fs', 'net', 'child_process', 'worker_threads'], message: 'The pure core does no I/O.' },
          { group: ['libp2p', '@libp2p/*', '@multiformats/*', 'datastore-*'], message: 'The pure core does not import libp2p.' },
          { group: ['**/gossip/**', '**/store/**', '**/exec/**', '**/node/**', '**/api/**', '**/cli/**'], message: 'The pure core may not import the shell.' }
        ]
      }],
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: 'Pass a clock in.' },
        { name: 'setInterval', message: 'Pass a clock in.' },
        { name: 'process', message: 'The pure core does no I/O.' }
      ],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'Pass a clock in.' },
        { object: 'Math', property: 'random', message: 'Pass a random source in.' }
      ]
    }
  }
)
