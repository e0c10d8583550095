/**
 * The content decider (src/domain/content/decider.ts): which secrets exist, under which key version and
 * ciphertext, from the content stream; and its map, which shares all but one bucket between versions.
 */
import test from 'ava';
import * as E from 'fp-ts/Either';
import fc from 'fast-check';
import { type ContentState, decideContent, evolveContent, initialContentState } from '../../src/domain/content/decider';
import { SecretMap } from '../../src/domain/content/secret-map';
import type { ContentEvent, Fingerprint, SecretName } from '../../src/domain/events';
import type { DeploymentId, InstallationId, KeyVersion } from '../../src/domain/ids';

const DEP = 'default' as DeploymentId;
const BY = '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b' as InstallationId;
const V1 = 1 as KeyVersion;
const fp = (c: string): Fingerprint => c.repeat(43) as Fingerprint;
const name = (s: string): SecretName => s as SecretName;

const after = (events: ReadonlyArray<ContentEvent>): ContentState => events.reduce(evolveContent, initialContentState);
const decide = (s: ContentState, c: Parameters<typeof decideContent>[0]): ReadonlyArray<ContentEvent> => {
  const r = decideContent(c, s);
  if (E.isLeft(r)) throw new Error(r.left._tag);
  return r.right;
};

test('put: a new secret, then a new value naming the ciphertext it supersedes; the same ciphertext again records nothing', (t) => {
  const put = (f: Fingerprint, s: ContentState) => decide(s, { type: 'PutSecret', deploymentId: DEP, name: name('a'), keyVersion: V1, fingerprint: f, by: BY });
  const first = put(fp('A'), initialContentState);
  t.like(first[0]?.data, { name: 'a', fingerprint: fp('A'), previousFingerprint: null, putBy: BY });
  const s1 = after(first);
  t.like(put(fp('B'), s1)[0]?.data, { fingerprint: fp('B'), previousFingerprint: fp('A') });
  t.deepEqual(put(fp('A'), s1), []);
  t.like(s1.secrets.get('a'), { fingerprint: fp('A'), revision: 0, keyVersion: 1 });
});

test('delete: the current ciphertext named; a missing secret is SecretMissing; reads change nothing but the revision', (t) => {
  const s = after(decide(initialContentState, { type: 'PutSecret', deploymentId: DEP, name: name('a'), keyVersion: V1, fingerprint: fp('A'), by: BY }));
  const entry = s.secrets.get('a')!;
  const withRead = decide(s, { type: 'RecordRead', deploymentId: DEP, entry, by: BY }).reduce(evolveContent, s);
  t.is(withRead.revision, 1);
  t.is(withRead.secrets, s.secrets);
  t.like(decide(s, { type: 'DeleteSecret', deploymentId: DEP, name: name('a'), by: BY })[0]?.data, { fingerprint: fp('A') });
  t.deepEqual(decideContent({ type: 'DeleteSecret', deploymentId: DEP, name: name('b'), by: BY }, s), E.left({ _tag: 'SecretMissing', name: 'b' }));
});

test('counted reads: one event with per-secret counts in name order; none when nothing was read', (t) => {
  const reads = new Map([
    ['z', 2],
    ['a', 1],
    ['unused', 0],
  ]);
  const [e] = decide(initialContentState, {
    type: 'CountReads',
    deploymentId: DEP,
    by: BY,
    since: '2026-11-29T10:00:00.000Z',
    until: '2026-11-29T11:00:00.000Z',
    reads,
  });
  t.like(e?.data, {
    reads: 3,
    secrets: [
      { name: 'a', reads: 1 },
      { name: 'z', reads: 2 },
    ],
  });
  t.deepEqual(decide(initialContentState, { type: 'CountReads', deploymentId: DEP, by: BY, since: 'x', until: 'y', reads: new Map() }), []);
});

test('SecretMap behaves as a Map under any sequence of sets and deletes, and never changes a version it was derived from', (t) => {
  const op = fc.oneof(
    fc.record({ k: fc.string({ maxLength: 6 }), v: fc.integer(), del: fc.constant(false) }),
    fc.record({ k: fc.string({ maxLength: 6 }), v: fc.constant(0), del: fc.constant(true) }),
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        let m = SecretMap.empty<number>();
        const model = new Map<string, number>();
        const versions: Array<[SecretMap<number>, Map<string, number>]> = [];
        for (const o of ops) {
          m = o.del ? m.delete(o.k) : m.set(o.k, o.v);
          if (o.del) model.delete(o.k);
          else model.set(o.k, o.v);
          versions.push([m, new Map(model)]);
        }
        for (const [v, expected] of versions) {
          if (v.size !== expected.size) return false;
          if ([...v.values()].sort().join() !== [...expected.values()].sort().join()) return false;
          for (const [k, x] of expected) if (v.get(k) !== x || !v.has(k)) return false;
        }
        return true;
      }),
      { numRuns: 200 },
    ),
  );
});
