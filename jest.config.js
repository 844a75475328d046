/**
 * Test tiers (README, "Tests in tiers"). `jest` alone runs every project; `npm run test:<tier>` selects one.
 * unit: pure code and orchestrator histories; no process, no socket (its environment,
 * test/support/unitTierEnvironment.ts, makes both throw), no build, no TLS. The other tiers need the
 * build and the local CA (`npm test` and `npm run test:prepare` make both).
 */
const ts = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] };
const project = (name, roots, extra = {}) => ({
  displayName: name,
  testEnvironment: 'node',
  roots: roots.map((r) => `<rootDir>/${r}`),
  testMatch: ['**/*.test.ts'],
  transform: ts,
  ...extra,
});

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 60000,
  projects: [
    project('unit', ['test/unit'], { testEnvironment: '<rootDir>/test/support/unitTierEnvironment.ts' }),
    project('integration', ['test/integration', 'test/conformance']),
    project('e2e', ['test/e2e']),
    project('chaos', ['test/chaos']),
    project('infra', ['test/infra']),
  ],
};
