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
import { hashEvent } from '../../src/domain/envelope';
import { fileKeystore } from '../../src/infra/file-keystore';
import { sha256Hex } from '../../src/infra/sha256';
import type { TestNode } from './nodes';

const SIGNING_FIELDS = ['signingKey', 'signingThumbprint', 'signingKeyProof', 'recipientSigningThumbprint'];

export const toLegacyLedger = (file: string): void => {
  const db = new Database(file);
  try {
    const rows = db
      .prepare(
        'SELECT stream_name AS stream, stream_revision AS revision, event_type AS type, data, metadata FROM events ORDER BY stream_name, stream_revision',
      )
      .all() as Array<{ stream: string; revision: number; type: string; data: string; metadata: string }>;
    const update = db.prepare('UPDATE events SET data = ?, metadata = ? WHERE stream_name = ? AND stream_revision = ?');
    const prev = new Map<string, string>();
    for (const row of rows) {
      const data = JSON.parse(row.data) as Record<string, unknown>;
      for (const f of SIGNING_FIELDS) delete data[f];
      const { hash: _hash, sig: _sig, ...rest } = JSON.parse(row.metadata) as Record<string, unknown>;
      const base = { ...rest, prevHash: prev.get(row.stream) ?? rest['prevHash'] };
      const hash = hashEvent(sha256Hex, row.stream, BigInt(row.revision), row.type, data, base as never);
      update.run(JSON.stringify(data), JSON.stringify({ ...base, hash }), row.stream, row.revision);
      prev.set(row.stream, hash);
    }
  } finally {
    db.close();
  }
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
