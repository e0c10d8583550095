/**
 * Checkpoints (c2sp.org/tlog-checkpoint): the body of a signed note naming a tree head —
 *
 *   <origin>                       keyledger/ledger/<the ledger's identity>
 *   <tree size>                    decimal, no leading zeros
 *   <root hash>                    standard base64 of the 32-byte RFC 9162 root
 *
 * keyledger writes no extension lines and reads none: a body with more (or fewer) lines is refused, so the
 * statement a member signed is exactly origin, size and root. Pure.
 */
import * as E from 'fp-ts/Either';
import { fromBase64, toBase64 } from './bytes';
import type { Hash } from './merkle';

export interface TreeHead {
  readonly origin: string;
  readonly size: number;
  readonly root: Hash;
}

/** The origin line of a ledger: its identity (SQLite's ledger identity; on EventStoreDB, the id of its first event). */
export const ledgerOrigin = (identity: string): string => `keyledger/ledger/${identity}`;

/** The key name a member signs notes with: its installation ID. */
export const memberKeyName = (installationId: string): string => `keyledger/member/${installationId.toLowerCase()}`;

export const checkpointBody = (h: TreeHead): string => `${h.origin}\n${h.size}\n${toBase64(h.root)}\n`;

export const parseCheckpointBody = (text: string): E.Either<string, TreeHead> => {
  if (!text.endsWith('\n')) return E.left('the checkpoint does not end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length !== 3) return E.left(`a checkpoint is 3 lines (origin, tree size, root hash); this one has ${lines.length}`);
  const [origin = '', size = '', root = ''] = lines;
  if (origin.length === 0) return E.left('its origin line is empty');
  if (!/^(0|[1-9][0-9]{0,15})$/.test(size) || !Number.isSafeInteger(Number(size))) return E.left('its second line is not a tree size');
  const hash = fromBase64(root);
  if (hash?.length !== 32) return E.left('its third line is not the base64 of a 32-byte root hash');
  return E.right({ origin, size: Number(size), root: hash });
};
