/** Two projects: pure unit tests next to the code, and e2e tests that boot the whole app. */
const common = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  moduleNameMapper: {
    '^@mizuchi/s3-protocol$': '<rootDir>/libs/s3-protocol/index.ts',
    '^@mizuchi/s3-protocol/(.*)$': '<rootDir>/libs/s3-protocol/src/$1',
    '^@mizuchi/upload-id$': '<rootDir>/libs/upload-id/index.ts',
    '^@mizuchi/sigv4$': '<rootDir>/libs/sigv4/index.ts',
    '^@mizuchi/rate-limit$': '<rootDir>/libs/rate-limit/index.ts',
  },
  transform: { '^.+\\.ts$': 'ts-jest' },
};

module.exports = {
  // e2e cases move tens of MiB through real servers; no test asserts on time.
  testTimeout: 120000,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/libs/**/*.spec.ts',
        '<rootDir>/src/**/*.spec.ts',
        '<rootDir>/native-splice/test/**/*.spec.ts',
      ],
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
    },
  ],
};
