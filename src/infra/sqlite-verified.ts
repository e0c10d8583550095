/**
 * Signatures this instance already verified, remembered in its local state
 * (`verified_signatures` in `<stateDir>/projections.db`), so a trust walk over a
 * long deployment stream verifies only what is new since the last command —
 * a one-shot `join` in a deployment of 50 members would otherwise verify some
 * 170 Ed25519 signatures every time.
 *
 * Each row is only a key: an HMAC (the instance's local-state key, ADR 0009)
 * over the public key, the signature and the SHA-256 of the signed text. Whoever
 * can write the state folder but holds no machine secret cannot make a row that
 * stands for a signature that does not verify; deleting rows only costs time.
 */
import { createHash } from 'node:crypto';
import * as E from 'fp-ts/Either';
import type { RememberedSignatures } from '../ports/crypto';
import type { Verify } from '../domain/signatures';
import { openLocalDb } from './sqlite-checkpoints';

export interface VerifiedSignatures extends RememberedSignatures {
  close(): void;
}

export const openVerifiedSignatures = (file: string, mac: (text: string) => string, verify: Verify): E.Either<string, VerifiedSignatures> => {
  const opened = openLocalDb(file, 'CREATE TABLE IF NOT EXISTS verified_signatures (k TEXT PRIMARY KEY) WITHOUT ROWID');
  if (E.isLeft(opened)) return E.left(opened.left.message);
  const { db } = opened.right;
  // A lost row only costs a verification again: this connection does not wait for the disk on every commit.
  db.pragma('synchronous = OFF');
  const has = db.prepare('SELECT 1 FROM verified_signatures WHERE k = ?').pluck();
  const add = db.prepare('INSERT OR IGNORE INTO verified_signatures (k) VALUES (?)');
  /** Remembered, or verified now (and remembered when it verifies). An unusable table is no memory: it verifies. */
  const check = (key: () => string, verifyNow: () => boolean): boolean => {
    let k: string | undefined;
    try {
      k = key();
      if (has.get(k) !== undefined) return true;
    } catch {
      k = undefined;
    }
    const ok = verifyNow();
    if (ok && k !== undefined)
      try {
        add.run(k);
      } catch {
        // remembering is an optimisation only
      }
    return ok;
  };
  const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
  return E.right({
    verify: (publicKey, text, signature) =>
      check(
        () => mac(`keyledger-verified-signature/v1\0${publicKey.x}\0${signature}\0${sha256(text)}`),
        () => verify(publicKey, text, signature),
      ),
    // The event's hash covers its content, position, predecessor and signature, and was checked when it was loaded.
    verifyEvent: (publicKey, e, signature, text) =>
      check(
        () => mac(`keyledger-verified-event/v1\0${publicKey.x}\0${signature}\0${e.stream}\0${e.revision}\0${e.metadata.hash}`),
        () => verify(publicKey, text(), signature),
      ),
    close: () => db.close(),
  });
};
