// `npm run test:esdb`: the real-server tier — the store contract and the CLI's flow against ESDB_CONNECTION_STRING.
// Its own config: the other tiers exclude these files, and ava only runs files its config selects.
const base = require('./ava.base.cjs');

module.exports = {
  ...base,
  files: ['test/esdb-real.int.ts', 'test/esdb-real-cli.e2e.ts'],
  timeout: '180s',
};
