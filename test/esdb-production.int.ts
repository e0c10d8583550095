/**
 * Issue 17, production features, against the double over TLS with users and the server's ACL rules:
 * - each ledger stream is created with its rights (`$acl`: the writer role writes, it and the auditor role read,
 *   nobody but `$admins` deletes it or changes its rights; never `$maxAge`, `$maxCount`, `$tb`), and `verify`
 *   warns about a ledger stream whose metadata lets others delete, truncate or re-permission it;
 * - least privilege: an auditor with no right to `$all` still gets an instance's `status` and `diagnose` (its
 *   own streams), while `list` (the global order) says what right it lacks;
 * - TLS by default: `tls=false` only with `--allow-insecure-store`, and a warning;
 * - the connection name the server sees is the instance; the retry settings come from the config.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AccessDeniedError, EventStoreDBClient } from '@eventstore/db-client';
import { deploymentStream, type DeploymentId, instanceStream } from '../src/domain/ids';
import { cliWithEnv } from './support/cli-inproc';
import { doubleCaFile, type EsdbDouble, startEsdbDouble } from './support/esdb-double';
import { tempDir } from './support/fixtures';
import { newNode } from './support/nodes';

const USERS = {
  admin: { password: 'changeit', groups: ['$admins'] },
  writer: { password: 'w-ж-secret', groups: ['keyledger-writers'] },
  auditor: { password: 'a-λ-secret', groups: ['keyledger-auditors'] },
  intruder: { password: 'i-secret', groups: ['staff'] },
};
type User = keyof typeof USERS;

const CA = `tlsCAFile=${encodeURIComponent(doubleCaFile())}`;
/** The user in the string, the password in the environment (as an operator should). */
const as = (d: EsdbDouble, user: User) => ({
  store: `esdb://${user}@localhost:${d.port}?${CA}`,
  run: (...args: string[]) => cliWithEnv({ KEYLEDGER_ESDB_PASSWORD: USERS[user].password }, ...args),
});
const raw = (d: EsdbDouble, user: User): EventStoreDBClient => EventStoreDBClient.connectionString(d.connectionStringAs(user));

const withTlsDouble = (title: string, body: (t: ExecutionContext, d: EsdbDouble) => Promise<void>): void => {
  test(title, async (t) => {
    t.timeout(60_000);
    const d = await startEsdbDouble({ batchAppend: false, tls: true, users: USERS });
    try {
      await body(t, d);
    } finally {
      await d.stop();
    }
  });
};

const EXPECTED_ACL = {
  $acl: {
    $r: ['keyledger-writers', 'keyledger-auditors'],
    $w: ['keyledger-writers'],
    $d: [],
    $mr: ['keyledger-writers', 'keyledger-auditors'],
    $mw: [],
  },
};

withTlsDouble(
  'each ledger stream is created with its ACL; nobody but $admins may delete it or change its rights; verify warns when that is relaxed',
  async (t, d) => {
    const dir = tempDir('kl-esdb-acl');
    const writer = as(d, 'writer');
    const node = await newNode(dir, 'P1', ['--ledger', writer.store]);
    const init = await writer.run('-c', node.file, 'init');
    t.is(init.code, 0, init.stderr);
    // The writer may not read $all (the global order the tree is built from): initialized, the head unsigned, said so.
    t.regex(init.stderr, /^keyledger: warning: initialized, but the ledger's tree head was not signed: .*\$all.* \(keyledger checkpoint signs it later\)$/m);
    const instance = instanceStream(node.id);
    const deployment = deploymentStream('default' as DeploymentId);
    for (const s of [instance, deployment]) t.deepEqual(JSON.parse(d.metadataTextOf(s) ?? 'null'), EXPECTED_ACL, s);

    // The rights hold: the writer may not delete; an intruder may neither delete, nor write, nor change the rights.
    for (const [user, attempt] of [
      ['writer', (c: EventStoreDBClient) => c.deleteStream(instance)],
      ['intruder', (c: EventStoreDBClient) => c.deleteStream(instance)],
      ['intruder', (c: EventStoreDBClient) => c.tombstoneStream(deployment)],
      ['intruder', (c: EventStoreDBClient) => c.setStreamMetadata(instance, { acl: { deleteRoles: ['$all'] } })],
      ['writer', (c: EventStoreDBClient) => c.setStreamMetadata(instance, { maxCount: 1 })],
    ] as const) {
      const c = raw(d, user);
      await t.throwsAsync(attempt(c), { instanceOf: AccessDeniedError }, `${user} refused`);
      await c.dispose();
    }
    const intact = await as(d, 'admin').run('-c', node.file, '--store', d.connectionStringAs('admin'), '--json', 'verify');
    t.is(intact.code, 0, intact.stderr);
    t.deepEqual(intact.json<{ exposures: unknown[] }>().exposures, [], 'protected as created: nothing to warn about');

    // An administrator relaxes one stream: verify warns (not tampering: exit 0), naming the stream and what.
    d.setMetadata(instance, { $acl: { ...EXPECTED_ACL.$acl, $d: ['$all'], $mw: ['ops'] }, $maxCount: 100 });
    d.setMetadata(deployment, {});
    const warned = await as(d, 'admin').run('-c', node.file, '--store', d.connectionStringAs('admin'), 'verify');
    t.is(warned.code, 0, warned.stderr);
    const warnings = warned.stdout.split('\n').filter((l) => l.startsWith('WARNING'));
    t.deepEqual(warnings, [
      `WARNING ${instance}: $maxCount 100 is set: all but its last 100 events no longer read`,
      `WARNING ${instance}: it may be deleted by every user ($all) ($d)`,
      `WARNING ${instance}: its rights may be changed by ops ($mw), who can then delete or truncate it`,
      `WARNING ${deployment}: it has no ACL ($acl), so the server's default rights apply: any user may delete it, truncate it or change its rights`,
    ]);
  },
);

withTlsDouble('least privilege: an auditor without $all gets status and diagnose from the instance’s own streams; list says what it lacks', async (t, d) => {
  const dir = tempDir('kl-esdb-least');
  const writer = as(d, 'writer');
  const node = await newNode(dir, 'P2', ['--ledger', writer.store]);
  t.is((await writer.run('-c', node.file, 'init')).code, 0);
  const auditor = as(d, 'auditor');
  // A view caught up from $all by an administrator, so status would read the tail of the global order…
  t.is((await as(d, 'admin').run('-c', node.file, '--store', d.connectionStringAs('admin'), 'list')).code, 0);
  // …which the auditor may not read: it answers from the instance's own streams instead.
  const status = await auditor.run('-c', node.file, '--store', auditor.store, '--json', 'status');
  t.is(status.code, 0, status.stderr);
  t.like(status.json(), { installationId: node.id, state: 'activated' });
  const diagnose = await auditor.run('-c', path.join(dir, 'none.json'), '--store', auditor.store, '--json', 'diagnose', node.id);
  t.is(diagnose.code, 0, diagnose.stderr);
  const list = await auditor.run('-c', node.file, '--store', auditor.store, 'list');
  t.is(list.code, 3);
  t.regex(list.stderr, /^keyledger: store esdb:\/\/localhost:\d+ refused to read the global order \$all to this user \(access denied\)\. Give the store user/);
  for (const r of [status, diagnose, list]) t.false(`${r.stdout}${r.stderr}`.includes(USERS.auditor.password));
});

withTlsDouble('the connection name the server sees is the instance; the retry settings come from the config file', async (t, d) => {
  const dir = tempDir('kl-esdb-name');
  const writer = as(d, 'writer');
  const node = await newNode(dir, 'P3', ['--ledger', writer.store]);
  t.is((await writer.run('-c', node.file, 'init')).code, 0);
  t.true(d.connectionNames().includes('keyledger P3@RS-P3'), JSON.stringify(d.connectionNames()));
  const cfg = JSON.parse(fs.readFileSync(node.file, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(node.file, JSON.stringify({ ...cfg, esdb: { retry: { attempts: 2, backoffMs: 10, maxBackoffMs: 10 } } }));
  await d.stop();
  const down = await writer.run('-c', node.file, 'status');
  t.is(down.code, 3);
  t.regex(down.stderr, /\(gave up after 2 attempts\)/);
});

test('TLS by default: tls=false is refused without --allow-insecure-store, and warned about with it', async (t) => {
  t.timeout(30_000);
  const d = await startEsdbDouble({ batchAppend: false });
  try {
    const dir = tempDir('kl-esdb-tls');
    const file = path.join(dir, 'n.json');
    const refused = await cliWithEnv({}, '-c', file, 'config', 'new', '--ledger', d.connectionString);
    t.is(refused.code, 2);
    t.regex(
      refused.stderr,
      /^keyledger: --ledger esdb:\/\/127\.0\.0\.1:\d+ has tls=false \(nothing encrypted, no credentials sent, no rights checked\): use TLS/,
    );
    t.false(fs.existsSync(file), 'nothing written');
    const allowed = await cliWithEnv({}, '-c', file, '--allow-insecure-store', 'config', 'new', '--ledger', d.connectionString);
    t.is(allowed.code, 0, allowed.stderr);
    t.regex(allowed.stderr, /warning: esdb:\/\/127\.0\.0\.1:\d+ is written with tls=false and esdb.allowInsecure: for a test server only/);
    t.like(JSON.parse(fs.readFileSync(file, 'utf8')), { esdb: { allowInsecure: true } });
    const init = await cliWithEnv({}, '-c', file, 'init');
    t.is(init.code, 0, init.stderr);
    t.regex(init.stderr, /^keyledger: warning: the connection to esdb:\/\/127\.0\.0\.1:\d+ is not encrypted \(tls=false\)/);
    // The same string given per command, to a config that did not allow it: refused unless the flag is given.
    const other = await newNode(dir, 'T2');
    const perCommand = await cliWithEnv({}, '-c', other.file, '--store', d.connectionString, 'status');
    t.is(perCommand.code, 2, 'bad input, like any refused setting');
    t.regex(perCommand.stderr, /has tls=false .* and is refused: use TLS .*or pass --allow-insecure-store for a test server/);
    const flagged = await cliWithEnv({}, '-c', other.file, '--store', d.connectionString, '--allow-insecure-store', 'status');
    t.is(flagged.code, 1, flagged.stderr); // not initialized: the answer, with the warning first
    t.regex(flagged.stderr, /^keyledger: warning: the connection to/);
  } finally {
    await d.stop();
  }
});

test('config new with a password in --ledger: written (0600), never printed, and a warning names the way to keep it out', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-esdb-pw');
  const file = path.join(dir, 'n.json');
  const password = 'pa?ss/w@rd-4f1c';
  const r = await cliWithEnv({}, '-c', file, 'config', 'new', '--ledger', `esdb://keyledger:${encodeURIComponent(password)}@esdb.example:2113`);
  t.is(r.code, 0, r.stderr);
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  t.regex(r.stderr, /^keyledger: warning: the password in --ledger is kept in .* \(mode 0600\) .*KEYLEDGER_ESDB_PASSWORD or the config's esdb\.passwordFile/);
  for (const out of [r.stdout, r.stderr]) {
    t.false(out.includes(password));
    t.false(out.includes(encodeURIComponent(password)));
  }
  const without = await cliWithEnv({}, '-c', path.join(dir, 'm.json'), 'config', 'new', '--ledger', 'esdb://keyledger@esdb.example:2113');
  t.is(without.code, 0);
  t.is(without.stderr, '', 'no password, no warning');
});

withTlsDouble(
  'attack: metadata planted on a ledger stream before it exists is replaced on its first write; planted so it cannot be, the command stops',
  async (t, d) => {
    const deployment = deploymentStream('default' as DeploymentId); // a predictable name
    const intruder = raw(d, 'intruder');
    // Any user may write a new stream's metadata under the default ACL: deletable by all, re-permissionable by all.
    await intruder.setStreamMetadata(deployment, { acl: { deleteRoles: ['$all'], metaWriteRoles: ['$all'], readRoles: ['$all'], writeRoles: ['$all'] } });
    const dir = tempDir('kl-esdb-plant');
    const writer = as(d, 'writer');
    const node = await newNode(dir, 'P4', ['--ledger', writer.store]);
    t.is((await writer.run('-c', node.file, 'init')).code, 0);
    t.deepEqual(JSON.parse(d.metadataTextOf(deployment) ?? 'null'), EXPECTED_ACL, 'replaced by the ledger’s own rights');
    await t.throwsAsync(intruder.deleteStream(deployment), { instanceOf: AccessDeniedError });

    // Planted so that only its planter may change it: the writer cannot protect the stream, so it does not write into it.
    const other = deploymentStream('blue' as DeploymentId);
    await intruder.setStreamMetadata(other, { acl: { deleteRoles: ['$all'], metaWriteRoles: ['staff'], readRoles: ['$all'], writeRoles: ['$all'] } });
    await intruder.dispose();
    const blue = await newNode(dir, 'P5', ['--ledger', writer.store, '--deployment', 'blue']);
    const init = await writer.run('-c', blue.file, 'init');
    t.is(init.code, 3, init.stderr);
    t.regex(init.stderr, new RegExp(`refused to write the metadata of ${other.replace(/\./g, '\\.')} to this user \\(access denied\\)`));
    const held = await as(d, 'admin').run('-c', blue.file, '--store', d.connectionStringAs('admin'), '--json', 'diagnose', blue.id);
    t.like(held.json(), { state: 'initializing' }, 'stopped before registering with the deployment');
  },
);
