/**
 * How a re-creation checks the events its secrets are read from (docs/adr/0014): off the main thread, many at once
 * (`Signatures.checkMany`), each event once (src/commands/secrets.ts `eventChecker`); this instance's own signatures by
 * signing again (Ed25519 is deterministic), anything else — a signature that differs, another member's — by verifying.
 */
import test from 'ava';
import { eventChecker } from '../src/commands/secrets';
import type { StoredEvent } from '../src/domain/envelope';
import { eventSigningText } from '../src/domain/envelope';
import type { Trust } from '../src/domain/trust';
import { signatures } from '../src/infra/signing';
import type { SignatureCheck, Signatures, SigningKeyPair } from '../src/ports/crypto';

const OWN = '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b';
const OTHER = '0b6e2f3a-1c4d-4e5f-8a9b-7c6d5e4f3a2b';

test('checkMany answers as verify does — own signatures (signed again), others’, forged, malformed', async (t) => {
  t.timeout(30_000);
  const mine = signatures.generate();
  const theirs = signatures.generate();
  const text = (i: number) => `keyledger-event-signature/v1\n{"data":{"i":${i}}}`;
  const checks: SignatureCheck[] = [
    { publicKey: mine.publicKey, message: text(0), signature: signatures.sign(mine.handle, text(0)) },
    { publicKey: theirs.publicKey, message: text(1), signature: signatures.sign(theirs.handle, text(1)) },
    // Claims this instance's key, signed over another text (copied from another event), or by another key: refused.
    { publicKey: mine.publicKey, message: text(2), signature: signatures.sign(mine.handle, text(3)) },
    { publicKey: mine.publicKey, message: text(4), signature: signatures.sign(theirs.handle, text(4)) },
    { publicKey: theirs.publicKey, message: text(5), signature: signatures.sign(mine.handle, text(5)) },
    { publicKey: mine.publicKey, message: text(6), signature: 'not a signature' },
    { publicKey: mine.publicKey, message: text(7), signature: `${signatures.sign(mine.handle, text(7)).slice(0, 85)}!` },
  ];
  const expected = checks.map((c) => signatures.verify(c.publicKey, c.message, c.signature));
  t.deepEqual(expected, [true, true, false, false, false, false, false]);
  t.deepEqual(await signatures.checkMany(checks, mine), expected, 'with its own key (signing again)');
  t.deepEqual(await signatures.checkMany(checks), expected, 'without (every one verified)');
  t.deepEqual(await signatures.checkMany([]), []);
});

/** A SecretPut signed (by `key`, in the name of `by`), as the content stream holds it. */
const secretPut = (revision: bigint, by: string, key: SigningKeyPair): StoredEvent => {
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
  const value = signatures.sign(key.handle, eventSigningText('keyledger.content-default', revision, 'SecretPut', data, base as never));
  return {
    stream: 'keyledger.content-default',
    revision,
    position: { commit: 0n, prepare: 0n },
    event: { type: 'SecretPut', data } as never,
    metadata: { ...base, hash: `${revision}`.padStart(64, 'a'), sig: { alg: 'Ed25519', by, key: key.thumbprint, value } } as never,
  };
};

test('eventChecker: each event checked once, one call per start, with this instance’s key for its own; a forged one refused', async (t) => {
  t.timeout(30_000);
  const mine = signatures.generate();
  const theirs = signatures.generate();
  const trust = {
    everCertified: {
      [mine.thumbprint]: { signingKey: mine.publicKey, signingThumbprint: mine.thumbprint, installationId: OWN },
      [theirs.thumbprint]: { signingKey: theirs.publicKey, signingThumbprint: theirs.thumbprint, installationId: OTHER },
    },
  } as unknown as Trust;
  const jobs: Array<{ size: number; own: boolean }> = [];
  const counting: Signatures = {
    ...signatures,
    checkMany: (checks, own) => {
      jobs.push({ size: checks.length, own: own === mine });
      return signatures.checkMany(checks, own);
    },
  };
  const own = secretPut(0n, OWN, mine);
  const other = secretPut(1n, OTHER, theirs);
  const forged = { ...own, revision: 2n, metadata: { ...own.metadata, hash: 'f'.repeat(64) } } as StoredEvent; // its signature covers revision 0
  const checker = eventChecker(counting, trust, mine);
  checker.start([own, other, forged, own]);
  t.deepEqual(jobs, [{ size: 3, own: true }], 'one call; an event named twice checked once');
  t.is(await checker.verdict(own), undefined);
  t.is(await checker.verdict(other), undefined);
  t.is(await checker.verdict(forged), 'bad-signature');
  checker.start([own, other]);
  t.is(await checker.verdict(own), undefined);
  t.deepEqual(jobs.length, 1, 'nothing checked again');
  // Asked for an event never started: checked then.
  const late = secretPut(3n, OTHER, theirs);
  t.is(await checker.verdict(late), undefined);
  t.deepEqual(jobs[1], { size: 1, own: true });
});

test('eventChecker: the refusals a reader gives — unsigned, a signer never certified — with no signature checked', async (t) => {
  const key = signatures.generate();
  const none: Signatures = { ...signatures, checkMany: () => Promise.reject(new Error('not called')) };
  const checker = eventChecker(none, { everCertified: {} } as unknown as Trust);
  const e = secretPut(0n, OWN, key);
  checker.start([e]);
  t.is(await checker.verdict(e), 'signer-not-certified');
  const { sig: _sig, ...unsigned } = e.metadata as unknown as Record<string, unknown>;
  t.is(await checker.verdict({ ...e, metadata: { ...unsigned, hash: 'u'.repeat(64) } } as unknown as StoredEvent), 'unsigned');
});
