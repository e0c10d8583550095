/**
 * A double in a process of its own, for trying `npm run test:esdb` (the real-server path) without a server:
 *
 *   node dist/test/support/esdb-double-serve.js [--tls]     → prints its connection string, serves until killed
 *
 * It proves only that the path runs; the double is not a server (see ./esdb-double/index.ts).
 */
import { startEsdbDouble } from './esdb-double';

const tls = process.argv.includes('--tls');
void startEsdbDouble({ batchAppend: true, tls, systemProjections: true }).then((d) => {
  process.stdout.write(`${tls ? d.connectionStringAs('admin') : d.connectionString}\n`);
});
