'use strict'

// Tests are TypeScript, compiled by swc (types are checked by `npm run test:types`, not here).
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }]
}

function project (name, extra = {}) {
  return {
    displayName: name,
    testEnvironment: 'node',
    transform,
    testMatch: [`<rootDir>/test/${name}/**/*.test.ts`],
    ...extra
  }
}

module.exports = {
  projects: [
    project('unit'),
    project('contract'),
    project('integration')
  ],
  // Generous: integration tests start clusters on a shared 2-core machine. Speed is measured by
  // `npm run bench`, never asserted here.
  testTimeout: 120000
}
