// Every tier (`npm run test:full`, which CI runs): the fast tier plus test/full/.
const base = require('./ava.base.cjs');

module.exports = {
  ...base,
  files: ['test/**/*.unit.ts', 'test/**/*.int.ts', 'test/**/*.e2e.ts', '!test/esdb-real.int.ts', '!test/esdb-real-cli.e2e.ts'],
};
