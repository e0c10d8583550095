/** `keyledger verify`: the integrity of the whole ledger; names stream and revision of each problem (exit 4). */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { verifyLedger } from '../../commands/verify';
import { sha256Hex } from '../../infra/sha256';
import { EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { progressReporter } from '../progress';
import { emit, withSession } from '../session';

const verifyCommand = async (io: Io, g: GlobalOptions): Promise<number> =>
  withSession(io, g, async (s) => {
    const progress = progressReporter(io, !g.json, 'verifying ledger');
    const r = await verifyLedger(s.store, { digest: sha256Hex, onProgress: progress.update })();
    progress.stop();
    if (E.isLeft(r)) return r;
    const rep = r.right;
    s.log.write({ command: 'verify', events: rep.events, streams: rep.streams, problems: rep.problems.length });
    const text =
      rep.problems.length === 0
        ? `ledger intact: ${rep.events} events in ${rep.streams} streams, every hash verified\n`
        : `${rep.problems.map((p) => `TAMPERED ${p.stream}@${p.revision} (${p.eventType}): ${p.problem}`).join('\n')}\n` +
          `${rep.problems.length} problem(s) in ${rep.events} events. Restore the store from a backup taken before the first problem.\n`;
    emit(io, g, rep, text);
    return E.right(rep.problems.length === 0 ? EXIT.ok : EXIT.tampered);
  });

export const registerVerify = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('verify')
    .description(
      'check the integrity of the whole ledger: every event decodes, revisions are contiguous, every hash matches and links to the one before; ' +
        'names the stream and revision of each problem (exit 4 when any)',
    )
    .action(async () => done(await verifyCommand(io, globals())));
};
