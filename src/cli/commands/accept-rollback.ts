/** `keyledger accept-rollback --to <stream>@<revision>`: accept a store restored from a backup, on this instance. */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { acceptFork, acceptRollback } from '../../commands/rollback';
import { printable } from '../render';
import { EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { emit, fail, instanceDeps, instanceSigner, treeDeps, usage, withSession } from '../session';

const TARGET = /^(.+)@(-1|\d+)$/;

const acceptForkCommand = async (io: Io, g: GlobalOptions, size: string): Promise<number> =>
  withSession(io, g, async (s) => {
    if (!/^\d+$/.test(size)) return usage(`--tree takes the size of the ledger's tree as the LedgerForked refusal names it, not "${printable(size)}"`);
    const deps = await instanceDeps(s, 'accept-rollback');
    const tree = await treeDeps(s);
    if (E.isLeft(tree)) return tree;
    const r = await acceptFork({ ...deps, ...tree.right }, s.config.instance.installationId, Number(size), await instanceSigner(s, deps));
    if (E.isLeft(r)) return r;
    const o = r.right;
    s.log.write({ command: 'accept-rollback', installationId: s.config.instance.installationId, tree: size, accepted: o.accepted, recorded: o.recorded });
    const text = o.accepted
      ? `accepted: this instance now relies on the ledger's tree of ${o.accepted.to.size} events (it had co-signed ${o.accepted.from.size}); LedgerForkAccepted recorded.\n`
      : "the ledger's tree still extends what this instance co-signed: nothing to accept.\n";
    emit(io, g, o, text);
    return E.right(EXIT.ok);
  });

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
    .option('--to <stream@revision>', 'the stream and the revision the store now ends at, as the LedgerRolledBack refusal names them')
    .option('--tree <size>', "the size of the ledger's tree now, as the LedgerForked refusal names it")
    .description(
      'on this instance: accept that the store ends earlier than this instance saw it (restored from a backup on purpose), or (--tree) that ' +
        'its tree is no longer an extension of what this member co-signed; key decisions stop until this is run, and the acceptance is recorded',
    )
    .action(async (o: { to?: string; tree?: string }) => {
      if ((o.to === undefined) === (o.tree === undefined))
        return done(fail(io, { _tag: 'UsageError', message: 'accept-rollback takes one of --to <stream>@<revision> or --tree <size>' }));
      return done(o.tree !== undefined ? await acceptForkCommand(io, globals(), o.tree) : await acceptRollbackCommand(io, globals(), o.to!));
    });
};
