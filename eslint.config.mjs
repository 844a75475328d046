// @ts-check
import tseslint from 'typescript-eslint';

const azureSdk = {
  group: ['@azure/*', '!@azure/functions', 'applicationinsights', 'durable-functions/*'],
  message: 'Only shared/adapters/ and local/ may import Azure SDKs (docs/architecture.md dependency rule).',
};

// The dependency rule of docs/architecture.md, written as lint so it is enforced, not hoped for.
export const layers = [
  {
    // domain is pure: no SDK, no I/O, nothing of ours but domain. The one exception is the Key Vault
    // SDK's pure identifier parser, which the design asks us to reuse rather than rewrite.
    files: ['shared/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@azure/keyvault-keys',
              allowImportNames: ['parseKeyVaultKeyIdentifier', 'KeyVaultKeyIdentifier'],
              message: 'shared/domain may only use the pure identifier parser of @azure/keyvault-keys.',
            },
            ...[
              'fs',
              'node:fs',
              'http',
              'node:http',
              'https',
              'node:https',
              'net',
              'node:net',
              'child_process',
              'node:child_process',
            ].map((name) => ({ name, message: 'shared/domain does no I/O.' })),
          ],
          patterns: [
            {
              group: [
                '@azure/*',
                '!@azure/keyvault-keys',
                'applicationinsights',
                'durable-functions',
                'durable-functions/*',
              ],
              message: 'shared/domain imports no SDK.',
            },
            {
              group: [
                '../*',
                '!../domain',
                '!../domain/*',
                '**/ports/**',
                '**/adapters/**',
                '**/workflows/**',
                '**/activities/**',
                '**/rotation/**',
                '**/config',
                '**/composition',
                '**/local/**',
                '**/functions/**',
              ],
              message: 'shared/domain imports nothing of ours but shared/domain.',
            },
          ],
        },
      ],
    },
  },
  {
    // The rotation's pure files (the durable contract, ids, packing, policy, outcomes, incident and audit
    // text): data and rules, like shared/domain, which is all they import besides each other.
    files: ['shared/rotation/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            'fs',
            'node:fs',
            'http',
            'node:http',
            'https',
            'node:https',
            'net',
            'node:net',
            'child_process',
            'node:child_process',
          ].map((name) => ({ name, message: 'shared/rotation/*.ts does no I/O.' })),
          patterns: [
            {
              group: ['@azure/*', 'applicationinsights', 'durable-functions', 'durable-functions/*'],
              message: 'shared/rotation/*.ts imports no SDK.',
            },
            {
              group: [
                '**/ports/**',
                '**/adapters/**',
                '**/workflows/**',
                '**/orchestrators/**',
                '**/activities/**',
                '**/triggers/**',
                '**/config',
                '**/composition',
                '**/local/**',
                '**/functions/**',
              ],
              message: 'shared/rotation/*.ts imports only shared/domain and shared/rotation/*.ts.',
            },
          ],
        },
      ],
    },
  },
  {
    // Orchestrators: the rotation's and the generic durable helpers and health watch of shared/workflows.
    files: ['shared/workflows/**/*.ts', 'shared/rotation/orchestrators/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            azureSdk,
            {
              group: [
                '**/adapters/**',
                '**/activities/**',
                '**/config',
                '**/composition',
                '**/local/**',
                '**/functions/**',
                'fs',
                'node:*',
              ],
              message:
                'Orchestrators import only shared/domain, the pure shared/rotation files and shared/workflows (and durable-functions types): they must stay deterministic.',
            },
          ],
        },
      ],
    },
  },
  {
    files: [
      'shared/ports/**/*.ts',
      'shared/activities/**/*.ts',
      'shared/rotation/activities/**/*.ts',
      'shared/triggers/**/*.ts',
      'shared/durable/**/*.ts',
      'shared/config.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            azureSdk,
            {
              group: ['**/adapters/**', '**/local/**', '**/functions/**'],
              message: 'Depend on ports, not adapters.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['shared/adapters/**/*.ts', 'shared/composition.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/functions/**', '**/local/**'],
              message: 'shared/ never imports functions/ or local/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['functions/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [azureSdk, { group: ['**/local/**'], message: 'functions/ is deployed; local/ is not.' }],
        },
      ],
    },
  },
  {
    // The stand-ins are the oracle the product is tested against: they parse ids and key URIs their own
    // (deliberately simple) way, so a bug in the product's parsers cannot hide in both.
    files: ['local/azure/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/shared/**', '**/functions/**'],
              message:
                'local/azure shares no code with the product it stands in for (use local/azure/ids.ts).',
            },
          ],
        },
      ],
    },
  },
  {
    // `npm start`'s checks (and the run results the tests share) judge the product from outside: the
    // stand-ins' state, the audit trail they received, the output JSON. Not with the product's own parsers
    // or formulas (key URIs, instance ids, output types), which would share a bug with what they check.
    files: ['local/start.ts', 'local/results.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/shared/**', '**/functions/**'],
              message:
                "npm start's checks share no code with the product they check (use local/azure/ids.ts, the stand-ins' state).",
            },
          ],
        },
      ],
    },
  },
  {
    // The CLI talks to the app over HTTP only: no SDK, no adapters, nothing of the app's insides.
    files: ['cli/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@azure/*', 'applicationinsights', 'durable-functions', 'durable-functions/*'],
              message: 'The CLI talks HTTP only.',
            },
            {
              // One exception: the pure "did you mean" rule (no I/O, nothing of the API's contract), so an
              // operator's typo gets the same suggestion from the CLI as from the operator API.
              regex: '(^|/)((functions|local)(/|$)|shared(/(?!domain/suggest$)|$))',
              message:
                'The CLI talks HTTP only: it shares no code with the app (not deployed with it, not loaded by it) but shared/domain/suggest.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/unit/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/functions/**'], message: 'Nothing imports functions/.' }] },
      ],
    },
  },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.local/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      'no-console': 'off',
    },
  },
  {
    // jest's asymmetric matchers (expect.any, expect.objectContaining) are typed `any`.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  ...layers,
);
