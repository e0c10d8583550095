/**
 * The envelope: canonical JSON, sealing events into a stream's hash chain
 * (refusing anything its codec does not define exactly), decoding stored
 * records, and checking links.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import * as E from 'fp-ts/Either';
import fc from 'fast-check';
import {
  canonicalJson,
  checkLink as checkWith,
  type CommandContext,
  decodeRecorded,
  type EventMetadata,
  GENESIS,
  hashEvent as hashWith,
  sealEvents as sealWith,
} from '../../src/domain/envelope';
import { type CompactJwe, type LedgerEvent, MAX_REENCRYPTED_PER_EVENT, type PublicJwk } from '../../src/domain/events';
import { type InstallationId, instanceStream, type NonEmptyString, type Thumbprint, deploymentStream } from '../../src/domain/ids';
import type { EventData, RecordedEvent } from '../../src/ports/event-store';
import { anInstance, b64u, DEPLOYMENT, NODE_1 as ID, V1 } from '../support/domain-builders';
import { rightOf } from '../support/fixtures';
import { sha256Hex } from '../../src/infra/sha256';

// The envelope functions take their digest as a parameter; these tests use the one the ledger uses.
const sealEvents = (stream: string, last: { revision: bigint | 'no_stream'; hash: string }, events: ReadonlyArray<LedgerEvent>, ctx: CommandContext) =>
  sealWith(stream, last, events, ctx, sha256Hex);
const checkLink = (e: Parameters<typeof checkWith>[0], prevHash: string) => checkWith(e, prevHash, sha256Hex);
const hashEvent = (stream: string, revision: bigint, type: string, data: unknown, metadata: Omit<EventMetadata, 'hash'>) =>
  hashWith(sha256Hex, stream, revision, type, data, metadata);

// ─── Test data ────────────────────────────────────────────────────────────

const STREAM = instanceStream(ID);
/** RFC 7638 §3.1's example key and its thumbprint. */
const RFC_N =
  '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64t' +
  'Z_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO' +
  'pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw';
const TP = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' as Thumbprint;
const PUBLIC_KEY = { kty: 'RSA', n: RFC_N, e: 'AQAB', alg: 'RSA-OAEP-256', use: 'enc', kid: TP } as unknown as PublicJwk;

const jwe = (header: object): string =>
  [b64u(JSON.stringify(header)), b64u(Buffer.alloc(256, 7)), b64u(Buffer.alloc(12, 1)), b64u(Buffer.alloc(32, 2)), b64u(Buffer.alloc(16, 3))].join('.');
const GOOD_JWE = jwe({ alg: 'RSA-OAEP-256', kid: TP, enc: 'A256GCM' }) as CompactJwe;

const node = anInstance(ID, TP, { publicKey: PUBLIC_KEY });
const configRead: LedgerEvent = node.configRead;
const keyPairIssued: LedgerEvent = node.keyPairIssued;
const activated: LedgerEvent = node.activated();
const wrapped = (j: string): LedgerEvent =>
  ({
    type: 'SymmetricKeyWrapped',
    data: { deploymentId: DEPLOYMENT, keyVersion: V1, copy: { installationId: ID, recipientThumbprint: TP, jwe: j }, wrappedBy: ID, wrappedByThumbprint: TP },
  }) as LedgerEvent;

/** A context with a fixed clock and numbered ids: sealing is then deterministic. */
const fixedContext = (): CommandContext => {
  let n = 0;
  return {
    actor: 'operator@test',
    command: 'start',
    correlationId: 'corr-1',
    causationId: 'cause-1',
    now: () => new Date('2026-11-28T12:00:00.000Z'),
    newId: () => `evt-${++n}`,
  };
};

const toRecorded = (stream: string, first: bigint, sealed: ReadonlyArray<EventData>): RecordedEvent[] =>
  sealed.map((e, i) => ({
    id: e.id,
    streamName: stream,
    revision: first + BigInt(i),
    position: { commit: 100n + BigInt(i), prepare: 100n + BigInt(i) },
    type: e.type,
    data: e.data,
    metadata: e.metadata,
  }));

const md = (e: EventData): EventMetadata => e.metadata as EventMetadata;

// ─── canonicalJson ────────────────────────────────────────────────────────

test('canonicalJson: key order does not matter, and there are no spaces', (t) => {
  t.is(canonicalJson({ b: 1, a: 'x', c: true }), '{"a":"x","b":1,"c":true}');
  t.is(canonicalJson({ c: true, a: 'x', b: 1 }), canonicalJson({ b: 1, a: 'x', c: true }));
});

test('canonicalJson: nested objects are sorted at every level', (t) => {
  t.is(canonicalJson({ z: { y: 1, x: { b: null, a: [] } }, a: {} }), '{"a":{},"z":{"x":{"a":[],"b":null},"y":1}}');
});

test('canonicalJson: arrays keep their order, their objects are sorted', (t) => {
  t.is(canonicalJson([3, 1, { b: 2, a: 1 }, 'x']), '[3,1,{"a":1,"b":2},"x"]');
  t.not(canonicalJson([1, 2]), canonicalJson([2, 1]));
});

test('canonicalJson: undefined members are left out, strings are JSON-escaped', (t) => {
  t.is(canonicalJson({ a: undefined, b: 'quote " and \\ and é' }), '{"b":"quote \\" and \\\\ and é"}');
});

test('canonicalJson: refuses NaN and infinities, even nested', (t) => {
  t.throws(() => canonicalJson(NaN), { instanceOf: TypeError, message: 'non-finite number in canonical JSON' });
  t.throws(() => canonicalJson({ a: [1, Infinity] }), { instanceOf: TypeError, message: 'non-finite number in canonical JSON' });
  t.throws(() => canonicalJson({ a: { b: -Infinity } }), { instanceOf: TypeError });
});

/** canonicalJson as it was first written (member by member, no fast route): the reference for the property below. */
const referenceCanonicalJson = (value: unknown): string => {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number in canonical JSON');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(referenceCanonicalJson).join(',')}]`;
  const record = value as Record<string, unknown>;
  const members = Object.keys(record)
    .sort()
    .filter((k) => record[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${referenceCanonicalJson(record[k])}`);
  return `{${members.join(',')}}`;
};

test('canonicalJson: the same text as member-by-member serialization for any JSON value, in any key order, parsed back or built', (t) => {
  // Keys that sort differently by code unit and by JavaScript's own order (integer-like ones), undefined members, -0.
  const key = fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('0', '1', '10', '9', 'a', 'B', 'é', '\u{1F600}', '__proto__x'));
  const leaf = fc.oneof(
    fc.string({ maxLength: 6 }),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.constant(-0),
  );
  const { tree } = fc.letrec((tie) => ({
    tree: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
    array: fc.array(tie('tree'), { maxLength: 4 }),
    object: fc.dictionary(key, fc.oneof(tie('tree'), fc.constant(undefined)), { maxKeys: 5 }),
  }));
  t.notThrows(() =>
    fc.assert(
      fc.property(tree, (v) => {
        const expected = referenceCanonicalJson(v);
        // As built (any order), and as parsed from canonical text (sorted: the fast route).
        return canonicalJson(v) === expected && canonicalJson(JSON.parse(expected)) === expected;
      }),
      { numRuns: Number(process.env['FUZZ_RUNS'] ?? 500) },
    ),
  );
});

test('canonicalJson: values the native serializer would write otherwise go member by member (a Date, integer-like keys, a nested object out of order)', (t) => {
  const date = new Date(0);
  t.is(canonicalJson({ a: date }), `{"a":${referenceCanonicalJson(date)}}`);
  t.is(canonicalJson({ a: { b: 1, a: 2 }, b: [1] }), '{"a":{"a":2,"b":1},"b":[1]}');
  t.is(canonicalJson({ '10': 1, '9': 2 }), '{"10":1,"9":2}');
});

// ─── sealEvents ───────────────────────────────────────────────────────────

test('sealEvents: a new stream starts at GENESIS, and each prevHash is the hash before it', (t) => {
  const sealed = rightOf(sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [configRead, keyPairIssued, activated], fixedContext()));
  t.is(sealed.length, 3);
  t.deepEqual(
    sealed.map((e) => [e.id, e.type, md(e).eventId]),
    [
      ['evt-1', 'ConfigRead', 'evt-1'],
      ['evt-2', 'KeyPairIssued', 'evt-2'],
      ['evt-3', 'InstanceActivated', 'evt-3'],
    ],
  );
  t.is(md(sealed[0]!).prevHash, GENESIS);
  t.is(md(sealed[1]!).prevHash, md(sealed[0]!).hash);
  t.is(md(sealed[2]!).prevHash, md(sealed[1]!).hash);
  t.is(new Set(sealed.map((e) => md(e).hash)).size, 3);
  sealed.forEach((e, i) => {
    const { hash, ...rest } = md(e);
    t.is(hash, hashEvent(STREAM, BigInt(i), e.type, e.data, rest), `revision ${i}`);
  });
});

test('sealEvents: the metadata carries who, when and why', (t) => {
  const [e] = rightOf(sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [activated], fixedContext()));
  const { hash, ...rest } = md(e!);
  t.regex(hash, /^[0-9a-f]{64}$/);
  t.deepEqual(rest, {
    eventId: 'evt-1',
    occurredAt: '2026-11-28T12:00:00.000Z',
    actor: 'operator@test',
    command: 'start',
    correlationId: 'corr-1',
    causationId: 'cause-1',
    schemaVersion: 1,
    prevHash: GENESIS,
  });
  t.deepEqual(e!.data, activated.data);
});

test('sealEvents: the hash is SHA-256 over the canonical JSON of stream, revision, type, data and metadata (golden value)', (t) => {
  const [e] = rightOf(sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [activated], fixedContext()));
  const expected =
    `{"data":{"deploymentId":"default","installationId":"${ID}","keyVersion":1,"thumbprint":"${TP}"},` +
    `"metadata":{"actor":"operator@test","causationId":"cause-1","command":"start","correlationId":"corr-1","eventId":"evt-1",` +
    `"occurredAt":"2026-11-28T12:00:00.000Z","prevHash":"${GENESIS}","schemaVersion":1},` +
    `"revision":"0","stream":"keyledger.instance-${ID}","type":"InstanceActivated"}`;
  t.is(md(e!).hash, createHash('sha256').update(expected).digest('hex'));
});

test('sealEvents: hashes are deterministic for a fixed clock and ids', (t) => {
  const seal = () => rightOf(sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [configRead, keyPairIssued, activated], fixedContext()));
  t.deepEqual(seal(), seal());
});

test('sealEvents: another clock reading gives another hash', (t) => {
  const later: CommandContext = { ...fixedContext(), now: () => new Date('2026-11-28T12:00:01.000Z') };
  const [a] = rightOf(sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [activated], fixedContext()));
  const [b] = rightOf(sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [activated], later));
  t.not(md(a!).hash, md(b!).hash);
});

test('sealEvents: appending after revision 4 links to its hash and hashes as revision 5', (t) => {
  const last = createHash('sha256').update('revision 4').digest('hex');
  const [e] = rightOf(sealEvents(STREAM, { revision: 4n, hash: last }, [activated], fixedContext()));
  t.is(md(e!).prevHash, last);
  t.is(checkLink({ stream: STREAM, revision: 5n, type: e!.type, data: e!.data, metadata: md(e!) }, last), 'ok');
  t.is(checkLink({ stream: STREAM, revision: 0n, type: e!.type, data: e!.data, metadata: md(e!) }, last), 'hash-mismatch');
});

test('sealEvents: a SecretsReencrypted carries 1 to 1,000 secrets with distinct names; refused empty, larger, or naming one twice', (t) => {
  const entry = (i: number) => ({ fingerprint: 'F'.repeat(43), name: `s${i}`, previousFingerprint: 'P'.repeat(43) });
  const batch = (secrets: ReadonlyArray<ReturnType<typeof entry>>) =>
    ({
      type: 'SecretsReencrypted',
      data: { deploymentId: DEPLOYMENT, keyVersion: 2, previousKeyVersion: 1, reencryptedBy: ID, secrets },
    }) as LedgerEvent;
  const seal = (e: LedgerEvent) => sealEvents('keyledger.content-default', { revision: 'no_stream', hash: GENESIS }, [e], fixedContext());
  const full = Array.from({ length: MAX_REENCRYPTED_PER_EVENT }, (_, i) => entry(i));
  t.true(E.isRight(seal(batch(full))));
  t.true(E.isRight(seal(batch([entry(0)]))));
  for (const bad of [[], [...full, entry(MAX_REENCRYPTED_PER_EVENT)], [entry(1), entry(1)]])
    t.like(seal(batch(bad)), { _tag: 'Left', left: { _tag: 'InvalidEvent', eventType: 'SecretsReencrypted' } }, `${bad.length} secrets`);
});

test('sealEvents: nothing to seal gives nothing', (t) => {
  t.deepEqual(sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [], fixedContext()), E.right([]));
});

test('sealEvents: refuses an event whose data has a field its schema does not define', (t) => {
  const extra = { type: 'ConfigRead', data: { ...configRead.data, adminPassword: 'hunter2' } } as unknown as LedgerEvent;
  t.deepEqual(
    sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [extra], fixedContext()),
    E.left({ _tag: 'InvalidEvent', stream: STREAM, eventType: 'ConfigRead', problem: 'the event carries fields its schema does not define' }),
  );
});

test('sealEvents: refuses an extra field nested in the data (credentials in the store reference)', (t) => {
  const d = configRead.data as Extract<LedgerEvent, { type: 'ConfigRead' }>['data'];
  const extra = { type: 'ConfigRead', data: { ...d, store: { ...d.store, password: 'changeit' } } } as unknown as LedgerEvent;
  t.deepEqual(
    sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [extra], fixedContext()),
    E.left({ _tag: 'InvalidEvent', stream: STREAM, eventType: 'ConfigRead', problem: 'the event carries fields its schema does not define' }),
  );
});

test('sealEvents: refuses the whole batch when one event is invalid (nothing half-sealed)', (t) => {
  const bad = { type: 'InstanceActivated', data: { ...activated.data, keyVersion: 0 } } as unknown as LedgerEvent;
  const r = sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [configRead, bad], fixedContext());
  if (E.isRight(r)) return t.fail(`expected a Left, got ${r.right.length} sealed events`);
  t.deepEqual({ ...r.left, problem: '' }, { _tag: 'InvalidEvent', stream: STREAM, eventType: 'InstanceActivated', problem: '' });
  t.is(r.left.problem, 'data.keyVersion: expected KeyVersion');
});

test('sealEvents: refuses a KeyPairIssued whose public key carries the private member d', (t) => {
  const d = createHash('sha512').update('private exponent').digest('base64url');
  const leaky = { type: 'KeyPairIssued', data: { ...keyPairIssued.data, publicKey: { ...PUBLIC_KEY, d } } } as unknown as LedgerEvent;
  const r = sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [leaky], fixedContext());
  if (E.isRight(r)) return t.fail('a public key with d was sealed');
  t.deepEqual({ ...r.left, problem: '' }, { _tag: 'InvalidEvent', stream: STREAM, eventType: 'KeyPairIssued', problem: '' });
  t.is(r.left.problem, 'data.publicKey: expected PublicJwk(no private members)');
  t.false(r.left.problem.includes(d), 'the problem must not echo the private member');
});

for (const member of ['p', 'q', 'dp', 'dq', 'qi'] as const) {
  test(`sealEvents: refuses a public key carrying the private member ${member}`, (t) => {
    const leaky = { type: 'KeyPairIssued', data: { ...keyPairIssued.data, publicKey: { ...PUBLIC_KEY, [member]: 'AQAB' } } } as unknown as LedgerEvent;
    const r = sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [leaky], fixedContext());
    t.is(E.isLeft(r) ? r.left._tag : 'sealed', 'InvalidEvent');
    t.is(E.isLeft(r) ? r.left.eventType : 'sealed', 'KeyPairIssued');
  });
}

test('sealEvents: seals a SymmetricKeyWrapped whose JWE header is RSA-OAEP-256 + A256GCM', (t) => {
  const [e] = rightOf(sealEvents(deploymentStream(DEPLOYMENT), { revision: 'no_stream', hash: GENESIS }, [wrapped(GOOD_JWE)], fixedContext()));
  t.deepEqual(e!.data, wrapped(GOOD_JWE).data);
});

const badJwes: ReadonlyArray<[string, string]> = [
  ['its header says alg RSA1_5', jwe({ alg: 'RSA1_5', kid: TP, enc: 'A256GCM' })],
  ['its header says alg RSA-OAEP (SHA-1)', jwe({ alg: 'RSA-OAEP', kid: TP, enc: 'A256GCM' })],
  ['its header says enc A128CBC-HS256', jwe({ alg: 'RSA-OAEP-256', kid: TP, enc: 'A128CBC-HS256' })],
  ['it has 4 parts', GOOD_JWE.split('.').slice(0, 4).join('.')],
  ['its header is not JSON', ['bm90IGpzb24', ...GOOD_JWE.split('.').slice(1)].join('.')],
];
for (const [why, j] of badJwes) {
  test(`sealEvents: refuses a SymmetricKeyWrapped whose JWE ${why}`, (t) => {
    const r = sealEvents(deploymentStream(DEPLOYMENT), { revision: 'no_stream', hash: GENESIS }, [wrapped(j)], fixedContext());
    if (E.isRight(r)) return t.fail('sealed a wrapped key that is not RSA-OAEP-256 + A256GCM');
    t.deepEqual({ ...r.left, problem: '' }, { _tag: 'InvalidEvent', stream: deploymentStream(DEPLOYMENT), eventType: 'SymmetricKeyWrapped', problem: '' });
    t.is(r.left.problem, 'data.copy.jwe: expected CompactJwe');
  });
}

test('sealEvents: refuses an empty actor (invalid metadata)', (t) => {
  t.deepEqual(
    sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [activated], { ...fixedContext(), actor: '  ' }),
    E.left({ _tag: 'InvalidEvent', stream: STREAM, eventType: 'InstanceActivated', problem: 'invalid metadata (actor or clock)' }),
  );
});

// ─── decodeRecorded ───────────────────────────────────────────────────────

test('decodeRecorded: a sealed event decodes back to the event with its metadata', (t) => {
  const sealed = rightOf(sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [configRead, keyPairIssued], fixedContext()));
  const recorded = toRecorded(STREAM, 0n, sealed);
  t.deepEqual(
    recorded.map((r) => rightOf(decodeRecorded(r))),
    [
      { stream: STREAM, revision: 0n, position: { commit: 100n, prepare: 100n }, event: configRead, metadata: md(sealed[0]!) },
      { stream: STREAM, revision: 1n, position: { commit: 101n, prepare: 101n }, event: keyPairIssued, metadata: md(sealed[1]!) },
    ],
  );
});

test('decodeRecorded: an unknown event type is a CorruptEvent naming stream and revision', (t) => {
  const [r] = toRecorded(STREAM, 7n, rightOf(sealEvents(STREAM, { revision: 6n, hash: GENESIS }, [activated], fixedContext())));
  t.deepEqual(
    decodeRecorded({ ...r!, type: 'InstanceTeleported' }),
    E.left({ _tag: 'CorruptEvent', stream: STREAM, revision: 7n, eventType: 'InstanceTeleported', problem: 'unknown event type "InstanceTeleported"' }),
  );
});

test('decodeRecorded: a known type with bad data is a CorruptEvent naming the schema', (t) => {
  const [r] = toRecorded(STREAM, 3n, rightOf(sealEvents(STREAM, { revision: 2n, hash: GENESIS }, [activated], fixedContext())));
  const result = decodeRecorded({ ...r!, data: { ...activated.data, thumbprint: 'not a thumbprint' } });
  if (E.isRight(result)) return t.fail('decoded bad data');
  t.deepEqual({ ...result.left, problem: '' }, { _tag: 'CorruptEvent', stream: STREAM, revision: 3n, eventType: 'InstanceActivated', problem: '' });
  t.is(result.left.problem, 'its data does not match the InstanceActivated schema: data.thumbprint: expected Thumbprint');
  t.false(result.left.problem.includes('not a thumbprint'), 'values are never echoed: they could be key material');
});

test('decodeRecorded: bad metadata is a CorruptEvent', (t) => {
  const [r] = toRecorded(STREAM, 0n, rightOf(sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [activated], fixedContext())));
  const result = decodeRecorded({ ...r!, metadata: { ...(r!.metadata as EventMetadata), occurredAt: 'yesterday' } });
  if (E.isRight(result)) return t.fail('decoded bad metadata');
  t.deepEqual({ ...result.left, problem: '' }, { _tag: 'CorruptEvent', stream: STREAM, revision: 0n, eventType: 'InstanceActivated', problem: '' });
  t.is(result.left.problem, 'its metadata is invalid: occurredAt: expected IsoDate');
  const nullMetadata = decodeRecorded({ ...r!, metadata: null });
  t.is(E.isLeft(nullMetadata) ? nullMetadata.left._tag : 'decoded', 'CorruptEvent');
});

test('decodeRecorded never throws, whatever it is given', (t) => {
  const junk: ReadonlyArray<unknown> = [null, undefined, 42, 'x', [], { type: 'ConfigRead' }];
  for (const data of junk)
    t.notThrows(() =>
      decodeRecorded({ id: 'x', streamName: STREAM, revision: 0n, position: { commit: 0n, prepare: 0n }, type: 'ConfigRead', data, metadata: data }),
    );
});

// ─── checkLink ────────────────────────────────────────────────────────────

const sealedChain = () => {
  const sealed = rightOf(sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [configRead, keyPairIssued, activated], fixedContext()));
  return sealed.map((e, i) => ({ stream: STREAM, revision: BigInt(i), type: e.type, data: e.data, metadata: md(e) }));
};

test('checkLink: an untouched chain links', (t) => {
  const chain = sealedChain();
  t.deepEqual(
    chain.map((e, i) => checkLink(e, i === 0 ? GENESIS : chain[i - 1]!.metadata.hash)),
    ['ok', 'ok', 'ok'],
  );
});

test('checkLink: an edited data field is a hash mismatch', (t) => {
  const [, second] = sealedChain();
  const edited = { ...second!, data: { ...(second!.data as object), serviceIdentity: 'CONTOSO\\svc-reports' } };
  t.is(checkLink(edited, second!.metadata.prevHash), 'hash-mismatch');
});

test('checkLink: an edited metadata field or type is a hash mismatch', (t) => {
  const [first] = sealedChain();
  t.is(checkLink({ ...first!, metadata: { ...first!.metadata, actor: 'mallory' as NonEmptyString } }, GENESIS), 'hash-mismatch');
  t.is(checkLink({ ...first!, stream: instanceStream('0a6e1f3c-2b7d-4e9a-8c5f-1d3b6a9e2f4c' as InstallationId) }, GENESIS), 'hash-mismatch');
});

test('checkLink: a wrong prevHash (an event removed before it) is a broken chain', (t) => {
  const chain = sealedChain();
  t.is(checkLink(chain[2]!, chain[0]!.metadata.hash), 'chain-broken');
  t.is(checkLink(chain[1]!, GENESIS), 'chain-broken');
});

test('checkLink: a re-sealed edit (hash recomputed) still breaks the next link', (t) => {
  const chain = sealedChain();
  const second = chain[1]!;
  const data = { ...(second.data as object), keySize: 4096 };
  const { hash: _old, ...rest } = second.metadata;
  const forged = { ...second, data, metadata: { ...second.metadata, hash: hashEvent(STREAM, 1n, second.type, data, rest) } };
  t.is(checkLink(forged, chain[0]!.metadata.hash), 'ok');
  t.is(checkLink(chain[2]!, forged.metadata.hash), 'chain-broken');
});

// ─── Upcasting: refusals recorded by session 1 ────────────────────────────

test("a refusal stored with `kind` (session 1) is read as `_tag`, its hash still verifies, and today's writer refuses that old shape", (t) => {
  const stream = 'keyledger.instance-6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b';
  const data = {
    installationId: '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b',
    deploymentId: 'default',
    reason: { kind: 'NoWrappedCopy', keyVersion: 1 },
  };
  const base = {
    eventId: 'e-1',
    occurredAt: '2026-11-28T12:00:00.000Z',
    actor: 'operator@test',
    command: 'start',
    correlationId: 'c',
    causationId: 'c',
    schemaVersion: 1 as const,
    prevHash: GENESIS,
  };
  const metadata = { ...base, hash: hashEvent(stream, 0n, 'InstanceActivationRefused', data, base as never) };
  const decoded = decodeRecorded({
    id: 'e-1',
    streamName: stream,
    revision: 0n,
    position: { commit: 0n, prepare: 0n },
    type: 'InstanceActivationRefused',
    data,
    metadata,
  });
  if (E.isLeft(decoded)) return t.fail(JSON.stringify(decoded.left));
  const ev = decoded.right.event;
  t.deepEqual(ev.type === 'InstanceActivationRefused' ? ev.data.reason : undefined, { _tag: 'NoWrappedCopy', keyVersion: 1 });
  t.is(checkLink({ stream, revision: 0n, type: ev.type, data, metadata: decoded.right.metadata }, GENESIS), 'ok', 'the chain covers the stored bytes');
  const ctx: CommandContext = { actor: 'a', command: 'start', correlationId: 'c', causationId: 'c', now: () => new Date(0), newId: () => 'id' };
  const rewritten = sealEvents(stream, { revision: 'no_stream', hash: GENESIS }, [{ type: 'InstanceActivationRefused', data } as never], ctx);
  t.true(E.isLeft(rewritten), 'a new event must use the _tag shape');
});

test('checkLink over stored canonical text: the fast route gives the same answers, and other text falls back to re-serializing', (t) => {
  const d = rightOf(sealEvents(STREAM, { revision: 'no_stream', hash: GENESIS }, [configRead], fixedContext()))[0]!;
  const md = d.metadata as EventMetadata;
  const e = { stream: STREAM, revision: 0n, type: d.type, data: d.data, metadata: md };
  const canonical = { data: canonicalJson(d.data), metadata: canonicalJson(d.metadata) };
  t.is(checkWith({ ...e, text: canonical }, GENESIS, sha256Hex), 'ok');
  t.is(checkWith({ ...e, text: { data: JSON.stringify(d.data, null, 2), metadata: JSON.stringify(d.metadata) } }, GENESIS, sha256Hex), 'ok');
  const edited = { data: canonical.data.replace('"RS-', '"XX-'), metadata: canonical.metadata };
  t.not(edited.data, canonical.data);
  t.is(checkWith({ ...e, data: JSON.parse(edited.data), text: edited }, GENESIS, sha256Hex), 'hash-mismatch');
  t.is(checkWith({ ...e, text: canonical }, 'f'.repeat(64), sha256Hex), 'chain-broken');
});
