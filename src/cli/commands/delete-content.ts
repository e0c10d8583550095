/**
 * `keyledger delete-content --confirm <deploymentId>` (rskeymgmt -d; Configuration Manager's "Delete";
 * docs/adr/0015-content-deletion.md): the last resort when no key backup exists — every secret of the deployment
 * destroyed and its key versions with them, recorded and signed; then `keyledger init` creates a new key.
 * Without --confirm it is a dry run: what would be destroyed, and whether this instance may do it; nothing changes.
 */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { type DeletionPlan, type DeleteOutcome, deleteContent, planContentDeletion } from '../../commands/delete-content';
import { shown } from '../../domain/text';
import { describeError, EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { countedProgress } from '../progress';
import { emit, secretDeps, withSession } from '../session';

/** How many secret names a dry run prints (all of them with --json). */
const NAMES_SHOWN = 10;

const versionsText = (vs: ReadonlyArray<number>): string => (vs.length === 0 ? 'none' : vs.join(', '));

const planText = (p: DeletionPlan): string => {
  const dep = shown(p.deploymentId);
  const names = p.names.slice(0, NAMES_SHOWN).map((n) => shown(n, 128));
  const more = p.names.length > NAMES_SHOWN ? ` … and ${p.names.length - NAMES_SHOWN} more` : '';
  const lines = [
    'delete-content (dry run): nothing was deleted.',
    p.alreadyDeleted
      ? `The encrypted content of deployment ${dep} was deleted already and no key was created since: nothing is left to destroy ` +
        '(running it again only removes ciphertexts a crash may have left). Run keyledger init to initialize it afresh.'
      : p.underway
        ? `A deletion of the encrypted content of deployment ${dep} was started and not finished; finishing it would destroy, for good:`
        : `Deleting the encrypted content of deployment ${dep} would destroy, for good:`,
  ];
  if (!p.alreadyDeleted)
    lines.push(
      `  key version(s)   ${versionsText(p.keyVersions)}`,
      `  secrets          ${p.names.length}${names.length > 0 ? `: ${names.join(', ')}${more}` : ''}`,
      `  wrapped copies   ${p.copies.length} (${p.copies.map((c) => `${c.installationId} v${c.keyVersion}`).join(', ') || 'none'}): they would protect nothing`,
      'There is no undo. If any backup of the key exists, restore it instead (keyledger restore -f FILE).',
    );
  if (p.trustFindings > 0)
    lines.push(
      `Warning: keyledger verify --signatures reports ${p.trustFindings} event(s) of the deployment stream no member signed as it should: ` +
        'look at them before deleting anything (an altered ledger can make a deletion look necessary).',
    );
  lines.push(
    p.authority.allowed
      ? `This instance may delete it (${p.authority.as === 'certified-member' ? 'a certified member' : 'no certified member remains: a registered instance'}). ` +
          `To delete: keyledger delete-content --confirm ${dep}`
      : `This instance may not delete it: ${describeError(p.authority.error)}` +
          (p.authority.error._tag === 'DeletionNotAuthorised' ? '' : ' Run keyledger status: its remedy says what this instance needs first.'),
  );
  return `${lines.join('\n')}\n`;
};

const outcomeText = (o: DeleteOutcome): string => {
  const dep = shown(o.deploymentId);
  if (o.alreadyDeleted)
    return (
      `the encrypted content of deployment ${dep} was deleted already (key version ${versionsText(o.keys.map((k) => k.keyVersion))}); nothing new was recorded` +
      `${o.leftovers > 0 ? `, ${o.leftovers} leftover ciphertext(s) removed` : ''}.\nNext: run keyledger init on this instance to create the deployment's new key.\n`
    );
  return (
    `deleted: the encrypted content of deployment ${dep}${o.resumed ? ' (finishing the deletion started earlier)' : ''} — ${o.secrets} secret(s) destroyed, ` +
    `key version ${versionsText(o.keys.map((k) => k.keyVersion))} destroyed (key check ${o.keys.map((k) => k.keyCheck).join(', ') || 'none'}), ` +
    `${o.copies} wrapped cop${o.copies === 1 ? 'y' : 'ies'} left in the ledger that protect nothing` +
    `${o.leftovers > 0 ? `; ${o.leftovers} ciphertext(s) no event named removed too` : ''} (EncryptedContentDeleted recorded).\n` +
    "Next: run keyledger init on this instance: it creates the deployment's new key and becomes its root of trust (genesis). " +
    'Then run keyledger init on every other instance and join it from this one (keyledger join <id> --expect-thumbprint <its key>); ' +
    'an instance that pinned another genesis confirms this one first (keyledger trust --expect-genesis, the thumbprint keyledger status prints here). ' +
    'Put the secrets again (keyledger secret put), and take a new backup (keyledger backup -f FILE).\n'
  );
};

/** The command, for `delete-content` and for `rskeymgmt -d`: without `confirm`, the dry run (exit 2, nothing changed). */
export const deleteContentCommand = async (io: Io, g: GlobalOptions, options: { readonly confirm?: string }): Promise<number> =>
  withSession(io, g, async (s) => {
    const deps = await secretDeps(s, 'delete-content');
    if (E.isLeft(deps)) return deps;
    const config = s.config.instance;
    if (options.confirm === undefined) {
      const plan = await planContentDeletion(deps.right, config);
      if (E.isLeft(plan)) return plan;
      const p = plan.right;
      emit(io, g, { dryRun: true, ...p, authority: p.authority.allowed ? p.authority : { allowed: false, error: p.authority.error._tag } }, planText(p));
      io.stderr(
        p.authority.allowed
          ? `keyledger: dry run, nothing was deleted: to delete every secret of deployment ${shown(config.deploymentId)}, add --confirm ${shown(config.deploymentId)}\n`
          : 'keyledger: dry run, nothing was deleted: this instance may not delete the content (the reason is above)\n',
      );
      return E.right(EXIT.usage);
    }
    const bar = countedProgress(io, !g.json, 'destroying secrets');
    const r = await deleteContent(deps.right, config, options.confirm, { progress: bar.update });
    bar.stop();
    if (E.isLeft(r)) {
      s.log.write({ command: 'delete-content', installationId: config.installationId, outcome: 'error', error: r.left._tag });
      return r;
    }
    const o = r.right;
    s.log.write({ command: 'delete-content', keyVersions: o.keys.map((k) => k.keyVersion), secrets: o.secrets, recorded: o.recorded });
    emit(io, g, o, outcomeText(o));
    return E.right(EXIT.ok);
  });

export const registerDeleteContent = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('delete-content')
    .option('--confirm <deploymentId>', "this deployment's ID, typed out: the deletion happens only then (without it: a dry run)")
    .description(
      "delete the deployment's encrypted content (rskeymgmt -d): the last resort when the key is lost or unusable and no backup of it exists. " +
        'Every secret is destroyed and the key version with it (crypto-shredding: the ciphertexts are removed from the content store; ' +
        'the wrapped copies left in the ledger then protect nothing), each step signed and recorded ' +
        '(EncryptedContentDeletionStarted, SecretsDestroyed per batch, EncryptedContentDeleted). Then keyledger init creates a new key',
    )
    .addHelpText(
      'after',
      `
When: every copy of the key is lost or unusable — the only member's keystore is gone, the last member was removed, no copy
unwraps (rsKeyStateNotValid, rsReportServerDisabled) — and no backup of the key exists. If one does, restore it instead:
keyledger restore -f FILE keeps every secret. keyledger status names this command only as that last resort.

It does not need the key (nobody may hold it any more). Who may run it: a member certified back to the deployment's genesis,
or — when no certified member remains — a registered instance (e.g. the one keyledger init --new-installation-id made).

Safe to interrupt: the key stays readable until the deletion completes; each secret is either still there or destroyed with its
destruction recorded; running it again finishes the same deletion (keyledger status shows an unfinished one).

Afterwards:
  keyledger init                                   on this instance: a new key version, this instance its new genesis
  keyledger init                                   on every other instance (it then waits to be joined)
  keyledger join <id> --expect-thumbprint <its key>   here, for each of them (then keyledger start there)
  keyledger secret put NAME < value                the secrets, again, from their sources
Members that pinned another genesis confirm this one out of band first: keyledger trust --expect-genesis <thumbprint>.

A progress bar is drawn on a terminal (never with --json, nor into a pipe).

Examples:
  keyledger delete-content                         # dry run: what would be destroyed (exit 2, nothing changes)
  keyledger --json delete-content                  # the same for scripts: key versions, secret names, copies, who may run it
  keyledger delete-content --confirm default       # delete the content of deployment "default"
Exit codes: 0 deleted (or finished), 2 dry run or --confirm not this deployment's ID, 3 failure, 4 tampering found,
            5 refused (this instance may not delete it, or a step the ledger's rules refuse).`,
    )
    .action(async (o: { confirm?: string }) => done(await deleteContentCommand(io, globals(), o.confirm !== undefined ? { confirm: o.confirm } : {})));
};
