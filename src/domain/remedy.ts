/**
 * Remedies as data: the keyledger commands to run, where, in order, and one
 * sentence saying why — or, when the only real remedy is outside keyledger
 * (restoring the store itself), a plain sentence saying so and no command.
 * Where no member holds the key any more, the remedy is SSRS's: apply a key
 * backup (`keyledger restore`, rskeymgmt -a) — and, only as the last resort when
 * no backup exists, delete the encrypted content and initialize afresh
 * (`keyledger delete-content`, rskeymgmt -d; docs/adr/0015). Every command named
 * here exists; test/remedy-walk.e2e.ts, test/backup-restore-walk.e2e.ts and
 * test/full/delete-content-walk.e2e.ts follow each remedy literally and reach an activated instance.
 */
import type { RefusalReason } from './events';

/** Where a step runs: on the instance the remedy is for, on any activated member, or on the other machine presenting this installation ID. */
export type Where = 'this-instance' | 'a-member' | 'the-other-machine';

/** A command-line argument: literal text, or a value an earlier step printed (the new installation ID, its key's thumbprint). */
export type Arg = string | { readonly placeholder: 'new-installation-id' | 'new-thumbprint' | 'genesis-thumbprint' | 'backup-file' };

export interface RemedyStep {
  readonly on: Where;
  /** The arguments after `keyledger`. */
  readonly args: ReadonlyArray<Arg>;
}

/** What to do when the remedy cannot be followed (no key backup exists): destructive, so never the first choice. */
export interface LastResort {
  readonly sentence: string;
  readonly steps: ReadonlyArray<RemedyStep>;
}

export type Remedy =
  | { readonly _tag: 'Run'; readonly sentence: string; readonly steps: ReadonlyArray<RemedyStep>; readonly lastResort?: LastResort }
  | { readonly _tag: 'NotYetPossible'; readonly sentence: string };

export interface RemedyContext {
  readonly installationId: string;
  /** The thumbprint a join confirms — its signing key's (its RSA key's, before signatures) — (null: not known yet). */
  readonly thumbprint: string | null;
  /** Activated members other than this installation that hold the current key (possible sponsors). */
  readonly otherHolders: number;
  /** Its deployment: what `delete-content --confirm` names in a last resort (absent or null: no last resort is offered). */
  readonly deploymentId?: string | null;
}

const NEW_ID: Arg = { placeholder: 'new-installation-id' };
const NEW_THUMBPRINT: Arg = { placeholder: 'new-thumbprint' };
/** The genesis thumbprint as the operator who declared it gives it (never taken from the ledger). */
const GENESIS: Arg = { placeholder: 'genesis-thumbprint' };

/** A join names the key the operator confirms: the thumbprint `keyledger status` prints on the newcomer. */
const join = (id: Arg, thumbprint: Arg, ...more: ReadonlyArray<Arg>): ReadonlyArray<Arg> => ['join', id, '--expect-thumbprint', thumbprint, ...more];

const run = (sentence: string, ...steps: ReadonlyArray<RemedyStep>): Remedy => ({ _tag: 'Run', sentence, steps });
const step = (on: Where, ...args: ReadonlyArray<Arg>): RemedyStep => ({ on, args });

/** The key backup file the operator keeps (made with `keyledger backup` or rskeymgmt -e): the operator names it. */
const BACKUP_FILE: Arg = { placeholder: 'backup-file' };

export const BACKUP_RESTORE_NEEDED = 'no other member holds the key, so nobody can wrap it for this instance: restore it from a key backup';

export const DELETE_CONTENT_LAST_RESORT =
  "if no backup of the key exists, delete the deployment's encrypted content (every secret is destroyed, for good) and initialize it afresh with a new key";

/**
 * The last resort where a backup restore is the remedy (SSRS: "restore a backup key or delete all encrypted content"):
 * the same first steps (a new installation, a removal), then delete-content and init on the same instance.
 */
const deleteContentLastResort = (ctx: RemedyContext, on: Where, before: ReadonlyArray<RemedyStep> = []): LastResort | undefined =>
  ctx.deploymentId
    ? { sentence: DELETE_CONTENT_LAST_RESORT, steps: [...before, step(on, 'delete-content', '--confirm', ctx.deploymentId), step(on, 'init')] }
    : undefined;

const withLastResort = (r: Remedy, lastResort: LastResort | undefined): Remedy => (r._tag === 'Run' && lastResort ? { ...r, lastResort } : r);

/** Apply a key backup on this instance (rskeymgmt -a): it re-wraps the key for its key pair and starts it; without one, delete the content. */
export const restoreFromBackup = (why: string, ctx?: RemedyContext): Remedy =>
  withLastResort(
    run(`${why}: ${BACKUP_RESTORE_NEEDED}`, step('this-instance', 'restore', '-f', BACKUP_FILE)),
    ctx && deleteContentLastResort(ctx, 'this-instance'),
  );
const backupNeeded = restoreFromBackup;

/** A backup was refused as not this deployment's key (or not its current version): the right one, restored the same way. */
export const restoreTheRightBackup = (keyVersion: number): Remedy =>
  run(`restore a backup of this deployment's key version ${keyVersion} instead`, step('this-instance', 'restore', '-f', BACKUP_FILE));

/** The key pair this installation was registered with is gone or not its own: a new installation ID, joined by a member. */
export const freshInstallation = (ctx: RemedyContext, why: string, on: Where = 'this-instance'): Remedy =>
  ctx.otherHolders === 0
    ? withLastResort(
        run(
          `${why}: ${BACKUP_RESTORE_NEEDED} — give ${on === 'the-other-machine' ? 'the other machine' : 'this machine'} a new installation ID and key pair, ` +
            `remove installation ${ctx.installationId} (its key pair is lost), then restore the key onto the new one`,
          step(on, 'init', '--new-installation-id'),
          step(on, 'remove', ctx.installationId, '--force'),
          step(on, 'restore', '-f', BACKUP_FILE),
        ),
        deleteContentLastResort(ctx, on, [step(on, 'init', '--new-installation-id'), step(on, 'remove', ctx.installationId, '--force')]),
      )
    : run(
        `${why}: give ${on === 'the-other-machine' ? 'the other machine' : 'this machine'} a new installation ID and key pair, ` +
          `have a member join it, then start it (afterwards, if the old key is lost for good, remove installation ${ctx.installationId} from a member)`,
        step(on, 'init', '--new-installation-id'),
        step('a-member', ...join(NEW_ID, NEW_THUMBPRINT)),
        step(on, 'start'),
      );

/** A deletion of the encrypted content stopped half-way: a member runs it again, which finishes it (then the deployment is initialized afresh). */
export const finishContentDeletion = (deploymentId: string): Remedy =>
  run(
    "finish the deletion of the deployment's encrypted content (it cannot be undone: its secrets are being destroyed), then initialize it afresh",
    step('a-member', 'delete-content', '--confirm', deploymentId),
    step('a-member', 'init'),
  );

/** A member wraps the current key for this instance again; then it proves it. */
/** A removed member may have kept the key: a member re-creates it (every secret re-encrypted, the old version retired). */
export const recreateTheKey = (why: string): Remedy =>
  run(`${why}: have an activated member re-create the key (every secret is re-encrypted; its copies then open nothing current)`, step('a-member', 'recreate'));

/** The current key version has no (recent enough) backup: an activated member writes one (rskeymgmt -e), kept where the operators keep backups. */
export const backUpTheKey = (why: string): Remedy =>
  run(`${why}: have an activated member back up the key to a password-protected file`, step('a-member', 'backup', '-f', BACKUP_FILE));

export const joinAgain = (ctx: RemedyContext, why: string, rewrap = false): Remedy => {
  if (ctx.otherHolders === 0) return backupNeeded(why, ctx);
  if (ctx.thumbprint === null) return resumeInit(`${why}, but no key pair of it is recorded yet`);
  return run(
    `${why}: have an activated member wrap the current key for it (once the thumbprint matches what keyledger status prints on it), then start it`,
    step('a-member', ...join(ctx.installationId, ctx.thumbprint, ...(rewrap ? ['--rewrap'] : []))),
    step('this-instance', 'start'),
  );
};

/** A copy is wrapped for it: it only has to prove it. */
export const proveCopy = (why: string): Remedy => run(`${why}: start it`, step('this-instance', 'start'));

export const resumeInit = (why: string): Remedy => run(`${why}: resume initialization`, step('this-instance', 'init'));

export const rejoin = (ctx: RemedyContext, why: string): Remedy =>
  ctx.otherHolders === 0
    ? withLastResort(
        run(
          `${why}: if it should be a member again, ${BACKUP_RESTORE_NEEDED} — register it again, then restore the key onto it`,
          step('this-instance', 'init', '--rejoin'),
          step('this-instance', 'restore', '-f', BACKUP_FILE),
        ),
        deleteContentLastResort(ctx, 'this-instance', [step('this-instance', 'init', '--rejoin')]),
      )
    : run(
        `${why}: if it should be a member again, register it again, have a member join it, then start it; otherwise shut it down`,
        step('this-instance', 'init', '--rejoin'),
        step('a-member', ...join(ctx.installationId, ctx.thumbprint ?? NEW_THUMBPRINT)),
        step('this-instance', 'start'),
      );

/**
 * The store no longer holds events this instance relied on (LedgerRolledBack): restore the store, or — only when it
 * was restored from a backup on purpose — accept it where the instance runs (`stream@revision`: the head the store shows now).
 */
export const acceptRollback = (stream: string, revision: string): Remedy =>
  run(
    'the store no longer holds events this instance relied on: restore the store from a backup that has them; ' +
      'only if it was restored from a backup on purpose, accept it on this instance',
    step('this-instance', 'accept-rollback', '--to', `${stream}@${revision}`),
  );

/** The store is not the ledger this instance belongs to (LedgerReplaced). */
export const LEDGER_REPLACED: Remedy = {
  _tag: 'NotYetPossible',
  sentence:
    'the store is not the ledger this instance belongs to (replaced, or re-created after it was lost or emptied): restore the ledger it belongs to ' +
    'from a backup, or check the "store" setting; to make it a member of the ledger found there instead, run keyledger init --new-installation-id on it',
};

/** An event of the ledger was altered (its hash, link or revision): nothing in it after that point can be relied on. */
export const ledgerAltered = (where: string): Remedy => ({
  _tag: 'NotYetPossible',
  sentence: `the ledger holds an altered event at ${where}: restore the store from a backup taken before it (keyledger verify names every problem)`,
});

export const remedyFor = (r: RefusalReason, ctx: RemedyContext): Remedy => {
  switch (r._tag) {
    case 'KeystoreUnavailable':
      // Unreadable (permissions, I/O): the detail says what to fix; the key pair is not lost.
      if (r.problem === 'unreadable') return run(`the keystore cannot be read (${r.detail}): fix that, then start it`, step('this-instance', 'start'));
      return freshInstallation(
        ctx,
        r.problem === 'locked'
          ? 'the keystore cannot be decrypted here (start the service under the identity it was protected for, if that is the cause)'
          : `the keystore is ${r.problem} (restore the file from a backup and run keyledger start, if you have one)`,
      );
    case 'KeystoreBelongsToOtherInstallation':
      return freshInstallation(
        ctx,
        `the config's installation ID does not match its keystore (${r.keystoreInstallationId}; put that ID back in the config if it was edited by mistake)`,
      );
    case 'InstallationNotRegistered':
      return resumeInit('the installation is not registered in the deployment');
    case 'PublicKeyMismatch':
      return freshInstallation(ctx, 'this machine holds another key pair than the one registered for the installation');
    case 'ServiceIdentityChanged':
      return run(
        'the service identity changed without updating the keys: move the keys to the new identity',
        step('this-instance', 'change-identity', r.presentedIdentity),
      );
    case 'ConfigurationChanged':
      return freshInstallation(
        ctx,
        `the config's ${r.field} differs from the one recorded for the installation (restore "${r.recorded}" in the config if it was changed by mistake)`,
      );
    case 'NoSymmetricKey':
      return resumeInit('the deployment has no symmetric key yet');
    case 'NoWrappedCopy':
      return joinAgain(ctx, 'it is waiting to join');
    case 'WrappedCopyForOtherKey':
      return joinAgain(ctx, 'its copy is wrapped for another key pair');
    case 'UnwrapFailed':
      return joinAgain(ctx, 'its copy cannot be unwrapped', true);
    case 'KeyCheckMismatch':
      return joinAgain(ctx, "its copy holds a key that is not the deployment's", true);
    case 'InstanceRemoved':
      return rejoin(ctx, 'it was removed from the scale-out');
    case 'StaleWrappedCopy':
      return joinAgain(ctx, 'its copy is of an older key version');
    case 'NoMemberHoldsKey':
      return backupNeeded('the last member holding the key was removed', ctx);
    case 'ContentDeleted':
      return ctx.otherHolders === 0
        ? run(
            "the deployment's key and encrypted content were deleted: initialize it afresh here — it creates the new key " +
              '(or, if another instance did first, waits to be joined)',
            step('this-instance', 'init'),
          )
        : joinAgain(ctx, "its copy was deleted with the deployment's encrypted content");
    case 'DeploymentNotSigned':
      return run(
        'the deployment predates signed key events: make a member that holds the key (this one, if it does) its root of trust, ' +
          'then start this instance and follow what it says',
        step('a-member', 'trust', '--declare-genesis'),
        step('this-instance', 'start'),
      );
    case 'GenesisNotPinned':
      if (r.ledgerGenesis === null)
        return {
          _tag: 'NotYetPossible',
          sentence:
            "the deployment's signed key events were altered: do not use the ledger; restore the store from a backup taken before the change " +
            '(keyledger verify --signatures names the events), then keyledger accept-rollback on each instance that asks',
        };
      return run(
        'only if the operator who declared the new genesis confirms its thumbprint to you out of band: pin it here, then start it',
        step('this-instance', 'trust', '--expect-genesis', GENESIS),
        step('this-instance', 'start'),
      );
    case 'UntrustedKeyEvent':
      switch (r.problem) {
        case 'no-signing-key':
          return ctx.otherHolders === 0
            ? {
                _tag: 'NotYetPossible',
                sentence:
                  'this instance has no signing key yet (its keystore predates signed key events) and no other member holds the key: ' +
                  'restore the key from a backup onto a new installation (keyledger init --new-installation-id, then keyledger restore -f FILE)',
              }
            : run(
                'this instance has no signing key yet: give it one and pin the genesis (confirm its thumbprint with the operator who declared it), ' +
                  'have a member wrap the key for it again, then start it',
                step('this-instance', 'trust', '--expect-genesis', GENESIS),
                step('a-member', ...join(ctx.installationId, NEW_THUMBPRINT, '--rewrap')),
                step('this-instance', 'start'),
              );
        case 'copy-not-certified':
        case 'copy-certifies-another-signing-key':
          return joinAgain(ctx, 'its copy is not certified by a member', true);
        case 'deletion-not-signed-by-a-member':
          return {
            _tag: 'NotYetPossible',
            sentence:
              "the ledger says the deployment's key was deleted, but no member entitled to delete it signed that: do not initialize it afresh; " +
              'restore the store from a backup taken before that event (keyledger verify --signatures names it), then keyledger accept-rollback ' +
              'on each instance that asks',
          };
        case 'key-check-not-signed-by-a-member':
          return {
            _tag: 'NotYetPossible',
            sentence:
              'the key version was not created by a certified member: do not use it; restore the store from a backup taken before it ' +
              '(keyledger verify --signatures names the event), then keyledger accept-rollback on each instance that asks',
          };
      }
      break;
    case 'KeyNotThePinnedKey':
      return {
        _tag: 'NotYetPossible',
        sentence:
          'the ledger was altered to hand this instance another key: do not use it; restore the store from a backup taken before the change ' +
          '(keyledger verify cannot see it: the hash chain was rewritten), then keyledger accept-rollback on each instance that asks',
      };
  }
};

const argText = (a: Arg): string =>
  typeof a === 'string'
    ? /^[\w@.:/\\=-]+$/.test(a)
      ? a
      : JSON.stringify(a)
    : a.placeholder === 'new-installation-id'
      ? '<new installation ID>'
      : a.placeholder === 'genesis-thumbprint'
        ? '<the genesis thumbprint its operator gives you>'
        : a.placeholder === 'backup-file'
          ? '<the key backup file>'
          : '<its thumbprint>';

const whereText = (w: Where): string => (w === 'this-instance' ? 'on this instance' : w === 'a-member' ? 'on an activated member' : 'on the other machine');

const stepsText = (steps: ReadonlyArray<RemedyStep>): string =>
  steps.map((s, i) => `${i === 0 ? '' : 'then '}${whereText(s.on)} run \`keyledger ${s.args.map(argText).join(' ')}\``).join('; ');

/** One line: the sentence, then each command with where it runs (and the last resort, after it). */
export const remedyText = (r: Remedy): string =>
  r._tag === 'NotYetPossible' ? r.sentence : `${r.sentence}: ${stepsText(r.steps)}${r.lastResort ? `. ${lastResortText(r.lastResort)}` : ''}`;

/** The last resort alone: its sentence and its commands. */
export const lastResortText = (l: LastResort): string => `Last resort — ${l.sentence}: ${stepsText(l.steps)}`;
