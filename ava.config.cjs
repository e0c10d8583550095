// The fast tier (`npm test`): unit, integration and in-process end-to-end tests.
// The heavy tier (multi-process crash and race tests, the CLI binary against the
// EventStoreDB double, scale-out secret scans) is test/full/: `npm run test:full`.
const base = require('./ava.base.cjs');

module.exports = {
  ...base,
  files: ['test/**/*.unit.ts', 'test/**/*.int.ts', 'test/**/*.e2e.ts', '!test/full/**', '!test/esdb-real.int.ts', '!test/esdb-real-cli.e2e.ts'],
};
