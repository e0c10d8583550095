/**
 * parseConfig: a good file resolves against its own folder and fills in the
 * defaults; a bad one gets ONE message naming the field (and never a password).
 */
import * as path from 'node:path';
import test from 'ava';
import * as E from 'fp-ts/Either';
import { parseConfig } from '../../src/infra/config';

const FILE = '/etc/keyledger/node-1/keyledger.config.json';
const DIR = '/etc/keyledger/node-1';
const ID = '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b';

const valid = {
  installationId: ID,
  machineName: 'RS-NODE-1',
  instanceName: 'MSSQLSERVER',
  serviceIdentity: 'NT SERVICE\\ReportServer',
  store: 'sqlite:./.keyledger/ledger.db',
  keystore: './.keyledger/keystore/MSSQLSERVER/instance.keystore.json',
};
const parse = (value: unknown) => parseConfig(FILE, JSON.stringify(value));
const error = (message: string) => E.left({ _tag: 'ConfigError', file: FILE, message });

// ─── Valid files ──────────────────────────────────────────────────────────

test('a minimal config: paths resolved against the config folder, defaults filled in', (t) => {
  t.deepEqual(
    parse(valid),
    E.right({
      file: FILE,
      instance: {
        installationId: ID,
        deploymentId: 'default',
        machineName: 'RS-NODE-1',
        instanceName: 'MSSQLSERVER',
        serviceIdentity: 'NT SERVICE\\ReportServer',
        store: { kind: 'sqlite', location: `${DIR}/.keyledger/ledger.db` },
        keystorePath: `${DIR}/.keyledger/keystore/MSSQLSERVER/instance.keystore.json`,
      },
      storeConnection: `sqlite:${DIR}/.keyledger/ledger.db`,
      stateDir: `${DIR}/.keyledger`,
      keySize: 2048,
      keystoreSecretFile: null,
      ledgerAccess: 'owner',
      esdb: { passwordFile: null, writerRole: 'keyledger-writers', auditorRole: 'keyledger-auditors', allowInsecure: false, retry: {} },
    }),
  );
});

test('a full config: deployment, stateDir and keySize as given, absolute paths kept', (t) => {
  const r = parse({ ...valid, deployment: 'finance', stateDir: '/var/lib/keyledger', keySize: 3072, keystore: '/var/lib/keyledger/ks.json' });
  t.deepEqual(
    E.map((c: { instance: { deploymentId: string; keystorePath: string }; stateDir: string; keySize: number }) => [
      c.instance.deploymentId,
      c.instance.keystorePath,
      c.stateDir,
      c.keySize,
    ])(r),
    E.right(['finance', '/var/lib/keyledger/ks.json', '/var/lib/keyledger', 3072]),
  );
});

test('a relative config file path is resolved against the working directory', (t) => {
  const r = parseConfig('keyledger.config.json', JSON.stringify(valid));
  t.deepEqual(
    E.map((c: { file: string; stateDir: string }) => [c.file, c.stateDir])(r),
    E.right([path.resolve('keyledger.config.json'), path.resolve('.keyledger')]),
  );
});

test('an esdb store with credentials: recorded without them, kept only in the connection string', (t) => {
  const r = parse({ ...valid, store: 'esdb://admin:changeit@esdb.internal:2113?tls=false' });
  if (E.isLeft(r)) return t.fail(r.left.message);
  t.deepEqual(r.right.instance.store, { kind: 'esdb', location: 'esdb://esdb.internal:2113' });
  t.false(JSON.stringify(r.right.instance).includes('changeit'));
  t.is(r.right.storeConnection, 'esdb://admin:changeit@esdb.internal:2113?tls=false');
});

test('sqlite :memory: is kept as is', (t) => {
  const r = parse({ ...valid, store: 'sqlite::memory:' });
  t.deepEqual(E.map((c: { storeConnection: string }) => c.storeConnection)(r), E.right('sqlite::memory:'));
});

// ─── One message per bad file, naming the field ───────────────────────────

test('installationId that is not a GUID', (t) => {
  t.deepEqual(
    parse({ ...valid, installationId: 'RS-NODE-1' }),
    error('field "installationId" is "RS-NODE-1", which is not valid: expected a GUID such as 6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b'),
  );
});

test('missing machineName', (t) => {
  const { machineName: _m, ...rest } = valid;
  t.deepEqual(parse(rest), error('field "machineName" is missing: expected a non-empty string'));
});

test('blank instanceName', (t) => {
  t.deepEqual(parse({ ...valid, instanceName: '   ' }), error('field "instanceName" is empty: give 1–128 printable characters'));
});

test('names: over-long, or with a control, bidi or line-separator character, refused with the reason and never echoed', (t) => {
  t.deepEqual(
    parse({ ...valid, instanceName: 'x'.repeat(300) }),
    error('field "instanceName" is 300 characters long (at most 128): give 1–128 printable characters'),
  );
  t.deepEqual(
    parse({ ...valid, machineName: 'RS\u001b[31m' }),
    error('field "machineName" has a control or formatting character (U+001B) at position 3: give 1–128 printable characters'),
  );
  t.deepEqual(
    parse({ ...valid, serviceIdentity: 'svc\u202e' }),
    error('field "serviceIdentity" has a control or formatting character (U+202E) at position 4: give 1–128 printable characters'),
  );
  // A 10 MB name: the message stays one short line.
  const huge = parse({ ...valid, instanceName: 'y'.repeat(10_000_000) });
  t.true(huge._tag === 'Left' && huge.left.message.length < 200);
});

test('bad deployment name', (t) => {
  t.deepEqual(
    parse({ ...valid, deployment: 'my deployment' }),
    error('field "deployment" is "my deployment", which is not valid: expected letters, digits, ".", "_" or "-", starting with a letter or digit'),
  );
});

test('keySize 1024 names the sizes that are allowed', (t) => {
  t.deepEqual(parse({ ...valid, keySize: 1024 }), error('field "keySize" is 1024, which is not valid: expected 2048, 3072 or 4096'));
});

test('unknown field "instalationId" suggests "installationId"', (t) => {
  const { installationId, ...rest } = valid;
  t.deepEqual(parse({ ...rest, instalationId: installationId }), error('unknown field "instalationId" (did you mean "installationId"?)'));
});

test('unknown field differing only in case suggests the right spelling', (t) => {
  const { keystore, ...rest } = valid;
  t.deepEqual(parse({ ...rest, KeyStore: keystore }), error('unknown field "KeyStore" (did you mean "keystore"?)'));
});

test('keystoreSecretFile resolves against the config folder; ledgerAccess "group" is kept', (t) => {
  const r = parse({ ...valid, keystoreSecretFile: '../secrets/node-1.secret', ledgerAccess: 'group' });
  t.deepEqual(
    E.map((c: { keystoreSecretFile: string | null; ledgerAccess: string }) => [c.keystoreSecretFile, c.ledgerAccess])(r),
    E.right(['/etc/keyledger/secrets/node-1.secret', 'group']),
  );
  t.deepEqual(
    E.map((c: { keystoreSecretFile: string | null }) => c.keystoreSecretFile)(parse({ ...valid, keystoreSecretFile: '/run/keyledger/machine.secret' })),
    E.right('/run/keyledger/machine.secret'),
  );
});

test('ledgerAccess other than "owner" or "group" names both', (t) => {
  t.deepEqual(
    parse({ ...valid, ledgerAccess: 'world' }),
    error('field "ledgerAccess" is "world", which is not valid: expected "owner" (the ledger 0600, the default) or "group" (0660, shared by one OS group)'),
  );
});

test('misspelt new fields get a "did you mean"', (t) => {
  t.deepEqual(parse({ ...valid, ledgerAcess: 'group' }), error('unknown field "ledgerAcess" (did you mean "ledgerAccess"?)'));
  t.deepEqual(parse({ ...valid, keystoreSecretfile: 'x' }), error('unknown field "keystoreSecretfile" (did you mean "keystoreSecretFile"?)'));
});

test('unknown field with nothing close gets no suggestion', (t) => {
  t.deepEqual(parse({ ...valid, colour: 'blue' }), error('unknown field "colour"'));
});

test('invalid JSON', (t) => {
  const r = parseConfig(FILE, '{ "installationId": ');
  if (E.isRight(r)) return t.fail('parsed invalid JSON');
  t.deepEqual({ ...r.left, message: '' }, { _tag: 'ConfigError', file: FILE, message: '' });
  t.regex(r.left.message, /^not valid JSON \(.+\)$/);
  t.false(r.left.message.includes('\n'));
});

test('not an object', (t) => {
  t.deepEqual(parseConfig(FILE, '[]'), error('expected a JSON object'));
  t.deepEqual(parseConfig(FILE, '"sqlite:x"'), error('expected a JSON object'));
  t.deepEqual(parseConfig(FILE, 'null'), error('expected a JSON object'));
});

test('unsupported store "mysql://…"', (t) => {
  t.deepEqual(
    parse({ ...valid, store: 'mysql://db.internal/keyledger' }),
    error('field "store" is not a usable connection string: expected sqlite:PATH, esdb://host:2113 or esdb+discover://host:2113'),
  );
});

test('an unsupported store with credentials does not print the password', (t) => {
  t.deepEqual(
    parse({ ...valid, store: 'mysql://admin:changeit@db.internal/keyledger' }),
    error('field "store" is not a usable connection string: expected sqlite:PATH, esdb://host:2113 or esdb+discover://host:2113'),
  );
});

test('an invalid esdb store with credentials (bad port) does not print the password', (t) => {
  const r = parse({ ...valid, store: 'esdb://admin:changeit@host:99999' });
  t.deepEqual(r, error('field "store" is not a usable connection string: a port is not a number from 1 to 65535'));
});

test('every bad input gives exactly one line', (t) => {
  const bad: ReadonlyArray<unknown> = [{ ...valid, installationId: 'x', machineName: '', keySize: 1 }, { ...valid, store: 42 }, { installationId: ID }, {}];
  for (const value of bad) {
    const r = parse(value);
    if (E.isRight(r)) {
      t.fail(`accepted ${JSON.stringify(value)}`);
      continue;
    }
    t.false(r.left.message.includes('\n'), r.left.message);
    t.regex(r.left.message, /^field "[a-zA-Z]+" /);
  }
});
