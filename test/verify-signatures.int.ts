/**
 * `keyledger verify --signatures` (issue 9): the hash chain is plain SHA-256 that anyone who writes the store
 * can recompute, so the attacks below (written against the SQLite file, chain re-hashed with the documented
 * algorithm) pass plain `verify`; the signatures do not, and each problem names stream, revision and event type.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as E from 'fp-ts/Either';
import { signerOf } from '../src/commands/signing';
import { eventSigningText, type EventSigner, sealEvents } from '../src/domain/envelope';
import type { LedgerEvent } from '../src/domain/events';
import { type DeploymentId, deploymentStream, type InstallationId, instanceStream } from '../src/domain/ids';
import { proofOfPossessionText } from '../src/domain/signatures';
import { printable } from '../src/cli/render';
import { fileKeystore } from '../src/infra/file-keystore';
import { joseCrypto } from '../src/infra/jose-crypto';
import { signatures } from '../src/infra/signing';
import { sha256Hex } from '../src/infra/sha256';
import { aContext, openTestStore, rightOf, tempDir } from './support/fixtures';
import { toLegacyKeystore, toLegacyLedger } from './support/legacy';
import { activatedDeployment, deploymentEvents, instanceEvents, keystoreThumbprint, ledgerFile, type TestNode } from './support/nodes';
import { rewriteAndRehash, rowOf } from './support/tamper';

const DSTREAM = deploymentStream('default' as DeploymentId);

interface SigProblem {
  scope: 'deployment' | 'instance';
  stream: string;
  revision: string;
  eventType: string;
  problem: string;
  signedBy: string | null;
  signingKey: string | null;
}
interface Report {
  events: number;
  problems: unknown[];
  signatures?: {
    checked: number;
    signed: number;
    verified: number;
    unsignedKeyEvents: number;
    unsignedInstanceEvents: number;
    problems: SigProblem[];
    deployments: Array<{
      stream: string;
      genesis: { installationId: string; thumbprint: string; revision: string; declared: boolean; afterDeletion: boolean } | null;
      members: number;
    }>;
    firstProblem: { stream: string; revision: string } | null;
  };
}

const verifyJson = async (n: TestNode, ...flags: string[]): Promise<{ code: number; report: Report }> => {
  const r = await n.run('--json', 'verify', ...flags);
  return { code: r.code, report: r.json<Report>() };
};

/** The signer of a member, from its own keystore (what only that member holds). */
const signerOfNode = async (n: TestNode): Promise<EventSigner> => {
  const cfg = JSON.parse(fs.readFileSync(n.file, 'utf8')) as { serviceIdentity: string };
  const held = await fileKeystore(n.keystore).load({ installationId: n.id, serviceIdentity: cfg.serviceIdentity })();
  const signer = signerOf(joseCrypto(), held);
  if (!signer) throw new Error(`no signing key in ${n.keystore}`);
  return signer;
};

const wrapOf = async (dir: string, recipient: InstallationId) => {
  const e = (await deploymentEvents(dir)).find((x) => x.event.type === 'SymmetricKeyWrapped' && x.event.data.copy.installationId === recipient);
  if (e?.event.type !== 'SymmetricKeyWrapped') throw new Error(`no wrap for ${recipient}`);
  return { revision: Number(e.revision), event: e.event };
};

test('a clean deployment of three members: verify --signatures exit 0, every signature verified, nothing unsigned but ConfigRead', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-vsig');
  const [a, b, c] = await activatedDeployment(dir, ['A', 'B', 'C']);
  const { code, report } = await verifyJson(a!, '--signatures');
  t.is(code, 0, JSON.stringify(report));
  t.deepEqual(report.problems, []);
  const s = report.signatures!;
  t.deepEqual(s.problems, []);
  t.is(s.firstProblem, null);
  t.is(s.checked, report.events);
  t.is(s.unsignedKeyEvents, 0);
  t.is(s.unsignedInstanceEvents, 3, 'one ConfigRead per instance: written before its keystore exists');
  t.is(s.signed, report.events - 3);
  t.is(s.verified, s.signed, 'every signature verified');
  t.true(s.verified > 10);
  t.deepEqual(s.deployments, [
    {
      stream: DSTREAM,
      genesis: { installationId: a!.id, thumbprint: keystoreThumbprint(a!.file), revision: '1', declared: false, afterDeletion: false },
      members: 3,
    },
  ]);

  const human = await c!.run('verify', '--signatures');
  t.is(human.code, 0);
  t.regex(human.stdout, /^ledger intact: \d+ events in 4 streams, every hash verified\n/);
  t.regex(
    human.stdout,
    new RegExp(`signatures: ${s.checked} events checked, ${s.verified} signatures verified, 0 unsigned key events, 3 unsigned instance events`),
  );

  // Plain verify is as it was: no signature section.
  const plain = await verifyJson(b!);
  t.is(plain.code, 0);
  t.false('signatures' in plain.report);
  t.regex(
    (await b!.run('verify')).stdout,
    new RegExp(`^ledger intact: ${report.events} events in 4 streams, every hash verified\ntree: ${report.events} events, root \\S+; its index matches\n$`),
  );
});

test('a forged copy (SymmetricKeyWrapped re-written, chain re-hashed): plain verify exit 0, --signatures exit 4 naming the event', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-vsig');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const crypto = joseCrypto();
  const planted = crypto.createSymmetricKey();
  const registered = (await deploymentEvents(dir)).find((e) => e.event.type === 'PublicKeyStored' && e.event.data.installationId === b!.id)!;
  const bKey = registered.event.type === 'PublicKeyStored' ? registered.event.data.publicKey : undefined;
  const jwe = rightOf(await crypto.wrap(planted, bKey!)());
  const { revision } = await wrapOf(dir, b!.id);
  rewriteAndRehash(ledgerFile(dir), DSTREAM, revision, (d) => ({ ...d, copy: { ...(d['copy'] as object), jwe } }));

  t.is((await a!.run('verify')).code, 0, 'the re-hashed chain is intact: the hash chain alone does not catch this');
  const { code, report } = await verifyJson(a!, '--signatures');
  t.is(code, 4);
  t.deepEqual(report.problems, [], 'no hash problem');
  t.deepEqual(report.signatures!.problems, [
    {
      scope: 'deployment',
      stream: DSTREAM,
      revision: String(revision),
      eventType: 'SymmetricKeyWrapped',
      problem: 'bad-signature',
      signedBy: a!.id,
      signingKey: report.signatures!.problems[0]!.signingKey,
    },
  ]);
  t.deepEqual(report.signatures!.firstProblem, { stream: DSTREAM, revision: String(revision) });

  const human = await a!.run('verify', '--signatures');
  t.is(human.code, 4);
  const lines = human.stdout.trimEnd().split('\n');
  t.is(
    lines[0],
    `UNTRUSTED ${DSTREAM}@${revision} (SymmetricKeyWrapped): bad-signature: ` +
      `its signature does not verify under the key installation ${a!.id} registered: the event or its signature was altered`,
  );
  t.regex(lines[1]!, /^signatures: \d+ events checked, \d+ signatures verified, 0 unsigned key events, 2 unsigned instance events .*1 problem\(s\)$/);
  t.regex(lines[2]!, new RegExp(`^${DSTREAM}: genesis [\\w-]{43} \\(installation ${a!.id}, created the first key at @1\\), 1 certified member\\(s\\)$`));
  t.is(lines[3], `1 problem(s) in ${report.events} events. Restore the store from a backup taken before the first problem (${DSTREAM}@${revision}).`);
  // The attacker rebuilt the tree index over the forged copy (test/support/tamper.ts): only a checkpoint from before tells (ADR 0018).
  t.regex(lines[4]!, new RegExp(`^tree: ${report.events} events, root \\S+; its index matches \\(${report.events} events not indexed yet\\)$`));
  t.is(lines.length, 5);
});

test('a signature stripped from a key event (chain re-hashed): reported as an unsigned key event', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-vsig');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const { revision } = await wrapOf(dir, b!.id);
  rewriteAndRehash(
    ledgerFile(dir),
    DSTREAM,
    revision,
    (d) => d,
    ({ sig: _sig, ...rest }) => rest,
  );
  t.is(JSON.parse(rowOf(ledgerFile(dir), DSTREAM, revision).metadata).sig, undefined);

  t.is((await a!.run('verify')).code, 0);
  const { code, report } = await verifyJson(b!, '--signatures');
  t.is(code, 4);
  t.is(report.signatures!.unsignedKeyEvents, 1);
  t.deepEqual(
    report.signatures!.problems.map((p) => [p.scope, p.stream, p.revision, p.eventType, p.problem, p.signedBy]),
    [['deployment', DSTREAM, String(revision), 'SymmetricKeyWrapped', 'unsigned', null]],
  );
  t.regex(
    (await b!.run('verify', '--signatures')).stdout,
    new RegExp(`^UNTRUSTED ${DSTREAM}@${revision} \\(SymmetricKeyWrapped\\): unsigned: a key event without a signature`),
  );
});

test("a removed member's own valid signature on an event appended after its removal: reported as a signer no longer registered", async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-vsig');
  const [a, , c] = await activatedDeployment(dir, ['A', 'B', 'C']);
  const removed = await a!.run('remove', c!.id);
  t.is(removed.code, 0, removed.stderr);
  t.is((await a!.run('--json', 'verify', '--signatures')).code, 0, 'the removal itself is signed by a member');

  // C still holds its keystore: it re-grants itself its old copy, signed with its own (valid) key, appended after its removal.
  const own = (await wrapOf(dir, c!.id)).event;
  const signer = await signerOfNode(c!);
  const forged: LedgerEvent = {
    type: 'SymmetricKeyWrapped',
    data: { ...own.data, wrappedBy: c!.id, wrappedByThumbprint: own.data.copy.recipientThumbprint, recipientSigningThumbprint: signer.thumbprint },
  };
  const events = await deploymentEvents(dir);
  const last = events[events.length - 1]!;
  const store = openTestStore(ledgerFile(dir));
  try {
    const sealed = rightOf(sealEvents(DSTREAM, { revision: last.revision, hash: last.metadata.hash }, [forged], aContext('join'), sha256Hex, signer));
    t.true(E.isRight(await store.append(DSTREAM, sealed, last.revision)()));
  } finally {
    await store.close();
  }
  const revision = String(last.revision + 1n);

  t.is((await a!.run('verify')).code, 0, 'a validly sealed event: the hash chain has nothing to say');
  const { code, report } = await verifyJson(a!, '--signatures');
  t.is(code, 4);
  t.deepEqual(
    report.signatures!.problems.map((p) => [p.scope, p.revision, p.eventType, p.problem, p.signedBy, p.signingKey]),
    [['deployment', revision, 'SymmetricKeyWrapped', 'signer-not-registered', c!.id, signer.thumbprint]],
  );
  t.regex(
    (await a!.run('verify', '--signatures')).stdout,
    new RegExp(`UNTRUSTED ${DSTREAM}@${revision} \\(SymmetricKeyWrapped\\): signer-not-registered: signed by installation ${c!.id}, which has no registered`),
  );
});

test("an instance's event re-signed by another member's key (chain re-hashed): reported whether it names that member or the instance", async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-vsig');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const stream = instanceStream(b!.id);
  const activated = (await instanceEvents(dir, b!.id)).find((e) => e.event.type === 'InstanceActivated')!;
  const revision = Number(activated.revision);
  const aSigner = await signerOfNode(a!);
  const resign =
    (by: string) =>
    (metadata: Record<string, unknown>, data: Record<string, unknown>): Record<string, unknown> => {
      const { sig: _sig, ...rest } = metadata;
      const text = eventSigningText(stream, BigInt(revision), 'InstanceActivated', data, rest as never);
      return { ...rest, sig: { alg: 'Ed25519', by, key: aSigner.thumbprint, value: aSigner.sign(text) } };
    };

  rewriteAndRehash(ledgerFile(dir), stream, revision, (d) => d, resign(a!.id));
  t.is((await a!.run('verify')).code, 0);
  const byA = await verifyJson(a!, '--signatures');
  t.is(byA.code, 4);
  t.deepEqual(
    byA.report.signatures!.problems.map((p) => [p.scope, p.stream, p.revision, p.eventType, p.problem, p.signedBy, p.signingKey]),
    [['instance', stream, String(revision), 'InstanceActivated', 'signed-by-another-installation', a!.id, aSigner.thumbprint]],
  );

  rewriteAndRehash(ledgerFile(dir), stream, revision, (d) => d, resign(b!.id));
  t.is((await a!.run('verify')).code, 0);
  const asB = await verifyJson(a!, '--signatures');
  t.is(asB.code, 4);
  t.deepEqual(
    asB.report.signatures!.problems.map((p) => [p.scope, p.revision, p.problem, p.signedBy, p.signingKey]),
    [['instance', String(revision), 'unknown-signing-key', b!.id, aSigner.thumbprint]],
  );
  t.regex(
    (await a!.run('verify', '--signatures')).stdout,
    new RegExp(`UNTRUSTED ${stream}@${revision} \\(InstanceActivated\\): unknown-signing-key: signed with a key`),
  );
});

test("an instance stream taken over (another signing key registered in KeyPairIssued, every event re-signed with it): the deployment's pairing tells", async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-vsig');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const stream = instanceStream(b!.id);
  const events = await instanceEvents(dir, b!.id);
  const issued = events.find((e) => e.event.type === 'KeyPairIssued')!;
  const rsa = issued.event.type === 'KeyPairIssued' ? issued.event.data.thumbprint : '';
  // The attacker's own signing key, with a valid proof of possession over B's (public) RSA thumbprint.
  const evil = signatures.generate();
  const registration = {
    signingKey: evil.publicKey,
    signingThumbprint: evil.thumbprint,
    signingKeyProof: signatures.sign(evil.handle, proofOfPossessionText(b!.id, rsa, evil.thumbprint)),
  };
  for (const e of events.filter((x) => x.metadata.sig !== undefined)) {
    const r = Number(e.revision);
    rewriteAndRehash(
      ledgerFile(dir),
      stream,
      r,
      (d) => (e.event.type === 'KeyPairIssued' ? { ...d, ...registration } : d),
      ({ sig: _sig, ...rest }, data) => {
        const value = signatures.sign(evil.handle, eventSigningText(stream, BigInt(r), e.event.type, data, rest as never));
        return { ...rest, sig: { alg: 'Ed25519', by: b!.id, key: evil.thumbprint, value } };
      },
    );
  }
  t.is((await a!.run('verify')).code, 0);
  const { code, report } = await verifyJson(a!, '--signatures');
  t.is(code, 4);
  t.deepEqual(
    report.signatures!.problems.map((p) => [p.scope, p.stream, p.revision, p.eventType, p.problem]),
    [['instance', stream, String(issued.revision), 'KeyPairIssued', 'signing-key-not-the-deployments']],
  );
});

test('stored text is escaped in the human output: a control sequence in a signature names itself, it does not reach the terminal', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-vsig');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const { revision } = await wrapOf(dir, b!.id);
  const evil = '\u001b[2J\u001b[1;1Hledger intact\u202e';
  rewriteAndRehash(
    ledgerFile(dir),
    DSTREAM,
    revision,
    (d) => d,
    (m) => ({ ...m, sig: { ...(m['sig'] as object), by: evil } }),
  );
  const human = await a!.run('verify', '--signatures');
  t.is(human.code, 4);
  t.false(human.stdout.includes('\u001b') || human.stdout.includes('\u202e'), 'no raw control or bidi character');
  t.true(human.stdout.includes('installation \\u001b[2J\\u001b[1;1Hledger intact\\u202e registered'), human.stdout);
  const { report } = await verifyJson(a!, '--signatures');
  t.is(report.signatures!.problems[0]!.signedBy, evil, 'JSON carries the stored value, JSON-escaped');
});

test('an identity change (signed by the old signing key, which certifies the new): verify --signatures finds nothing', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-vsig');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const changed = await b!.run('change-identity', 'svc-new');
  t.is(changed.code, 0, changed.stderr);
  const { code, report } = await verifyJson(a!, '--signatures');
  t.is(code, 0, JSON.stringify(report.signatures?.problems));
  t.is(report.signatures!.verified, report.signatures!.signed);
  t.is(report.signatures!.deployments[0]!.members, 2);
});

test('a deployment recorded before signatures, then trusted: its old unsigned key events are reported, its new signatures verify', async (t) => {
  t.timeout(90_000);
  const dir = tempDir('kl-vsig');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  toLegacyLedger(ledgerFile(dir));
  for (const n of [a!, b!]) await toLegacyKeystore(n);
  const legacy = await verifyJson(a!, '--signatures');
  t.is(legacy.code, 4);
  t.is(legacy.report.signatures!.signed, 0);
  t.is(legacy.report.signatures!.deployments[0]!.genesis, null);

  // The migration (test/trust.int.ts): A declares itself genesis, B accepts it and registers its signing key, A re-wraps for B.
  const declared = await a!.run('--json', 'trust', '--declare-genesis');
  t.is(declared.code, 0, declared.stderr);
  t.is((await a!.run('start')).code, 0);
  const genesis = declared.json<{ genesis: string }>().genesis;
  const accepted = await b!.run('--json', 'trust', '--expect-genesis', genesis);
  t.is(accepted.code, 0, accepted.stderr);
  t.is((await a!.run('join', b!.id, '--expect-thumbprint', accepted.json<{ signingThumbprint: string }>().signingThumbprint, '--rewrap')).code, 0);
  t.is((await b!.run('start')).code, 0);

  const { code, report } = await verifyJson(a!, '--signatures');
  t.is(code, 4, 'the key events from before signatures cannot be verified by anyone');
  const s = report.signatures!;
  t.deepEqual([...new Set(s.problems.map((p) => `${p.scope}:${p.problem}`))], ['deployment:unsigned']);
  t.true(s.problems.every((p) => BigInt(p.revision) < BigInt(s.deployments[0]!.genesis!.revision)));
  t.like(s.deployments[0], { genesis: { installationId: a!.id, thumbprint: genesis, declared: true }, members: 2 });
  // Instance events signed with keys only the deployment registered (SigningKeyRegistered) verify.
  t.is(s.verified, s.signed);
  const human = await a!.run('verify', '--signatures');
  t.regex(human.stdout, /\nUnsigned key events before a declared genesis are also what a deployment recorded before signed key events looks like/);
});

test('printable: control, bidi and line-separator characters escaped; ordinary text, quotes and backslashes as they are', (t) => {
  t.is(printable('keyledger.instance-1@2 (InstanceActivated): "x" \\ é ✓'), 'keyledger.instance-1@2 (InstanceActivated): "x" \\ é ✓');
  t.is(printable('a\u001b[31mb\nc\u007f\u009b\u202ed\u2028e\u2066'), 'a\\u001b[31mb\\u000ac\\u007f\\u009b\\u202ed\\u2028e\\u2066');
});
