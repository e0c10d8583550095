/**
 * The start check refuses, records why, and `status` answers
 * RSReportServerNotActivated with that reason: an edited installation ID, a
 * swapped keystore, a foreign public key in the deployment, a changed service
 * identity, a lost keystore, a config cloned onto another machine.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { sealEvents } from '../src/domain/envelope';
import { sha256Hex } from '../src/infra/sha256';
import { deploymentStream, type InstallationId, instanceStream } from '../src/domain/ids';
import type { RefusalReason } from '../src/domain/events';
import { joseCrypto } from '../src/infra/jose-crypto';
import { cli } from './support/cli-inproc';
import { aContext, openTestStore, rightOf, tempDir } from './support/fixtures';
import { eventsOf } from './support/ledger-reader';

interface Node {
  readonly dir: string;
  readonly file: string;
  readonly id: InstallationId;
  readonly keystore: string;
}

const newNode = async (dir: string, name: string, extra: string[] = []): Promise<Node> => {
  const file = path.join(dir, `${name}.json`);
  const r = await cli('--json', '-c', file, 'config', 'new', '--instance', name, ...extra);
  if (r.code !== 0) throw new Error(r.stderr);
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as { installationId: InstallationId; keystore: string };
  return { dir, file, id: cfg.installationId, keystore: path.resolve(dir, cfg.keystore) };
};

const editConfig = (n: Node, patch: Record<string, unknown>): void => {
  const cfg = JSON.parse(fs.readFileSync(n.file, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(n.file, JSON.stringify({ ...cfg, ...patch }, null, 2));
};

const lastRefusal = async (dir: string, id: InstallationId): Promise<RefusalReason | undefined> => {
  const store = openTestStore(path.join(dir, '.keyledger', 'ledger.db'));
  try {
    const events = await eventsOf(store, instanceStream(id));
    const last = events[events.length - 1]?.event;
    return last?.type === 'InstanceActivationRefused' ? last.data.reason : undefined;
  } finally {
    await store.close();
  }
};

/** start refuses (exit 1, RSReportServerNotActivated); status reports the same reason. */
const expectRefusal = async (
  t: import('ava').ExecutionContext,
  n: Node,
  expected: RefusalReason,
  code: string,
  evidence: ReadonlyArray<string>,
): Promise<void> => {
  const started = await cli('-c', n.file, 'start');
  t.is(started.code, 1, started.stdout + started.stderr);
  t.regex(
    started.stdout,
    code === 'RSReportServerNotActivated' ? /RSReportServerNotActivated: (?!RSReportServerNotActivated)/ : new RegExp(`RSReportServerNotActivated: ${code}:`),
  );
  const id = (JSON.parse(fs.readFileSync(n.file, 'utf8')) as { installationId: InstallationId }).installationId;
  t.deepEqual(await lastRefusal(n.dir, id), expected, 'the refusal and its reason are recorded');
  const status = await cli('--json', '-c', n.file, 'status');
  t.is(status.code, 1);
  const s = status.json<{ state: string; error: string; code: string; reason: RefusalReason; message: string }>();
  t.is(s.state, 'disabled');
  t.is(s.error, 'RSReportServerNotActivated');
  t.is(s.code, code);
  t.deepEqual(s.reason, expected);
  for (const e of evidence) t.true(s.message.includes(e), `status names ${e}: ${s.message}`);
  const text = await cli('-c', n.file, 'status');
  t.is(text.code, 1);
  t.regex(text.stdout, /RSReportServerNotActivated: .*Remedy: /);
};

test('an edited installation ID: the keystore belongs to the original installation, named as evidence', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-ref');
  const a = await newNode(dir, 'A');
  t.is((await cli('-c', a.file, 'init')).code, 0);
  const edited = randomUUID() as InstallationId;
  editConfig(a, { installationId: edited });
  await expectRefusal(
    t,
    a,
    { _tag: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: edited, keystoreInstallationId: a.id },
    'rsReportServerDisabled',
    [edited, a.id],
  );
});

test("a swapped keystore (another instance's): refused, naming both installations", async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-ref');
  const a = await newNode(dir, 'A');
  const b = await newNode(dir, 'B');
  t.is((await cli('-c', a.file, 'init')).code, 0);
  t.is((await cli('-c', b.file, 'init')).code, 1, 'B waits to join');
  fs.copyFileSync(b.keystore, a.keystore);
  fs.copyFileSync(path.join(path.dirname(b.keystore), 'machine.secret'), path.join(path.dirname(a.keystore), 'machine.secret'));
  await expectRefusal(
    t,
    a,
    { _tag: 'KeystoreBelongsToOtherInstallation', presentedInstallationId: a.id, keystoreInstallationId: b.id },
    'rsReportServerDisabled',
    [a.id, b.id],
  );
});

test('a replaced keystore (same installation, new key pair): the held thumbprint does not match the recorded one', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-ref');
  const a = await newNode(dir, 'A');
  t.is((await cli('-c', a.file, 'init')).code, 0);
  const recorded = (JSON.parse(fs.readFileSync(a.keystore, 'utf8')) as { thumbprint: string }).thumbprint;
  fs.rmSync(path.dirname(a.keystore), { recursive: true });
  // A rebuilt keystore: same installation and identity, a brand-new key pair.
  const { fileKeystore } = await import('../src/infra/file-keystore');
  const cfg = JSON.parse(fs.readFileSync(a.file, 'utf8')) as { serviceIdentity: string };
  const kp = rightOf(await joseCrypto().generateKeyPair(2048)());
  rightOf(await fileKeystore(a.keystore).create({ installationId: a.id, serviceIdentity: cfg.serviceIdentity }, kp)());
  await expectRefusal(
    t,
    a,
    { _tag: 'PublicKeyMismatch', heldThumbprint: kp.thumbprint, storedThumbprint: recorded as never, storedIn: 'instance' },
    'rsReportServerDisabled',
    [kp.thumbprint, recorded],
  );
});

test('a foreign public key stored in the deployment for this installation: refused as a mismatch', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-ref');
  const a = await newNode(dir, 'A');
  t.is((await cli('-c', a.file, 'init')).code, 0);
  const held = (JSON.parse(fs.readFileSync(a.keystore, 'utf8')) as { thumbprint: string }).thumbprint;
  // Another writer to the shared store registers a different key under A's installation ID.
  const foreign = rightOf(await joseCrypto().generateKeyPair(2048)());
  const store = openTestStore(path.join(dir, '.keyledger', 'ledger.db'));
  const stream = deploymentStream('default' as never);
  const existing = await eventsOf(store, stream);
  const last = existing[existing.length - 1]!;
  const sealed = sealEvents(
    stream,
    { revision: last.revision, hash: last.metadata.hash },
    [
      {
        type: 'PublicKeyStored',
        data: {
          deploymentId: 'default' as never,
          installationId: a.id,
          machineName: 'ROGUE' as never,
          instanceName: 'A' as never,
          thumbprint: foreign.thumbprint,
          publicKey: foreign.publicKey,
        },
      },
    ],
    aContext('rogue'),
    sha256Hex,
  );
  t.true(E.isRight(sealed));
  rightOf(await store.append(stream, rightOf(sealed), last.revision)());
  await store.close();
  await expectRefusal(
    t,
    a,
    { _tag: 'PublicKeyMismatch', heldThumbprint: held as never, storedThumbprint: foreign.thumbprint, storedIn: 'deployment' },
    'rsReportServerDisabled',
    [held, foreign.thumbprint],
  );
});

test('a changed service identity: refused until the keys are updated for it', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-ref');
  const a = await newNode(dir, 'A', ['--identity', 'svc-old']);
  t.is((await cli('-c', a.file, 'init')).code, 0);
  editConfig(a, { serviceIdentity: 'svc-new' });
  await expectRefusal(t, a, { _tag: 'ServiceIdentityChanged', recordedIdentity: 'svc-old', presentedIdentity: 'svc-new' }, 'rsKeyStateNotValid', [
    'svc-old',
    'svc-new',
  ]);
});

test('a lost keystore: rsKeyStateNotValid, naming the keystore path', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-ref');
  const a = await newNode(dir, 'A');
  t.is((await cli('-c', a.file, 'init')).code, 0);
  fs.rmSync(a.keystore);
  await expectRefusal(t, a, { _tag: 'KeystoreUnavailable', keystorePath: a.keystore, problem: 'missing', detail: 'no keystore file' }, 'rsKeyStateNotValid', [
    a.keystore,
  ]);
});

test('a config cloned onto another machine (same installation ID, other machine name): refused', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-ref');
  const a = await newNode(dir, 'A', ['--machine', 'RS-NODE-1']);
  t.is((await cli('-c', a.file, 'init')).code, 0);
  const clone: Node = { ...a, file: path.join(dir, 'clone.json') };
  fs.writeFileSync(clone.file, JSON.stringify({ ...JSON.parse(fs.readFileSync(a.file, 'utf8')), machineName: 'RS-NODE-9' }));
  const init = await cli('-c', clone.file, 'init');
  t.is(init.code, 1, 'refused: not activated');
  t.regex(init.stdout, /^RSReportServerNotActivated: the config's machineName is "RS-NODE-9" but the ledger recorded "RS-NODE-1"/m);
  t.deepEqual(await lastRefusal(clone.dir, a.id), { _tag: 'ConfigurationChanged', field: 'machineName', recorded: 'RS-NODE-1', presented: 'RS-NODE-9' });
  // Evidence about another machine, not the state of the registered holder.
  const status = (await cli('--json', '-c', clone.file, 'status')).json<{ state: string; findings: Array<{ kind: string }> }>();
  t.is(status.state, 'activated');
  t.deepEqual(
    status.findings.map((f) => f.kind),
    ['InstallationClaimedByTwoMachines'],
  );
});

test('after the cause is fixed, start activates the instance again and status follows', async (t) => {
  t.timeout(30_000);
  const dir = tempDir('kl-ref');
  const a = await newNode(dir, 'A', ['--identity', 'svc-old']);
  t.is((await cli('-c', a.file, 'init')).code, 0);
  editConfig(a, { serviceIdentity: 'svc-new' });
  t.is((await cli('-c', a.file, 'start')).code, 1);
  editConfig(a, { serviceIdentity: 'svc-old' });
  const again = await cli('--json', '-c', a.file, 'start');
  t.is(again.code, 0);
  t.deepEqual(again.json<{ recorded: string[] }>().recorded, ['InstanceActivated']);
  const status = await cli('--json', '-c', a.file, 'status');
  t.is(status.code, 0);
  t.is(status.json<{ state: string }>().state, 'activated');
});
