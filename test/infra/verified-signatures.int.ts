/**
 * Remembered signatures (src/infra/sqlite-verified.ts): a trust walk verifies
 * only what it has not verified before — and a row only ever stands for a
 * signature that verified, under this instance's local-state MAC.
 */
import test from 'ava';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import * as E from 'fp-ts/Either';
import type { StoredEvent } from '../../src/domain/envelope';
import { openVerifiedSignatures } from '../../src/infra/sqlite-verified';
import { signatures } from '../../src/infra/signing';
import { tempDir } from '../support/fixtures';

const key = signatures.generate();
const text = 'keyledger-event-signature/v1\n{"data":{}}';
const good = signatures.sign(key.handle, text);
const bad = signatures.sign(signatures.generate().handle, text);
const event = { stream: 's', revision: 3n, metadata: { hash: 'a'.repeat(64) } } as unknown as StoredEvent;

const counting = () => {
  let calls = 0;
  return {
    verify: (k: typeof key.publicKey, t: string, s: string) => {
      calls++;
      return signatures.verify(k, t, s);
    },
    calls: () => calls,
  };
};

test('a verified signature is answered from memory afterwards; a bad one is never remembered', (t) => {
  const file = path.join(tempDir('kl-vs'), 'p.db');
  const real = counting();
  const mem = E.getOrElseW(() => t.fail() as never)(openVerifiedSignatures(file, (x) => `mac:${x}`, real.verify));
  t.true(mem.verify(key.publicKey, text, good));
  t.true(mem.verify(key.publicKey, text, good));
  t.is(real.calls(), 1);
  t.false(mem.verify(key.publicKey, text, bad));
  t.false(mem.verify(key.publicKey, text, bad));
  t.is(real.calls(), 3, 'a failed verification is verified again every time');
  t.true(mem.verifyEvent(key.publicKey, event, good, () => text));
  t.true(mem.verifyEvent(key.publicKey, event, good, () => text));
  t.is(real.calls(), 4);
  // Another text under the same signature is not the remembered one.
  t.false(mem.verify(key.publicKey, `${text} `, good));
  mem.close();
});

test('rows written under another MAC key (another instance, or someone without the machine secret) answer nothing', (t) => {
  const file = path.join(tempDir('kl-vs'), 'p.db');
  const first = E.getOrElseW(() => t.fail() as never)(openVerifiedSignatures(file, (x) => `one:${x}`, signatures.verify));
  t.true(first.verify(key.publicKey, text, good));
  first.close();
  // An attacker who can write the state folder adds rows of their own making.
  const db = new Database(file);
  db.prepare('INSERT INTO verified_signatures (k) VALUES (?)').run('anything');
  db.close();
  const real = counting();
  const second = E.getOrElseW(() => t.fail() as never)(openVerifiedSignatures(file, (x) => `two:${x}`, real.verify));
  t.false(second.verify(key.publicKey, text, bad));
  t.true(second.verify(key.publicKey, text, good));
  t.is(real.calls(), 2, 'nothing answered from rows it did not write');
  second.close();
});
