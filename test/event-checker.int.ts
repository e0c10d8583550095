/**
 * How a re-creation checks the events its secrets are read from (src/commands/secrets.ts `eventChecker`, docs/adr/0014):
 * each event once, off the main thread; this instance's own signatures by signing again (`Signatures.signsAlike`:
 * Ed25519 is deterministic), anything else — a signature that differs, another member's — by verifying.
 */
import test from 'ava';
import { eventChecker } from '../src/commands/secrets';
import type { StoredEvent } from '../src/domain/envelope';
import { eventSigningText } from '../src/domain/envelope';
import type { Trust } from '../src/domain/trust';
import { signatures } from '../src/infra/signing';
import type { Signatures } from '../src/ports/crypto';

const OWN = '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b';
const OTHER = '0b6e2f3a-1c4d-4e5f-8a9b-7c6d5e4f3a2b';

test('signsAlike: true for the signature this key makes over the text; false for another text, another key, or no signature at all', async (t) => {
  const mine = signatures.generate();
  const theirs = signatures.generate();
  const text = 'keyledger-event-signature/v1\n{"data":{}}';
  const sig = signatures.sign(mine.handle, text);
  t.true(await signatures.signsAlike(mine.handle, text, sig));
  t.false(await signatures.signsAlike(mine.handle, `${text} `, sig));
  t.false(await signatures.signsAlike(theirs.handle, text, sig));
  t.false(await signatures.signsAlike(mine.handle, text, signatures.sign(theirs.handle, text)));
  for (const bad of ['', 'x', `${sig.slice(0, 85)}!`, `${sig}A`]) t.false(await signatures.signsAlike(mine.handle, text, bad), JSON.stringify(bad));
  // What it stands for: the same answer a verification gives.
  t.true(await signatures.verifyAsync(mine.publicKey, text, sig));
  t.false(await signatures.verifyAsync(theirs.publicKey, text, sig));
});

/** A SecretPut signed (by `key`, in the name of `by`), as the content stream holds it. */
const secretPut = (revision: bigint, by: string, key: { thumbprint: string; sign: (text: string) => string }): StoredEvent => {
  const data = { deploymentId: 'default', fingerprint: 'F'.repeat(43), keyVersion: 1, name: `s${revision}`, previousFingerprint: null, putBy: by };
  const metadata = {
    actor: 'op',
    causationId: 'c',
    command: 'secret-put',
    correlationId: 'c',
    eventId: `e${revision}`,
    occurredAt: '2026-11-28T12:00:00.000Z',
  };
  const base = { ...metadata, prevHash: '0'.repeat(64), schemaVersion: 1 };
  const value = key.sign(eventSigningText('keyledger.content-default', revision, 'SecretPut', data, base as never));
  return {
    stream: 'keyledger.content-default',
    revision,
    position: { commit: 0n, prepare: 0n },
    event: { type: 'SecretPut', data } as never,
    metadata: { ...base, hash: `${revision}`.padStart(64, 'a'), sig: { alg: 'Ed25519', by, key: key.thumbprint, value } } as never,
  };
};

test('eventChecker: own events by signing again, others verified; a signature of its own key that differs (another signer’s nonce) is still verified', async (t) => {
  const mine = signatures.generate();
  const theirs = signatures.generate();
  const trust = {
    everCertified: {
      [mine.thumbprint]: { signingKey: mine.publicKey, signingThumbprint: mine.thumbprint, installationId: OWN },
      [theirs.thumbprint]: { signingKey: theirs.publicKey, signingThumbprint: theirs.thumbprint, installationId: OTHER },
    },
  } as unknown as Trust;
  const calls = { signsAlike: 0, verify: 0 };
  // A signer of the same key whose signatures differ from the deterministic ones (as one drawing nonces at random would):
  // signsAlike says no; verification must decide. Modelled by a port whose signsAlike never matches.
  const counting = (alike: boolean): Signatures => ({
    ...signatures,
    signsAlike: async (h, m, s) => {
      calls.signsAlike++;
      return alike && signatures.signsAlike(h, m, s);
    },
    verifyAsync: async (k, m, s) => {
      calls.verify++;
      return signatures.verifyAsync(k, m, s);
    },
  });
  const own = secretPut(0n, OWN, { thumbprint: mine.thumbprint, sign: (x) => signatures.sign(mine.handle, x) });
  const other = secretPut(1n, OTHER, { thumbprint: theirs.thumbprint, sign: (x) => signatures.sign(theirs.handle, x) });
  const forged = { ...own, revision: 2n, metadata: { ...own.metadata, hash: 'f'.repeat(64) } } as StoredEvent; // its signature covers revision 0

  const checker = eventChecker(counting(true), trust, mine);
  t.is(await checker.verdict(own), undefined);
  t.deepEqual(calls, { signsAlike: 1, verify: 0 }, 'its own event: signed again, not verified');
  t.is(await checker.verdict(other), undefined);
  t.deepEqual(calls, { signsAlike: 1, verify: 1 }, 'another member’s: verified, never signed');
  t.is(await checker.verdict(forged), 'bad-signature');
  t.deepEqual(calls, { signsAlike: 2, verify: 2 }, 'its own key, but not what it signs: verified, and refused');
  t.is(await checker.verdict(own), undefined);
  t.deepEqual(calls, { signsAlike: 2, verify: 2 }, 'each event checked once');

  const differs = eventChecker(counting(false), trust, mine);
  t.is(await differs.verdict(own), undefined, 'a valid signature that is not the deterministic one still verifies');
  t.deepEqual(calls, { signsAlike: 3, verify: 3 });
  // Without its own key (another member re-creates), everything is verified.
  t.is(await eventChecker(counting(true), trust).verdict(own), undefined);
  t.deepEqual(calls, { signsAlike: 3, verify: 4 });
});

test('eventChecker: the refusals a reader gives — unsigned, a signer never certified — without any signature work', async (t) => {
  const key = signatures.generate();
  const stranger = { thumbprint: key.thumbprint, sign: (m: string) => signatures.sign(key.handle, m) };
  const trust = { everCertified: {} } as unknown as Trust;
  const none: Signatures = {
    ...signatures,
    signsAlike: () => Promise.reject(new Error('not called')),
    verifyAsync: () => Promise.reject(new Error('not called')),
  };
  const checker = eventChecker(none, trust);
  const e = secretPut(0n, OWN, stranger);
  t.is(await checker.verdict(e), 'signer-not-certified');
  const { sig: _sig, ...unsigned } = e.metadata as unknown as Record<string, unknown>;
  t.is(await checker.verdict({ ...e, metadata: { ...unsigned, hash: 'u'.repeat(64) } } as unknown as StoredEvent), 'unsigned');
});
