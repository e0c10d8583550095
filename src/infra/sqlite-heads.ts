/**
 * The stream heads an instance relied on (src/ports/heads.ts), in its local
 * state file (`<stateDir>/projections.db`, table `heads`), one row per
 * instance and stream, each under an HMAC-SHA256 keyed from the instance's
 * machine secret: whoever can write the state folder but not read the secret
 * can neither forge nor lower a head without it showing as tampered.
 */
import * as E from 'fp-ts/Either';
import type { HeadStore, LocalStateError, RememberedHead } from '../ports/heads';
import { errorMessage } from './error-message';
import { openLocalDb } from './sqlite-checkpoints';

/** A MAC of text (hex); see Keystore.localStateMac. */
export type Mac = (text: string) => string;

interface Row {
  readonly revision: number;
  readonly hash: string;
  readonly mac: string;
}

export const openSqliteHeads = (file: string, owner: string, endpoint: string, mac: Mac): E.Either<LocalStateError, HeadStore & { close(): void }> => {
  const opened = openLocalDb(
    file,
    `CREATE TABLE IF NOT EXISTS heads (
      key TEXT PRIMARY KEY, revision INTEGER NOT NULL, hash TEXT NOT NULL, mac TEXT NOT NULL
    ) WITHOUT ROWID`,
  );
  if (E.isLeft(opened)) return E.left({ _tag: 'LocalStateError', location: opened.left.location, problem: 'unusable', message: opened.left.message });
  const { db, location } = opened.right;
  const fail = (e: unknown): LocalStateError => ({ _tag: 'LocalStateError', location, problem: 'unusable', message: errorMessage(e) });
  // Rows are keyed by which secret MACs them too: after a keystore (and its secret) is replaced, the old memory
  // is not this instance's any more and is not read (it would not verify), rather than taken as tampering.
  const keyId = mac('keyledger-head-key-id/v1').slice(0, 16);
  const keyOf = (stream: string): string => `${owner}|${keyId}|${endpoint}|${stream}`;
  const macOf = (key: string, revision: bigint, hash: string): string => mac(`keyledger-head/v1\0${key}\0${revision}\0${hash}`);
  const get = db.prepare('SELECT revision, hash, mac FROM heads WHERE key = ?');
  const advance = db.prepare(
    `INSERT INTO heads (key, revision, hash, mac) VALUES (?, ?, ?, ?)
     ON CONFLICT(key) DO UPDATE SET revision = excluded.revision, hash = excluded.hash, mac = excluded.mac WHERE excluded.revision >= heads.revision`,
  );
  const replace = db.prepare('INSERT OR REPLACE INTO heads (key, revision, hash, mac) VALUES (?, ?, ?, ?)');
  const write = (statement: typeof advance, stream: string, head: RememberedHead): E.Either<LocalStateError, void> =>
    E.tryCatch(() => {
      const key = keyOf(stream);
      statement.run(key, Number(head.revision), head.hash, macOf(key, head.revision, head.hash));
    }, fail);
  return E.right({
    load: (stream) => {
      const key = keyOf(stream);
      const row = E.tryCatch(() => get.get(key) as Row | undefined, fail);
      if (E.isLeft(row)) return row;
      if (!row.right) return E.right(undefined);
      const head = { revision: BigInt(row.right.revision), hash: row.right.hash };
      if (macOf(key, head.revision, head.hash) !== row.right.mac)
        return E.left({
          _tag: 'LocalStateError',
          location,
          problem: 'tampered',
          message: `the remembered head of ${stream} does not carry this instance's MAC`,
        });
      return E.right(head);
    },
    save: (stream, head) => write(advance, stream, head),
    reset: (stream, head) => write(replace, stream, head),
    close: () => db.close(),
  });
};
