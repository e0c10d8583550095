/**
 * A deployment as keyledger recorded it before signed key events (issue 9): the
 * signing fields and signatures stripped from every event, each stream re-hashed,
 * keystores rewritten without a signing key or a pinned genesis, and the local
 * state (remembered heads) gone — as on a machine that never ran the signing
 * version. Test support only.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import * as E from 'fp-ts/Either';
import { fileKeystore } from '../../src/infra/file-keystore';
import type { TestNode } from './nodes';
import { rewriteAndRehash } from './tamper';

const SIGNING_FIELDS = ['signingKey', 'signingThumbprint', 'signingKeyProof', 'recipientSigningThumbprint'];

export const toLegacyLedger = (file: string): void => {
  const db = new Database(file, { readonly: true });
  const rows = db.prepare('SELECT stream_name AS stream, stream_revision AS revision FROM events ORDER BY stream_name, stream_revision').all() as Array<{
    stream: string;
    revision: number;
  }>;
  db.close();
  const strip = (data: Record<string, unknown>): Record<string, unknown> => {
    const out = { ...data };
    for (const f of SIGNING_FIELDS) delete out[f];
    return out;
  };
  const unsigned = ({ sig: _sig, ...rest }: Record<string, unknown>): Record<string, unknown> => rest;
  // Each event edited in stream order, the rest of its stream re-hashed each time: the documented chain, as an attacker would.
  for (const r of rows) rewriteAndRehash(file, r.stream, r.revision, strip, unsigned);
  for (const f of ['projections.db', 'projections.db-wal', 'projections.db-shm']) fs.rmSync(path.join(path.dirname(file), f), { force: true });
};

/** The node's keystore rewritten as before signatures: the same RSA key pair, no signing key, no genesis pin. */
export const toLegacyKeystore = async (n: TestNode): Promise<void> => {
  const cfg = JSON.parse(fs.readFileSync(n.file, 'utf8')) as { serviceIdentity: string };
  const binding = { installationId: n.id, serviceIdentity: cfg.serviceIdentity };
  const ks = fileKeystore(n.keystore);
  const held = await ks.load(binding)();
  if (E.isLeft(held)) throw new Error(held.left.detail);
  fs.rmSync(n.keystore);
  const created = await ks.create(binding, held.right)();
  if (E.isLeft(created)) throw new Error('cannot rewrite the keystore');
};
