/**
 * Points in the ledger's past as an operator writes them on the command line: an instant (`--since`, `--until`,
 * `--at`) or a global position (`--at`), as diagnose and status print positions.
 */
import * as E from 'fp-ts/Either';
import { positionFromString } from '../ports/event-store';
import type { AtPoint } from '../projections/timeline';
import type { CliError } from './errors';
import { shown } from './render';
import { usage } from './session';

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** An instant as an operator writes it: an ISO-8601 date (its first instant, UTC) or date-time with a zone. */
export const parseInstant = (s: string, option: string): E.Either<CliError, { readonly iso: string; readonly ms: number }> => {
  const ms = ISO.test(s) ? Date.parse(s) : Number.NaN;
  return Number.isNaN(ms)
    ? usage(`${option} "${shown(s, 64)}" is not a time: give an ISO-8601 date or date-time with its zone, e.g. 2026-11-29 or 2026-11-29T14:21:28Z`)
    : E.right({ iso: new Date(ms).toISOString(), ms });
};

/** `--at`: an ISO time, or a global position as diagnose and status print it (`12/12`, or just `12`). */
export const parseAt = (s: string): E.Either<CliError, AtPoint> => {
  if (/^\d+$/.test(s)) return E.right({ kind: 'position', position: { commit: BigInt(s), prepare: BigInt(s) }, commitOnly: true });
  const p = /^\d+\/\d+$/.test(s) ? positionFromString(s) : undefined;
  if (p) return E.right({ kind: 'position', position: p, commitOnly: false });
  const t = parseInstant(s, '--at');
  return E.isLeft(t)
    ? usage(`--at "${shown(s, 64)}" is neither a time (ISO 8601, e.g. 2026-11-29T14:21:28Z) nor a position (as diagnose prints them, e.g. 12/12)`)
    : E.right({ kind: 'time', ...t.right });
};
