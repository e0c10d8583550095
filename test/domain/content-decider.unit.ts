/**
 * The content decider (src/domain/content/decider.ts): which secrets exist, under which key version and
 * ciphertext, from the content stream; and its map, which shares all but one bucket between versions.
 */
import test from 'ava';
import * as E from 'fp-ts/Either';
import fc from 'fast-check';
import { type ContentState, contentEventProblem, decideContent, evolveContent, initialContentState } from '../../src/domain/content/decider';
import type { StoredEvent } from '../../src/domain/envelope';
import type { Trust } from '../../src/domain/trust';
import { SecretMap } from '../../src/domain/content/secret-map';
import type { ContentEvent, Fingerprint, SecretName, SigningJwk } from '../../src/domain/events';
import type { DeploymentId, InstallationId, KeyVersion } from '../../src/domain/ids';

const DEP = 'default' as DeploymentId;
const BY = '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b' as InstallationId;
const V1 = 1 as KeyVersion;
const THUMB = 't'.repeat(43);
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

const V2 = 2 as KeyVersion;
const OTHER = '0b6e2f3a-1c4d-4e5f-8a9b-7c6d5e4f3a2b' as InstallationId;

test('re-encrypt: one SecretsReencrypted naming each new and superseded ciphertext; the state moves them to the new version, recorded by it', (t) => {
  const put = (n: string, f: Fingerprint, s: ContentState) =>
    decide(s, { type: 'PutSecret', deploymentId: DEP, name: name(n), keyVersion: V1, fingerprint: f, by: BY }).reduce(evolveContent, s);
  const s = put('b', fp('B'), put('a', fp('A'), put('c', fp('C'), initialContentState)));
  const events = decide(s, {
    type: 'ReencryptSecrets',
    deploymentId: DEP,
    keyVersion: V2,
    previousKeyVersion: V1,
    secrets: [
      { name: name('a'), fingerprint: fp('X') },
      { name: name('b'), fingerprint: fp('Y') },
    ],
    by: OTHER,
  });
  t.deepEqual(events, [
    {
      type: 'SecretsReencrypted',
      data: {
        deploymentId: DEP,
        keyVersion: V2,
        previousKeyVersion: V1,
        reencryptedBy: OTHER,
        secrets: [
          { fingerprint: fp('X'), name: name('a'), previousFingerprint: fp('A') },
          { fingerprint: fp('Y'), name: name('b'), previousFingerprint: fp('B') },
        ],
      },
    },
  ]);
  const after = events.reduce(evolveContent, s);
  t.is(after.revision, 3);
  t.deepEqual(after.secrets.get('a'), { name: 'a', keyVersion: V2, fingerprint: fp('X'), revision: 3, putBy: OTHER });
  t.like(after.secrets.get('b'), { keyVersion: V2, fingerprint: fp('Y'), revision: 3 });
  t.like(after.secrets.get('c'), { keyVersion: V1, fingerprint: fp('C'), revision: 0 }, 'a secret not in the batch is untouched');
  t.is(after.secrets.size, 3);
  t.like(s.secrets.get('a'), { keyVersion: V1 }, 'the state it was derived from is unchanged');
  // Refused: a secret that is not there, or no longer under the version replaced; nothing to re-encrypt records nothing.
  const again = { type: 'ReencryptSecrets', deploymentId: DEP, keyVersion: V2, previousKeyVersion: V1, by: OTHER } as const;
  t.deepEqual(decideContent({ ...again, secrets: [{ name: name('z'), fingerprint: fp('Z') }] }, after), E.left({ _tag: 'SecretMissing', name: 'z' }));
  t.deepEqual(
    decideContent({ ...again, secrets: [{ name: name('a'), fingerprint: fp('Z') }] }, after),
    E.left({ _tag: 'SecretKeyVersion', name: 'a', secretVersion: 2, heldVersion: 1 }),
  );
  t.deepEqual(decideContent({ ...again, secrets: [] }, after), E.right([]));
  // A deletion of the encrypted content closed the stream to the new version (it raced the re-creation): refused.
  t.deepEqual(
    decideContent({ ...again, secrets: [{ name: name('c'), fingerprint: fp('Z') }] }, { ...after, destroyedVersions: [2] }),
    E.left({ _tag: 'KeyBeingDestroyed', keyVersion: 2 }),
  );
});

test('a SecretsReencrypted is the word of the member it names: its signer must be that certified member, its signature must verify', (t) => {
  const key = { kty: 'OKP', crv: 'Ed25519', x: 'k'.repeat(43) } as SigningJwk;
  const trust = { everCertified: { [THUMB]: { signingKey: key, signingThumbprint: THUMB, installationId: BY } } } as unknown as Trust;
  const stored = (reencryptedBy: InstallationId, sig: object | undefined): StoredEvent => ({
    stream: 'keyledger.content-default',
    revision: 4n,
    position: { commit: 0n, prepare: 0n },
    event: {
      type: 'SecretsReencrypted',
      data: {
        deploymentId: DEP,
        keyVersion: V2,
        previousKeyVersion: V1,
        reencryptedBy,
        secrets: [{ fingerprint: fp('X'), name: name('a'), previousFingerprint: fp('A') }],
      },
    },
    metadata: { hash: 'h'.repeat(64), ...(sig ? { sig } : {}) } as unknown as StoredEvent['metadata'],
  });
  const sig = { alg: 'Ed25519', by: BY, key: THUMB, value: 's'.repeat(86) };
  const verified: string[] = [];
  const verify = (_k: SigningJwk, text: string) => {
    verified.push(text);
    return true;
  };
  t.is(contentEventProblem(stored(BY, sig), trust, verify), undefined);
  t.true(verified[0]?.includes('"reencryptedBy":"6f1c2b0e'), 'the text signed covers the whole batch');
  t.is(contentEventProblem(stored(OTHER, sig), trust, verify), 'signed-by-another-installation');
  t.is(contentEventProblem(stored(BY, undefined), trust, verify), 'unsigned');
  t.is(contentEventProblem(stored(BY, { ...sig, key: 'q'.repeat(43) }), trust, verify), 'signer-not-certified');
  t.is(
    contentEventProblem(stored(BY, sig), trust, () => false),
    'bad-signature',
  );
});

test('SecretMap behaves as a Map under any sequence of sets, batched sets and deletes, and never changes a version it was derived from', (t) => {
  const op = fc.oneof(
    fc.record({ k: fc.string({ maxLength: 6 }), v: fc.integer(), del: fc.constant(false) }),
    fc.record({ k: fc.string({ maxLength: 6 }), v: fc.constant(0), del: fc.constant(true) }),
    fc.record({ many: fc.array(fc.tuple(fc.string({ maxLength: 6 }), fc.integer()), { maxLength: 8 }) }),
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        let m = SecretMap.empty<number>();
        const model = new Map<string, number>();
        const versions: Array<[SecretMap<number>, Map<string, number>]> = [];
        for (const o of ops) {
          if ('many' in o) {
            m = m.setMany(o.many);
            for (const [k, v] of o.many) model.set(k, v);
          } else {
            m = o.del ? m.delete(o.k) : m.set(o.k, o.v);
            if (o.del) model.delete(o.k);
            else model.set(o.k, o.v);
          }
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
