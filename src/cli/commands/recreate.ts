/**
 * `keyledger recreate` (rskeymgmt -s; docs/adr/0014-key-re-creation.md): a new symmetric key version, every secret
 * re-encrypted under it, the old version retired. Resumable: a rerun after a crash finishes the same re-creation.
 */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { recreateKey } from '../../commands/recreate';
import { EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { countedProgress } from '../progress';
import { emit, secretDeps, withSession } from '../session';

export const recreateCommand = async (io: Io, g: GlobalOptions): Promise<number> =>
  withSession(io, g, async (s) => {
    const deps = await secretDeps(s, 'recreate');
    if (E.isLeft(deps)) return deps;
    const bar = countedProgress(io, !g.json, 're-encrypting secrets');
    const r = await recreateKey(deps.right, s.config.instance, { progress: bar.update });
    bar.stop();
    if (E.isLeft(r)) {
      s.log.write({ command: 'recreate', installationId: s.config.instance.installationId, outcome: 'error', error: r.left._tag });
      return r;
    }
    const o = r.right;
    s.log.write({ command: 'recreate', keyVersion: o.keyVersion, retiredVersion: o.retiredVersion, reencrypted: o.reencrypted, recorded: o.recorded });
    const head = o.created
      ? `re-created: symmetric key version ${o.keyVersion}, wrapped for ${o.wrappedFor.length} active member(s)`
      : `resumed the re-creation of key version ${o.keyVersion}`;
    const stale =
      o.stale.length === 0
        ? ''
        : `Not active when it ran, still holding an older version (refused with StaleWrappedCopy until re-wrapped): ${o.stale.join(', ')}.\n` +
          'For each, run `keyledger join <installationID> --expect-thumbprint <its key>` here (or on any activated member), then `keyledger start` there.\n';
    const self = o.thisInstance.activated
      ? `This instance: activated under key version ${o.keyVersion}.\n`
      : `This instance was not activated under the new version (${o.thisInstance.why}): run keyledger start here.\n`;
    emit(io, g, o, `${head}; ${o.reencrypted} secret(s) re-encrypted; key version ${o.retiredVersion} retired (KeyVersionRetired recorded).\n${self}${stale}`);
    return E.right(EXIT.ok);
  });

export const registerRecreate = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('recreate')
    .description(
      "re-create the deployment's symmetric key (rskeymgmt -s), on an activated member: a new key version wrapped for every active member, " +
        'every secret re-encrypted under it, then the old version retired — each step signed and recorded ' +
        '(SymmetricKeyCreated + SymmetricKeyWrapped, one SecretsReencrypted per 1,000 secrets, KeyVersionRetired)',
    )
    .addHelpText(
      'after',
      `
When: a member was removed and may have kept the key; a key suspected exposed; a policy's rotation period.
Safe to interrupt: until the old version is retired every secret stays readable under the version it is in, and
running keyledger recreate again finishes the same re-creation (it never starts a second one over an unfinished one).

Members that were not activated when it ran keep their old copy and are refused (StaleWrappedCopy) until a member
re-wraps for them: keyledger join <installationID> --expect-thumbprint <its key> on a member, then keyledger start there.
Take a new backup afterwards (keyledger backup -f FILE): a backup of the old version restores nothing now.

A progress bar is drawn on a terminal (never with --json, nor into a pipe).

Examples:
  keyledger recreate
  keyledger rskeymgmt -s
Exit codes: 0 re-created (or finished), 1 this instance is not activated, 3 failure, 4 tampering found, 5 refused.`,
    )
    .action(async () => done(await recreateCommand(io, globals())));
};
