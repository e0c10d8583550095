/**
 * The remedy walk: every refusal reason and every finding is set up for real,
 * and the remedy keyledger prints is followed literally — the typed steps from
 * --json, each checked to be printed word for word in the text output — until
 * the instance is activated. The remedies that restore a key backup are walked
 * in test/backup-restore-walk.e2e.ts; the only cases allowed to end elsewhere
 * are those whose remedy is restoring the store itself (listed at the end).
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GENESIS, hashEvent, SCHEMA_VERSION, sealEvents } from '../src/domain/envelope';
import { signerOf } from '../src/commands/signing';
import type { EventSigner } from '../src/domain/envelope';
import type { LedgerEvent } from '../src/domain/events';
import { type DeploymentId, deploymentStream, instanceStream, type KeyVersion } from '../src/domain/ids';
import { fileKeystore } from '../src/infra/file-keystore';
import { joseCrypto } from '../src/infra/jose-crypto';
import { sha256Hex } from '../src/infra/sha256';
import { remedyFor, remedyText } from '../src/domain/remedy';
import { cli, cliWith } from './support/cli-inproc';
import { expectDiagnosed, expectFindingDiagnosed } from './support/diagnose';
import { initStoppedAfter } from './support/interrupted';
import { aContext, openTestStore, rightOf, tempDir } from './support/fixtures';
import { eventsOf } from './support/ledger-reader';
import { activatedDeployment, editConfig, joinArgs, ledgerFile, newNode, type TestNode } from './support/nodes';

interface RemedyJson {
  kind: 'Run' | 'NotYetPossible';
  sentence: string;
  text: string;
  steps: Array<{ on: 'this-instance' | 'a-member' | 'the-other-machine'; args: Array<string | { placeholder: string }>; command: string }>;
}
interface StatusJson {
  state: string;
  reason?: { _tag: string };
  remedy?: RemedyJson;
  message?: string;
  findings: Array<{ kind: string; remedy: RemedyJson }>;
}

interface Cast {
  readonly self: TestNode;
  readonly member: TestNode;
  readonly other?: TestNode;
}

/** Runs each step of the remedy on the node it names; the new installation ID printed by one step feeds the next. */
const follow = async (t: ExecutionContext, remedy: RemedyJson | undefined, printed: string, cast: Cast): Promise<void> => {
  if (!remedy) throw new Error('no remedy printed');
  t.is(remedy.kind, 'Run', remedy.text);
  const printedFrom: Record<string, string> = {};
  for (const step of remedy.steps) {
    // What --json says to run is what the text output told the operator to run.
    const shown = step.command.replace('<new-installation-id>', '<new installation ID>').replace('<new-thumbprint>', '<its thumbprint>');
    t.true(printed.includes(`\`${shown}\``), `printed: ${shown}\n${printed}`);
    const node = step.on === 'this-instance' ? cast.self : step.on === 'a-member' ? cast.member : cast.other;
    if (!node) throw new Error(`no node for ${step.on}`);
    const args = step.args.map((a) => {
      if (typeof a === 'string') return a;
      const value = printedFrom[a.placeholder];
      if (value === undefined) throw new Error(`${a.placeholder} used before the step that prints it`);
      return value;
    });
    const r = await node.run('--json', ...args);
    t.true(r.code === 0 || r.code === 1, `keyledger ${args.join(' ')} → ${r.code}: ${r.stderr}`);
    if (args.includes('--new-installation-id')) {
      // init prints the new installation ID and the thumbprint of its new key (what the join confirms).
      const o = r.json<{ installationId: string; thumbprint: string }>();
      printedFrom['new-installation-id'] = o.installationId;
      printedFrom['new-thumbprint'] = o.thumbprint;
    }
  }
};

/** Status, then its remedy, until activated (a remedy may lead to a state with a remedy of its own: init → join → start). */
const walkStatus = async (t: ExecutionContext, cast: Cast, rounds = 3): Promise<void> => {
  for (let i = 0; i < rounds; i++) {
    const r = await cast.self.run('--json', 'status');
    const s = r.json<StatusJson>();
    if (s.state === 'activated') {
      t.is(r.code, 0);
      return;
    }
    const text = (await cast.self.run('status')).stdout;
    await follow(t, s.remedy, text, cast);
  }
  const last = (await cast.self.run('--json', 'status')).json<StatusJson>();
  t.is(last.state, 'activated', last.message);
};

/** start is refused with `kind`; its printed remedy is followed; the instance the config names ends activated. */
const walkStart = async (t: ExecutionContext, cast: Cast, kind: string): Promise<void> => {
  const start = await cast.self.run('--json', 'start');
  t.is(start.code, 1, start.stdout + start.stderr);
  const o = start.json<{ state: string; reason?: { _tag: string }; remedy?: RemedyJson }>();
  t.is(o.reason?._tag ?? o.state, kind);
  // diagnose tells the same failure: the step it is about, the refusal, the remedy that is followed next.
  if (o.reason) await expectDiagnosed(t, cast.self, o);
  const text = (await cast.self.run('start')).stdout;
  await follow(t, o.remedy, text, cast);
  await walkStatus(t, cast);
};

/** The status finding's remedy followed, on the node it names; then `target` is activated. */
const walkFinding = async (t: ExecutionContext, cast: Cast, kind: string, target: TestNode = cast.self): Promise<void> => {
  const s = (await cast.self.run('--json', 'status')).json<StatusJson>();
  const f = s.findings.find((x) => x.kind === kind);
  if (!f) return t.fail(`no ${kind} in ${JSON.stringify(s.findings.map((x) => x.kind))}`);
  await expectFindingDiagnosed(t, cast.self, kind, f.remedy);
  await follow(t, f.remedy, (await cast.self.run('status')).stdout, cast);
  await walkStatus(t, { ...cast, self: target });
};

const pair = async (): Promise<Cast & { dir: string }> => {
  const dir = tempDir('kl-walk');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  return { dir, self: b!, member: a! };
};

const identityOf = (n: TestNode): string => (JSON.parse(fs.readFileSync(n.file, 'utf8')) as { serviceIdentity: string }).serviceIdentity;

/** Appends events to a stream with a valid hash chain, as a writer other than keyledger's commands would. */
const sealOnto = async (dir: string, stream: string, events: ReadonlyArray<LedgerEvent>, signer?: EventSigner): Promise<void> => {
  const store = openTestStore(ledgerFile(dir));
  const existing = await eventsOf(store, stream);
  const last = existing.at(-1);
  const sealed = rightOf(
    sealEvents(
      stream,
      last ? { revision: last.revision, hash: last.metadata.hash } : { revision: 'no_stream', hash: '0'.repeat(64) },
      events,
      aContext('hand-sealed'),
      sha256Hex,
      signer,
    ),
  );
  rightOf(await store.append(stream, sealed, last ? last.revision : 'no_stream')());
  await store.close();
};

/** One event appended exactly as an earlier version stored it: hashed into the chain, not validated against today's codecs. */
const sealLegacyOnto = async (dir: string, stream: string, type: string, data: object): Promise<void> => {
  const store = openTestStore(ledgerFile(dir));
  const last = (await eventsOf(store, stream)).at(-1);
  const ctx = aContext('init');
  const base = {
    eventId: ctx.newId(),
    occurredAt: ctx.now().toISOString(),
    actor: ctx.actor,
    command: ctx.command,
    correlationId: ctx.correlationId,
    causationId: ctx.causationId,
    schemaVersion: SCHEMA_VERSION,
    prevHash: last ? last.metadata.hash : GENESIS,
  } as const;
  const revision = last ? last.revision + 1n : 0n;
  const metadata = { ...base, hash: hashEvent(sha256Hex, stream, revision, type, data, base as never) };
  rightOf(await store.append(stream, [{ id: base.eventId, type, data, metadata }], last ? last.revision : 'no_stream')());
  await store.close();
};

const DEPLOYMENT = 'default' as DeploymentId;
const DSTREAM = deploymentStream(DEPLOYMENT);

/** A copy for B as the deployment records it, with whatever JWE and recipient the test chooses. */
const copyForB = async (
  cast: Cast & { dir: string },
  make: (b: { thumbprint: string; publicKey: unknown }, aJwe: string) => Promise<{ recipient: string; jwe: string }>,
): Promise<void> => {
  const store = openTestStore(ledgerFile(cast.dir));
  const events = await eventsOf(store, DSTREAM);
  await store.close();
  const reg = events.find((e) => e.event.type === 'PublicKeyStored' && e.event.data.installationId === cast.self.id);
  const aCopy = events.find((e) => e.event.type === 'SymmetricKeyCreated');
  if (reg?.event.type !== 'PublicKeyStored' || aCopy?.event.type !== 'SymmetricKeyCreated') throw new Error('setup');
  const { recipient, jwe } = await make(reg.event.data, aCopy.event.data.copy.jwe);
  await sealOnto(cast.dir, DSTREAM, [
    {
      type: 'SymmetricKeyWrapped',
      data: {
        deploymentId: DEPLOYMENT,
        keyVersion: 1 as KeyVersion,
        copy: { installationId: cast.self.id, recipientThumbprint: recipient as never, jwe: jwe as never },
        wrappedBy: cast.member.id,
        wrappedByThumbprint: aCopy.event.data.copy.recipientThumbprint,
      },
    },
  ]);
};

/** Another member re-created the key (version 2) and wrapped it only for itself (the member of the cast). */
const newKeyVersionHeldOnlyBy = async (cast: Cast & { dir: string }): Promise<void> => {
  const a = cast.member;
  const crypto = joseCrypto();
  const aKey = rightOf(await fileKeystore(a.keystore).load({ installationId: a.id, serviceIdentity: identityOf(a) })());
  const v2 = crypto.createSymmetricKey();
  const jwe = rightOf(await crypto.wrap(v2, aKey.publicKey)());
  await sealOnto(
    cast.dir,
    DSTREAM,
    [
      {
        type: 'SymmetricKeyCreated',
        data: {
          deploymentId: DEPLOYMENT,
          keyVersion: 2 as KeyVersion,
          algorithm: 'A256GCM',
          keyCheck: crypto.keyCheck(v2),
          createdBy: a.id,
          copy: { installationId: a.id, recipientThumbprint: aKey.thumbprint, jwe },
        },
      },
    ],
    signerOf(crypto, aKey),
  ); // signed by the member that re-created it, as a re-create will be
};

/** B initialized up to its registration, waiting to be joined. */
const waitingPair = async (): Promise<Cast & { dir: string }> => {
  const dir = tempDir('kl-walk');
  const [a] = await activatedDeployment(dir, ['A']);
  const b = await newNode(dir, 'B');
  if ((await b.run('init')).code !== 1) throw new Error('B should wait to join');
  return { dir, self: b, member: a! };
};

// ─── Every refusal reason ─────────────────────────────────────────────────

for (const problem of ['missing', 'corrupt', 'locked'] as const) {
  test(`walk: KeystoreUnavailable (${problem}) in a scale-out → new installation ID, joined, started`, async (t) => {
    t.timeout(60_000);
    const cast = await pair();
    if (problem === 'missing') fs.rmSync(cast.self.keystore);
    if (problem === 'corrupt') fs.writeFileSync(cast.self.keystore, '{"not":"a keystore"}');
    if (problem === 'locked') fs.rmSync(path.join(path.dirname(cast.self.keystore), 'machine.secret'));
    await walkStart(t, cast, 'KeystoreUnavailable');
  });
}

test("walk: KeystoreBelongsToOtherInstallation (the config points at another installation's keystore)", async (t) => {
  t.timeout(60_000);
  const cast = await pair();
  editConfig(cast.self, { keystore: cast.member.keystore });
  await walkStart(t, cast, 'KeystoreBelongsToOtherInstallation');
});

test('walk: PublicKeyMismatch in the instance (a rebuilt keystore, same path)', async (t) => {
  t.timeout(60_000);
  const cast = await pair();
  fs.rmSync(path.dirname(cast.self.keystore), { recursive: true });
  const kp = rightOf(await joseCrypto().generateKeyPair(2048)());
  rightOf(await fileKeystore(cast.self.keystore).create({ installationId: cast.self.id, serviceIdentity: identityOf(cast.self) }, kp)());
  await walkStart(t, cast, 'PublicKeyMismatch');
});

test('walk: PublicKeyMismatch in the deployment (another key registered under the installation ID)', async (t) => {
  t.timeout(60_000);
  const cast = await pair();
  const foreign = rightOf(await joseCrypto().generateKeyPair(2048)());
  await sealOnto(cast.dir, DSTREAM, [
    {
      type: 'PublicKeyStored',
      data: {
        deploymentId: DEPLOYMENT,
        installationId: cast.self.id,
        machineName: 'RS-B' as never,
        instanceName: 'B' as never,
        thumbprint: foreign.thumbprint,
        publicKey: foreign.publicKey,
      },
    },
  ]);
  await walkStart(t, cast, 'PublicKeyMismatch');
});

test('walk: ServiceIdentityChanged → change-identity', async (t) => {
  t.timeout(60_000);
  const cast = await pair();
  editConfig(cast.self, { serviceIdentity: 'svc-reports' });
  await walkStart(t, cast, 'ServiceIdentityChanged');
});

test('walk: ConfigurationChanged (a renamed machine) → new installation ID, joined, started', async (t) => {
  t.timeout(60_000);
  const cast = await pair();
  editConfig(cast.self, { machineName: 'RS-B-RENAMED' });
  await walkStart(t, cast, 'ConfigurationChanged');
});

test('walk: NoWrappedCopy (waiting to join) → join, start', async (t) => {
  t.timeout(60_000);
  const cast = await waitingPair();
  await walkStart(t, cast, 'NoWrappedCopy');
});

test('walk: WrappedCopyForOtherKey → join, start', async (t) => {
  t.timeout(60_000);
  const cast = await waitingPair();
  const aTp = (JSON.parse(fs.readFileSync(cast.member.keystore, 'utf8')) as { thumbprint: string }).thumbprint;
  await copyForB(cast, async (_b, aJwe) => ({ recipient: aTp, jwe: aJwe }));
  await walkStart(t, cast, 'WrappedCopyForOtherKey');
});

test('walk: UnwrapFailed (a copy it cannot unwrap) → join --rewrap, start', async (t) => {
  t.timeout(60_000);
  const cast = await waitingPair();
  await copyForB(cast, async (b, aJwe) => ({ recipient: b.thumbprint, jwe: aJwe }));
  await walkStart(t, cast, 'UnwrapFailed');
});

test('walk: KeyCheckMismatch (a copy of another key) → join --rewrap, start', async (t) => {
  t.timeout(60_000);
  const cast = await waitingPair();
  const crypto = joseCrypto();
  await copyForB(cast, async (b) => ({ recipient: b.thumbprint, jwe: rightOf(await crypto.wrap(crypto.createSymmetricKey(), b.publicKey as never)()) }));
  await walkStart(t, cast, 'KeyCheckMismatch');
});

test('walk: InstanceRemoved → init --rejoin, join, start', async (t) => {
  t.timeout(60_000);
  const cast = await pair();
  t.is((await cast.member.run('remove', cast.self.id)).code, 0);
  await walkStart(t, cast, 'InstanceRemoved');
});

test('walk: StaleWrappedCopy (a newer key version it holds no copy of) → join, start', async (t) => {
  t.timeout(60_000);
  const cast = await pair();
  await newKeyVersionHeldOnlyBy(cast);
  await walkStart(t, cast, 'StaleWrappedCopy');
});

test('walk: StaleWrappedCopy after a real re-create (a joined member that was offline) → join, start; its secrets decrypt', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-walk');
  const [a] = await activatedDeployment(dir, ['A']);
  const c = await newNode(dir, 'C');
  if ((await c.run('init')).code !== 1) throw new Error('C should wait to join');
  t.is((await a!.run(...joinArgs(c))).code, 0); // joined, never started: offline when the key is re-created
  t.is((await cliWith({ stdin: 'conn-string' }, '-c', a!.file, 'secret', 'put', 'ds/sales')).code, 0);
  const re = await a!.run('--json', 'recreate');
  t.is(re.code, 0, re.stderr);
  t.deepEqual(re.json<{ stale: string[] }>().stale, [c.id]);
  await walkStart(t, { dir, self: c, member: a! } as Cast, 'StaleWrappedCopy');
  t.is((await cliWith({}, '-c', c.file, 'secret', 'get', 'ds/sales', '--reveal')).stdout, 'conn-string');
});

for (const [kind, step] of [
  ['InstallationNotRegistered', 2],
  ['NoSymmetricKey', 3],
] as const) {
  test(`walk: ${kind}, as recorded by earlier versions (a refusal without a basis) → init`, async (t) => {
    t.timeout(60_000);
    const dir = tempDir('kl-walk');
    const a = await newNode(dir, 'A');
    await initStoppedAfter(t, a, step);
    const reason = kind === 'InstallationNotRegistered' ? { kind, installationId: a.id, keystoreInstallationId: a.id } : { kind, deploymentId: DEPLOYMENT };
    // Written as session 1 wrote it (`kind`, no basis): today's writer would refuse that shape, so it is sealed by hand.
    await sealLegacyOnto(dir, instanceStream(a.id), 'InstanceActivationRefused', { installationId: a.id, deploymentId: DEPLOYMENT, reason });
    const s = (await a.run('--json', 'status')).json<StatusJson>();
    t.is(s.reason?._tag, kind, "the legacy reason is read (upcast) as today's");
    await walkStatus(t, { self: a, member: a });
  });
}

test('walk: initializing (start after an interrupted init) → init', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-walk');
  const a = await newNode(dir, 'A');
  await initStoppedAfter(t, a, 1);
  await walkStart(t, { self: a, member: a }, 'initializing');
});

// ─── Every finding ────────────────────────────────────────────────────────

test('walk: finding ForeignPublicKey (a rebuilt machine) → its remedy', async (t) => {
  t.timeout(60_000);
  const cast = await pair();
  fs.rmSync(path.dirname(cast.self.keystore), { recursive: true });
  const kp = rightOf(await joseCrypto().generateKeyPair(2048)());
  rightOf(await fileKeystore(cast.self.keystore).create({ installationId: cast.self.id, serviceIdentity: identityOf(cast.self) }, kp)());
  t.is((await cast.self.run('start')).code, 1);
  await walkFinding(t, cast, 'ForeignPublicKey');
});

test('walk: finding CopyForKeyNoLongerHeld (a lost keystore) → its remedy', async (t) => {
  t.timeout(60_000);
  const cast = await pair();
  fs.rmSync(cast.self.keystore);
  t.is((await cast.self.run('start')).code, 1);
  await walkFinding(t, cast, 'CopyForKeyNoLongerHeld');
});

test('walk: finding StaleCopy → its remedy', async (t) => {
  t.timeout(60_000);
  const cast = await pair();
  await newKeyVersionHeldOnlyBy(cast);
  t.is((await cast.self.run('start')).code, 1);
  await walkFinding(t, cast, 'StaleCopy');
});

test('walk: finding RemovedInstanceStarting → its remedy', async (t) => {
  t.timeout(60_000);
  const cast = await pair();
  t.is((await cast.member.run('remove', cast.self.id)).code, 0);
  t.is((await cast.self.run('start')).code, 1);
  await walkFinding(t, cast, 'RemovedInstanceStarting');
});

test('walk: finding InstallationClaimedByTwoMachines (a config copied to another machine) → its remedy, on the other machine', async (t) => {
  t.timeout(60_000);
  const cast = await pair();
  const dir = path.join(cast.dir, 'machine-c');
  fs.mkdirSync(dir);
  const file = path.join(dir, 'B.json');
  const cfg = JSON.parse(fs.readFileSync(cast.self.file, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(file, JSON.stringify({ ...cfg, machineName: 'RS-C', store: `sqlite:${ledgerFile(cast.dir)}` }));
  const other: TestNode = { ...cast.self, file, dir, run: (...args: string[]) => cli('-c', file, ...args) };
  t.is((await other.run('start')).code, 1);
  await walkFinding(t, { ...cast, other }, 'InstallationClaimedByTwoMachines', other);
  t.is((await cast.self.run('start')).code, 0, 'the original stays activated');
});

// ─── Where the remedy is outside keyledger ──────────────────────────────

test('the remedies that end elsewhere: restoring the store itself, said plainly and naming no keyledger command to fix it', async (t) => {
  // KeyNotThePinnedKey (a key planted in the ledger): the remedy is a store restore, set up and asserted in test/key-injection.int.ts.
  t.regex(
    remedyText(
      remedyFor(
        { _tag: 'KeyNotThePinnedKey', keyVersion: 1 as never, pinnedKeyCheck: 'p', ledgerKeyCheck: 'l' },
        { installationId: 'x', otherHolders: 1, thumbprint: null },
      ),
    ),
    /restore the store from a backup/,
  );
});
