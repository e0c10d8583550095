/**
 * decodeRecorded takes an event that already has its decoded shape as it is (no copy) and decodes the rest:
 * the result must be exactly what decoding gives — members the schema does not define stripped at any depth,
 * older shapes upcast (issue 10: a fleet's catch-up decodes millions of events).
 */
import test from 'ava';
import fc from 'fast-check';
import * as E from 'fp-ts/Either';
import { decodeRecorded } from '../../src/domain/envelope';
import { LedgerEvent } from '../../src/domain/events';
import { hasUndefinedMembers } from '../../src/domain/exact';
import {
  activated,
  aBasis,
  configRead,
  copyFor,
  keyCreated,
  keyPairIssued,
  keyWrapped,
  NODE_1,
  NODE_2,
  publicKeyStored,
  refused,
  removed,
  TP_1,
  TP_2,
  V1,
} from '../support/domain-builders';

const samples: ReadonlyArray<{ type: string; data: unknown }> = [
  configRead(NODE_1),
  keyPairIssued(NODE_1, TP_1),
  publicKeyStored(NODE_1, TP_1),
  keyCreated(NODE_1, TP_1),
  keyWrapped(NODE_2, TP_2, V1),
  activated(NODE_1, TP_1),
  { ...activated(NODE_1, TP_1), data: { ...activated(NODE_1, TP_1).data, basis: aBasis(NODE_1, TP_1, 3) } },
  refused(NODE_1, { _tag: 'NoWrappedCopy', keyVersion: V1 }),
  {
    ...refused(NODE_1, { _tag: 'NoWrappedCopy', keyVersion: V1 }),
    data: { ...refused(NODE_1, { _tag: 'NoWrappedCopy', keyVersion: V1 }).data, basis: aBasis(NODE_1, null, -1) },
  },
  removed(NODE_2, TP_2, V1),
];

const recorded = (e: { type: string; data: unknown }) => ({
  id: 'e',
  streamName: 's',
  revision: 0n,
  position: { commit: 0n, prepare: 0n },
  type: e.type,
  data: e.data,
  metadata: {
    eventId: 'e',
    occurredAt: '2026-11-29T00:00:00.000Z',
    actor: 'a',
    command: 'c',
    correlationId: 'c',
    causationId: 'c',
    schemaVersion: 1,
    prevHash: '0'.repeat(64),
    hash: '1'.repeat(64),
  },
});

/** Adds `key: value` to the object at a random path of `v` (the whole value, or a nested object). */
const withExtra = (v: unknown, pick: number, key: string, value: unknown): unknown => {
  const objects: Array<Record<string, unknown>> = [];
  const copy = (x: unknown): unknown => {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) return x;
    const o: Record<string, unknown> = {};
    for (const [k, y] of Object.entries(x)) o[k] = copy(y);
    objects.push(o);
    return o;
  };
  const out = copy(v);
  const target = objects[pick % objects.length]!;
  if (!(key in target)) target[key] = value;
  return out;
};

test('an event as is, or with members its schema does not define at any depth: decodeRecorded gives exactly what decoding gives', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.nat(),
        fc.string({ minLength: 1, maxLength: 8 }),
        fc.jsonValue(),
        fc.boolean(),
        (e, pick, key, value, extra) => {
          const given = extra ? { ...e, data: withExtra(e.data, pick, key, value) } : e;
          const decoded = decodeRecorded(recorded(given));
          const expected = LedgerEvent.decode(given);
          if (E.isLeft(expected)) {
            if (E.isRight(decoded)) throw new Error(`accepted what decoding refuses: ${JSON.stringify(given)}`);
            return;
          }
          if (E.isLeft(decoded) || JSON.stringify(decoded.right.event) !== JSON.stringify(expected.right))
            throw new Error(`differs from decoding: ${JSON.stringify(given)}`);
        },
      ),
      { numRuns: Number(process.env['FUZZ_RUNS'] ?? 300) },
    ),
  );
});

test('hasUndefinedMembers: nothing extra in a sample; an extra member found at the top, in a nested copy and in a refusal reason', (t) => {
  for (const e of samples) t.false(hasUndefinedMembers(LedgerEvent, e), e.type);
  const w = keyWrapped(NODE_2, TP_2, V1);
  t.true(hasUndefinedMembers(LedgerEvent, { ...w, data: { ...w.data, extra: 1 } }));
  t.true(hasUndefinedMembers(LedgerEvent, { ...w, data: { ...w.data, copy: { ...copyFor(NODE_2, TP_2), extra: 1 } } }));
  const r = refused(NODE_1, { _tag: 'NoWrappedCopy', keyVersion: V1 });
  t.true(hasUndefinedMembers(LedgerEvent, { ...r, data: { ...r.data, reason: { ...r.data.reason, note: 'x' } } }));
});
