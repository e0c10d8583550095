/**
 * Scale-out through the CLI (in process), each instance with its own config
 * and keystore on one shared ledger: join, remove (and the last-member guard),
 * rejoin, service identity change (also resumed after crashes), membership,
 * and the rskeymgmt flags.
 */
import { sha256Hex } from '../src/infra/sha256';
import test from 'ava';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { changeServiceIdentity } from '../src/commands/identity';
import type { NonEmptyString } from '../src/domain/ids';
import { loadConfig } from '../src/infra/config';
import { fileKeystore } from '../src/infra/file-keystore';
import { joseCrypto } from '../src/infra/jose-crypto';
import { cli } from './support/cli-inproc';
import { crashingStore, SimulatedCrash } from './support/crashing-store';
import { aContext, openTestStore, rightOf, tempDir } from './support/fixtures';
import { activatedDeployment, deploymentEvents, editConfig, instanceEvents, joinArgs, keystoreThumbprint, ledgerFile, newNode } from './support/nodes';

const types = (events: ReadonlyArray<{ event: { type: string } }>): string[] => events.map((e) => e.event.type);

test('join: the sponsor wraps the key for the waiting instance, which activates on its next start', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-so');
  const a = await newNode(dir, 'A');
  const b = await newNode(dir, 'B');
  t.is((await a.run('init')).code, 0);
  t.is((await b.run('init')).code, 1);
  const join = await a.run('--json', ...joinArgs(b));
  t.is(join.code, 0, join.stderr);
  t.deepEqual(join.json(), { sponsor: a.id, newcomer: b.id, keyVersion: 1, alreadyJoined: false, recorded: ['SymmetricKeyWrapped'] });
  const wrapped = (await deploymentEvents(dir)).filter((e) => e.event.type === 'SymmetricKeyWrapped');
  t.is(wrapped.length, 1);
  const w = wrapped[0]!.event;
  const aThumbprint = (JSON.parse(fs.readFileSync(a.keystore, 'utf8')) as { thumbprint: string }).thumbprint;
  const bThumbprint = (JSON.parse(fs.readFileSync(b.keystore, 'utf8')) as { thumbprint: string }).thumbprint;
  if (w.type !== 'SymmetricKeyWrapped') return t.fail();
  t.like(w.data, { keyVersion: 1, wrappedBy: a.id, wrappedByThumbprint: aThumbprint, copy: { installationId: b.id, recipientThumbprint: bThumbprint } });
  t.is(wrapped[0]!.metadata.command, 'join');

  const start = await b.run('--json', 'start');
  t.is(start.code, 0, start.stdout);
  t.deepEqual(start.json<{ recorded: string[] }>().recorded, ['InstanceActivated']);

  const list = await a.run('--json', 'list');
  const rows =
    list.json<Array<{ installationId: string; membership: string; heldKeyVersion: number; thumbprint: string; machineName: string; instanceName: string }>>();
  t.deepEqual(
    rows.map((r) => [r.installationId, r.machineName, r.instanceName, r.membership, r.heldKeyVersion, r.thumbprint]).sort(),
    [
      [a.id, 'RS-A', 'A', 'joined', 1, keystoreThumbprint(a.file)],
      [b.id, 'RS-B', 'B', 'joined', 1, keystoreThumbprint(b.file)],
    ].sort(),
  );
  const again = await a.run('--json', ...joinArgs(b));
  t.is(again.code, 0);
  t.like(again.json(), { alreadyJoined: true, recorded: [] });
  t.is((await deploymentEvents(dir)).filter((e) => e.event.type === 'SymmetricKeyWrapped').length, 1, 'one wrap per member');
});

test('join: only an activated member can sponsor; unknown or bad newcomers get one clear line', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-so');
  const [a] = await activatedDeployment(dir, ['A']);
  const b = await newNode(dir, 'B');
  const c = await newNode(dir, 'C');
  t.is((await b.run('init')).code, 1);
  t.is((await c.run('init')).code, 1);
  const fromWaiting = await b.run(...joinArgs(c));
  t.is(fromWaiting.code, 5);
  t.regex(fromWaiting.stderr, /^keyledger: this instance \(.+\) cannot sponsor a join: waiting to join/);
  t.is(fromWaiting.stderr.trim().split('\n').length, 1);
  const unknown = await a!.run('join', randomUUID());
  t.is(unknown.code, 5);
  t.regex(unknown.stderr, /is not registered in the deployment\. Run keyledger init/);
  const bad = await a!.run('join', 'node-b');
  t.is(bad.code, 2);
  t.regex(bad.stderr, /"node-b" is not an installation ID/);
  t.is((await deploymentEvents(dir)).filter((e) => e.event.type === 'SymmetricKeyWrapped').length, 0, 'nothing recorded');
});

test('join by machine and instance name, and with the rskeymgmt flags (-j -m -n, -l)', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-so');
  const [a] = await activatedDeployment(dir, ['A']);
  const b = await newNode(dir, 'B');
  const c = await newNode(dir, 'C');
  t.is((await b.run('init')).code, 1);
  t.is((await c.run('init')).code, 1);
  t.is((await a!.run('join', '--machine', 'RS-B', '--instance', 'B', '--expect-thumbprint', keystoreThumbprint(b!.file))).code, 0);
  const rs = await a!.run('rskeymgmt', '-j', '-m', 'rs-c', '-n', 'c', '--expect-thumbprint', keystoreThumbprint(c.file));
  t.is(rs.code, 0, rs.stderr);
  t.regex(rs.stdout, new RegExp(`wrapped for ${c.id}`));
  const missing = await a!.run('rskeymgmt', '-j', '-m', 'RS-Z', '-n', 'Z');
  t.is(missing.code, 2);
  t.regex(missing.stderr, /no instance Z on machine RS-Z/);
  const l = await a!.run('rskeymgmt', '-l');
  t.is(l.code, 0);
  for (const n of [a!, b, c]) t.true(l.stdout.includes(n.id));
  // -d is delete-content: without --confirm a dry run that destroys nothing and says how to confirm.
  const dryRun = await a!.run('rskeymgmt', '-d');
  t.is(dryRun.code, 2);
  t.regex(dryRun.stdout, /delete-content \(dry run\): nothing was deleted/);
  t.regex(dryRun.stderr, /add --confirm default/);
  t.is((await a!.run('status')).code, 0, 'still activated');
  const wrongLocal = await a!.run('rskeymgmt', '-l', '-i', 'OTHER');
  t.is(wrongLocal.code, 2);
});

test('remove: the copy is revoked, the next start is refused with the reason, the others stay active', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-so');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const removed = await a!.run('--json', 'rskeymgmt', '-r', b!.id);
  t.is(removed.code, 0, removed.stderr);
  t.like(removed.json(), { installationId: b!.id, lastMember: false, recorded: ['InstanceRemoved'] });
  const ev = (await deploymentEvents(dir)).at(-1)!.event;
  if (ev.type !== 'InstanceRemoved') return t.fail(ev.type);
  t.like(ev.data, { installationId: b!.id, machineName: 'RS-B', instanceName: 'B', revokedKeyVersion: 1, forced: false, lastMember: false });

  const start = await b!.run('start');
  t.is(start.code, 1);
  t.regex(start.stdout, /RSReportServerNotActivated: installation .* was removed from the scale-out deployment/);
  t.is((await instanceEvents(dir, b!.id)).at(-1)!.event.type, 'InstanceActivationRefused');
  const status = await b!.run('--json', 'status');
  t.is(status.code, 1);
  t.like(status.json(), { state: 'removed', error: 'RSReportServerNotActivated' });
  t.is(status.json<{ findings: Array<{ kind: string }> }>().findings[0]?.kind, 'RemovedInstanceStarting');
  t.is((await a!.run('start')).code, 0, 'the remaining member is unaffected');
  const again = await a!.run('remove', b!.id);
  t.is(again.code, 0);
  t.regex(again.stdout, /already removed; nothing to do/);
});

test('removing the last member needs --force; afterwards a new instance needs a backup — the key is never re-created', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-so');
  const [a] = await activatedDeployment(dir, ['A']);
  const refused = await a!.run('remove', a!.id);
  t.is(refused.code, 5);
  t.regex(refused.stderr, /last member holding symmetric key version 1.*--force/);
  t.deepEqual(types(await deploymentEvents(dir)), ['PublicKeyStored', 'SymmetricKeyCreated'], 'nothing recorded');
  const forced = await a!.run('--json', 'remove', a!.id, '--force');
  t.is(forced.code, 0);
  t.like(forced.json(), { lastMember: true });
  t.regex((await a!.run('remove', a!.id)).stdout, /already removed/);

  const c = await newNode(dir, 'C');
  const init = await c.run('--json', 'init');
  t.is(init.code, 1);
  t.like(init.json(), { state: 'disabled', reason: { _tag: 'NoMemberHoldsKey', keyVersion: 1 } });
  t.deepEqual(
    types(await deploymentEvents(dir)).filter((x) => x === 'SymmetricKeyCreated'),
    ['SymmetricKeyCreated'],
    'one symmetric key, ever',
  );
  const status = await c.run('status');
  t.regex(
    status.stdout,
    /no member of the deployment holds symmetric key version 1.*Remedy: .*restore it from a key backup: on this instance run `keyledger restore -f <the key backup file>`/s,
  );
});

test('rejoin: a removed instance is re-registered only when asked, then joined again', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-so');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  t.is((await a!.run('remove', b!.id)).code, 0);
  const plain = await b!.run('--json', 'init');
  t.is(plain.code, 1);
  t.like(plain.json(), { state: 'disabled', reason: { _tag: 'InstanceRemoved', installationId: b!.id } });
  const rejoin = await b!.run('--json', 'init', '--rejoin');
  t.is(rejoin.code, 1);
  t.like(rejoin.json(), { state: 'waiting-to-join', recorded: ['PublicKeyStored'] });
  t.is((await a!.run(...joinArgs(b!))).code, 0);
  t.is((await b!.run('start')).code, 0);
  const status = await b!.run('--json', 'status');
  t.is(status.code, 0);
  t.like(status.json(), { state: 'activated', findings: [] });
});

test('change-identity: new key pair under the new identity, own copy re-wrapped, config updated; the old identity is refused', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-so');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const before = JSON.parse(fs.readFileSync(b!.keystore, 'utf8')) as { thumbprint: string };
  const oldIdentity = (JSON.parse(fs.readFileSync(b!.file, 'utf8')) as { serviceIdentity: string }).serviceIdentity;
  const r = await b!.run('--json', 'change-identity', 'svc-reports');
  t.is(r.code, 0, r.stderr);
  const o = r.json<{ previousIdentity: string; serviceIdentity: string; previousThumbprint: string; thumbprint: string; recorded: string[] }>();
  t.like(o, { previousIdentity: oldIdentity, serviceIdentity: 'svc-reports', previousThumbprint: before.thumbprint });
  t.deepEqual(o.recorded, ['ServiceIdentityChanged', 'PublicKeyReplaced', 'SymmetricKeyWrapped', 'InstanceActivated']);
  t.not(o.thumbprint, before.thumbprint);
  t.is((JSON.parse(fs.readFileSync(b!.file, 'utf8')) as { serviceIdentity: string }).serviceIdentity, 'svc-reports', 'config follows');
  t.is((JSON.parse(fs.readFileSync(b!.keystore, 'utf8')) as { thumbprint: string }).thumbprint, o.thumbprint, 'keystore replaced');
  t.false(fs.existsSync(`${b!.keystore}.next`));
  const dep = await deploymentEvents(dir);
  const [replaced, rewrapped] = dep.slice(-2);
  t.is(replaced!.event.type, 'PublicKeyReplaced');
  t.is(rewrapped!.event.type, 'SymmetricKeyWrapped');
  t.is(replaced!.metadata.correlationId, rewrapped!.metadata.correlationId, 'one append');
  t.is((await b!.run('start')).code, 0);
  t.like((await b!.run('--json', 'change-identity', 'svc-reports')).json(), { recorded: [] });

  editConfig(b!, { serviceIdentity: oldIdentity });
  const stale = await b!.run('--json', 'start');
  t.is(stale.code, 1);
  t.like(stale.json(), { reason: { _tag: 'ServiceIdentityChanged', recordedIdentity: 'svc-reports', presentedIdentity: oldIdentity } });
  editConfig(b!, { serviceIdentity: 'svc-reports' });
  // The deployment is consistent: B can still sponsor a new member with its new key.
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1);
  t.is((await b!.run('start')).code, 0);
  t.is((await b!.run(...joinArgs(c))).code, 0);
  t.is((await c.run('start')).code, 0);
  t.is((await a!.run('verify')).code, 0);
});

for (const crashAfter of [1, 2]) {
  test(`change-identity resumes after a crash after append #${crashAfter}`, async (t) => {
    t.timeout(60_000);
    const dir = tempDir('kl-so');
    const [, b] = await activatedDeployment(dir, ['A', 'B']);
    const cfg = rightOf(loadConfig(b!.file));
    const deps = (store: ReturnType<typeof openTestStore>) => ({
      store,
      crypto: joseCrypto(),
      keystore: fileKeystore(cfg.instance.keystorePath),
      ctx: aContext('change-identity'),
      digest: sha256Hex,
      host: 'test-host',
    });
    const first = openTestStore(ledgerFile(dir));
    await t.throwsAsync(changeServiceIdentity(deps(crashingStore(first, crashAfter, 'after')), cfg.instance, 'svc-new' as NonEmptyString), {
      instanceOf: SimulatedCrash,
    });
    await first.close();
    t.true(fs.existsSync(`${b!.keystore}.next`), 'the new key is staged, the old one still in place');

    const store = openTestStore(ledgerFile(dir));
    const done = await changeServiceIdentity(deps(store), cfg.instance, 'svc-new' as NonEmptyString);
    await store.close();
    if (E.isLeft(done)) return t.fail(JSON.stringify(done.left));
    t.is(done.right.activation.state, 'activated');
    t.is(types(await instanceEvents(dir, b!.id)).filter((x) => x === 'ServiceIdentityChanged').length, 1);
    t.is(types(await deploymentEvents(dir)).filter((x) => x === 'PublicKeyReplaced').length, 1);
    editConfig(b!, { serviceIdentity: 'svc-new' });
    t.is((await b!.run('start')).code, 0);
  });
}

test('rskeymgmt -? prints the SSRS syntax; -j -m alone joins MSSQLSERVER; -u/-v are noted as not needed; -t puts the errors in the trace log', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-rsk');
  const [a] = await activatedDeployment(dir, ['A']);
  const syntax = await a!.run('rskeymgmt', '-?');
  t.is(syntax.code, 0);
  for (const flag of ['-e', '-a', '-d', '-s', '-j', '-r', '-l', '-i', '-f', '-p', '-m', '-n', '-u', '-v', '-t', '-?'])
    t.true(syntax.stdout.includes(`  ${flag} `), flag);

  // A newcomer on the default instance: -j -m is enough (-n defaults to MSSQLSERVER, as in SSRS).
  const file = path.join(dir, 'D.json');
  t.is((await cli('-c', file, 'config', 'new', '--machine', 'RS-D')).code, 0);
  t.is((await cli('-c', file, 'init')).code, 1);
  const joined = await a!.run('rskeymgmt', '-j', '-m', 'RS-D', '-u', 'CONTOSO\\admin', '-v', 'not-used-here', '--expect-thumbprint', keystoreThumbprint(file));
  t.is(joined.code, 0, joined.stderr);
  t.regex(joined.stderr, /-u \/ -v are not needed here .*: ignored/);
  t.false(joined.stderr.includes('not-used-here') || joined.stdout.includes('not-used-here'), 'the password is never echoed');
  t.is((await cli('-c', file, 'start')).code, 0);

  // -t: the error line also goes to the trace log (the operations log in the state folder).
  const missing = await a!.run('rskeymgmt', '-j', '-m', 'RS-Z', '-n', 'Z', '-t');
  t.is(missing.code, 2);
  const log = fs
    .readFileSync(path.join(dir, '.keyledger', 'keyledger.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.like(log.at(-1), { command: 'rskeymgmt', trace: 'no instance Z on machine RS-Z in the ledger: run keyledger init on it first (see keyledger list)' });
  const untraced = await a!.run('rskeymgmt', '-j', '-m', 'RS-Y', '-n', 'Y');
  t.is(untraced.code, 2);
  t.false(fs.readFileSync(path.join(dir, '.keyledger', 'keyledger.log'), 'utf8').includes('RS-Y in the ledger'), 'without -t nothing is traced');
});
