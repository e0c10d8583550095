/**
 * Store selection by connection string: what is recorded and printed about a
 * store (kind + location, never credentials), including EventStoreDB cluster
 * strings with several gossip seeds; and the config loader accepting them.
 */
import test from 'ava';
import * as E from 'fp-ts/Either';
import { parseConfig } from '../../src/infra/config';
import { describeConnection, openStore } from '../../src/infra/open-store';

const esdb = (location: string) => ({ kind: 'esdb', location });

test('sqlite: the path is the location', (t) => {
  t.deepEqual(describeConnection('sqlite:./.keyledger/ledger.db'), { kind: 'sqlite', location: './.keyledger/ledger.db' });
  t.deepEqual(describeConnection('sqlite::memory:'), { kind: 'sqlite', location: ':memory:' });
});

test('esdb single node: scheme and host:port, without credentials, query or trailing slash', (t) => {
  t.deepEqual(describeConnection('esdb://localhost:2113?tls=false'), esdb('esdb://localhost:2113'));
  t.deepEqual(describeConnection('esdb://admin:changeit@127.0.0.1:2113?tls=false'), esdb('esdb://127.0.0.1:2113'));
  t.deepEqual(describeConnection('esdb://ESDB.Example.COM:2113/?tls=false&keepAliveInterval=-1'), esdb('esdb://esdb.example.com:2113'));
  t.deepEqual(describeConnection('esdb://eventstore_db'), esdb('esdb://eventstore_db'), 'no port: the client defaults to 2113');
  t.deepEqual(describeConnection('esdb://host:80?tls=false'), esdb('esdb://host:80'), 'port 80 is not dropped as an http default');
  t.deepEqual(describeConnection('esdb://host:02113'), esdb('esdb://host:2113'));
});

test('esdb+discover with several hosts (gossip seeds) is described, not refused', (t) => {
  t.deepEqual(describeConnection('esdb+discover://a:1,b:2'), esdb('esdb+discover://a:1,b:2'));
  t.deepEqual(
    describeConnection('esdb+discover://admin:changeit@node1.local:2113,node2.local:2113,node3.local:2113?tls=true&nodePreference=leader'),
    esdb('esdb+discover://node1.local:2113,node2.local:2113,node3.local:2113'),
  );
  t.deepEqual(describeConnection('esdb+discover://cluster.local:2113'), esdb('esdb+discover://cluster.local:2113'));
  t.deepEqual(describeConnection('esdb://a:1,b:2?tls=false'), esdb('esdb://a:1,b:2'), 'esdb:// with several hosts gossips too');
});

test('credentials never reach the location, whatever they contain', (t) => {
  for (const cs of ['esdb://admin:p%40ss@h:1?tls=false', 'esdb://admin:p@ss@h:1?tls=false', 'esdb+discover://u:s3cr3t,x@a:1,b:2']) {
    const d = describeConnection(cs);
    t.truthy(d, cs);
    t.false(JSON.stringify(d).includes('ss'), cs);
    t.false(JSON.stringify(d).includes('s3cr3t'), cs);
  }
});

test('malformed esdb strings are refused (undefined)', (t) => {
  for (const cs of [
    'esdb://',
    'esdb://?tls=false',
    'esdb://admin:changeit@',
    'esdb://host:notaport',
    'esdb://host:0',
    'esdb://host:65536',
    'esdb://host:2113:1',
    'esdb+discover://a:1,',
    'esdb+discover://a:1,,b:2',
    'esdb://host:2113/path',
    'esdb://[::1]:2113',
    'esdb://ho st:2113',
  ])
    t.is(describeConnection(cs), undefined, cs);
  t.is(describeConnection('postgres://h/db'), undefined);
  t.is(describeConnection('ESDB://host:2113'), undefined, 'schemes are lower case, as openStore expects');
});

test('the config loader accepts a cluster connection string and records only its hosts', (t) => {
  const file = '/etc/keyledger/node-1/keyledger.config.json';
  const r = parseConfig(
    file,
    JSON.stringify({
      installationId: '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b',
      machineName: 'RS-NODE-1',
      instanceName: 'MSSQLSERVER',
      serviceIdentity: 'NT SERVICE\\ReportServer',
      store: 'esdb+discover://admin:changeit@node1:2113,node2:2113,node3:2113?tls=false',
      keystore: './keystore.json',
    }),
  );
  t.true(E.isRight(r), JSON.stringify(r));
  if (E.isRight(r)) {
    t.deepEqual(r.right.instance.store, esdb('esdb+discover://node1:2113,node2:2113,node3:2113'));
    t.is(r.right.storeConnection, 'esdb+discover://admin:changeit@node1:2113,node2:2113,node3:2113?tls=false', 'the client still gets the whole string');
  }
});

test('openStore: a cluster string opens lazily (nothing contacted); an unsupported one is refused without echoing it', async (t) => {
  t.timeout(10_000);
  const r = await openStore('esdb+discover://admin:changeit@127.0.0.1:1,127.0.0.1:2?tls=false');
  t.true(E.isRight(r));
  if (E.isRight(r)) {
    t.is(r.right.endpoint, 'esdb+discover://127.0.0.1:1,127.0.0.1:2');
    await r.right.close();
  }
  const bad = await openStore('mysql://root:changeit@db/ledger');
  t.like(bad, { left: { _tag: 'UnsupportedConnectionString', connectionString: '<unrecognised>' } });
  t.false(JSON.stringify(bad).includes('changeit'));
});
