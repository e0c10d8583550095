/** `keyledger accept-rollback --to <stream>@<revision>`: accept a store restored from a backup, on this instance. */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { acceptRollback } from '../../commands/rollback';
import { EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { emit, instanceDeps, instanceSigner, usage, withSession } from '../session';

const TARGET = /^(.+)@(-1|\d+)$/;

const acceptRollbackCommand = async (io: Io, g: GlobalOptions, to: string): Promise<number> =>
  withSession(io, g, async (s) => {
    const m = TARGET.exec(to);
    if (!m) return usage(`--to takes <stream>@<revision> as the refusal names it (e.g. keyledger.deployment-default@7), not "${to}"`);
    const [, stream = '', revision = '-1'] = m;
    const deps = await instanceDeps(s, 'accept-rollback');
    const r = await acceptRollback(deps, s.config.instance.installationId, stream, BigInt(revision), await instanceSigner(s, deps));
    if (E.isLeft(r)) return r;
    const o = r.right;
    s.log.write({ command: 'accept-rollback', installationId: s.config.instance.installationId, stream, accepted: o.accepted, recorded: o.recorded });
    const text = o.accepted
      ? `accepted: this instance now relies on ${stream} ending at revision ${o.accepted.to} (it had seen revision ${o.accepted.from}); LedgerRollbackAccepted recorded.\n`
      : `${stream} still holds what this instance saw of it: nothing to accept.\n`;
    emit(io, g, o, text);
    return E.right(EXIT.ok);
  });

export const registerAcceptRollback = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('accept-rollback')
    .requiredOption('--to <stream@revision>', 'the stream and the revision the store now ends at, as the LedgerRolledBack refusal names them')
    .description(
      'on this instance: accept that the store ends earlier than this instance saw it (restored from a backup on purpose); ' +
        'key decisions stop until this is run, and the acceptance is recorded',
    )
    .action(async (o: { to: string }) => done(await acceptRollbackCommand(io, globals(), o.to)));
};
