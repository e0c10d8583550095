/**
 * Every failure the CLI can meet, as one line — what, why, what to do — and
 * the exit code it maps to. Both switches are exhaustive (no fallback branch):
 * a new error type does not compile until it is described here.
 */
import type { BackupError } from '../commands/backup';
import type { InstanceAmbiguous, InstanceNotFound } from '../commands/diagnose';
import type { DeleteContentError, NotAuthorisedWhy } from '../commands/delete-content';
import type { IdentityError } from '../commands/identity';
import { remedyText, restoreTheRightBackup } from '../domain/remedy';
import { describeBackupError } from './errors-backup';
import type { InstanceError } from '../domain/instance/decider';
import type { DeploymentError } from '../domain/deployment/decider';
import type { MembershipError } from '../commands/membership';
import type { ForkAcceptError, RollbackError } from '../commands/rollback';
import type { SecretError, SecretTamperProblem } from '../commands/secrets';
import type { TrustError } from '../commands/trust';
import type { NewcomerKeyProblem } from '../domain/newcomer-key';
import { explainRefusal } from '../domain/refusal';
import type { ConfigError } from '../infra/config';
import type { StoreSelectionError } from '../infra/open-store';
import type { CheckpointError } from '../ports/checkpoints';
import { describeStoreError } from '../ports/event-store';
import { shownDeep } from '../domain/text';
import { describeFork } from '../domain/tlog/forked';
import type { TreeCommandError } from '../commands/prove';
import type { TokenFileError } from '../infra/token-file';
import type { InstanceNameError } from '../projections/instance-by-name';

export type CliError =
  | BackupError
  | DeleteContentError
  | MembershipError
  | IdentityError
  | RollbackError
  | TrustError
  | SecretError
  | CheckpointError
  | TreeCommandError
  | ForkAcceptError
  | ConfigError
  | StoreSelectionError
  | InstanceNotFound
  | InstanceAmbiguous
  | InstanceNameError
  | TokenFileError
  | { readonly _tag: 'UsageError'; readonly message: string }
  /** `report --out FILE` could not write the file (nothing was replaced). */
  | { readonly _tag: 'ReportNotWritten'; readonly file: string; readonly code: string };

/** 6: `report` found something against its policy (docs/adr/0017-compliance-report.md); a report on an altered trail exits 4. */
export const EXIT = { ok: 0, notActivated: 1, usage: 2, failure: 3, tampered: 4, refused: 5, findings: 6 } as const;

const unreachable = (x: never): never => {
  throw new Error(`programmer error: an error without a description: ${JSON.stringify(x)}`);
};

const instanceRefused = (x: InstanceError): string => {
  switch (x._tag) {
    case 'ConfigConflict':
      return x.field === 'serviceIdentity'
        ? `this installation was initialized under service identity "${x.recorded}", but the config says "${x.presented}". ` +
            'Run keyledger change-identity to move it, or restore the config.'
        : `the config's ${x.field} is "${x.presented}", but this installation was initialized with "${x.recorded}". ` +
            'Restore the config, or give this instance a new installation ID (keyledger init --new-installation-id).';
    case 'KeyPairAlreadyIssued':
      return (
        `a different key pair (${x.recordedThumbprint}) is already recorded for this installation; ` +
        `the keystore holds ${x.presentedThumbprint}. Run keyledger status for the remedy.`
      );
    case 'NotConfigured':
      return `the instance has no recorded configuration (step "${x.step}" needs it). Run keyledger init.`;
    case 'NoKeyPair':
      return 'the instance has no recorded key pair. Run keyledger init.';
    case 'ThumbprintMismatch':
      return `the key held (${x.presentedThumbprint}) is not the one recorded (${x.recordedThumbprint}). Run keyledger status for the remedy.`;
    case 'SameServiceIdentity':
      return `the instance already runs as "${x.serviceIdentity}" with another key pair; nothing to change.`;
    default:
      return unreachable(x);
  }
};

const deploymentRefused = (x: DeploymentError): string => {
  switch (x._tag) {
    case 'InstallationKeyConflict':
      return `the deployment already holds another public key (${x.storedThumbprint}) for installation ${x.installationId}. Run keyledger status for the remedy.`;
    case 'UnknownInstallation':
      return `installation ${x.installationId} is not registered in the deployment. Run keyledger init on it.`;
    case 'SymmetricKeyExists':
      return `the deployment already has symmetric key version ${x.keyVersion}. Join this instance from an activated member instead.`;
    case 'CopyNotForRegisteredKey':
      return `the wrapped copy is for ${x.copyThumbprint}, but installation ${x.installationId} registered ${x.storedThumbprint}.`;
    case 'InstallationRemoved':
      return `installation ${x.installationId} was removed from the deployment. To bring it back run keyledger init --rejoin on it, then join it.`;
    case 'NoKeyToWrap':
      return 'the deployment has no symmetric key yet. Run keyledger init on the first instance.';
    case 'SponsorHoldsNoCurrentCopy':
      return (
        `installation ${x.sponsor} holds no copy of the current key${x.keyVersion !== null ? ` (it holds version ${x.keyVersion})` : ''}, ` +
        'so it cannot sponsor a join. Run the command on an activated member.'
      );
    case 'LastMember':
      return (
        `installation ${x.installationId} is the last member holding symmetric key version ${x.keyVersion}: removing it leaves nobody able to ` +
        'join new instances, and only a key backup brings it back (keyledger backup -f FILE on it first). Pass --force to remove it anyway.'
      );
    case 'NotAMember':
      return `installation ${x.installationId} is not a member of the deployment (see keyledger list).`;
    case 'BackupKeyVersion':
      return (
        `the backup holds key version ${x.backup}, but the deployment's current key is version ${x.current}` +
        `${x.backup < x.current ? ' (the key was re-created since)' : ''}. Nothing was changed. ${remedyText(restoreTheRightBackup(x.current))}.`
      );
    case 'BackupKeyMismatch':
      return (
        `the backup's key is not the deployment's key version ${x.keyVersion} (its key check differs from the signed one): a wrong backup, or one made for ` +
        `a deployment re-created under the same name. Nothing was changed. ${remedyText(restoreTheRightBackup(x.keyVersion))}.`
      );
    case 'RecreationUnfinished':
      return (
        `a re-creation of the key is under way (version ${x.currentVersion} created, version ${x.previousVersion} not yet retired). ` +
        'Run keyledger recreate again: it finishes that one (a new version only after).'
      );
    case 'ContentDeletionUnderway':
      return (
        `the deployment's encrypted content is being deleted (key version ${x.keyVersions.join(', ')} about to be destroyed): nothing was changed. ` +
        'Finish the deletion with keyledger delete-content --confirm <deployment ID> on a member, then keyledger init.'
      );
    case 'KeyVersionDestroyed':
      return (
        `key version ${x.keyVersion} was destroyed when the deployment's encrypted content was deleted (delete-content): nothing was changed, ` +
        'and no backup of it can be applied. Run keyledger status for what to do.'
      );
    default:
      return unreachable(x);
  }
};

const newcomerKeyRefused = (newcomer: string, p: NewcomerKeyProblem): string => {
  const nothing = 'Nothing was wrapped.';
  switch (p._tag) {
    case 'StoredKeyNotItsThumbprint':
      return (
        `the public key stored for ${newcomer} does not hash to its recorded thumbprint (recorded ${p.recorded}, computed ${p.computed}): ` +
        `the ledger was altered. ${nothing} Run keyledger verify, and have the newcomer run keyledger init again.`
      );
    case 'NotTheIssuedKey':
      return (
        `the public key stored for ${newcomer} (${p.computed}) is not the key pair the newcomer recorded (${p.issued ?? 'none'}). ` +
        `${nothing} Run keyledger status ${newcomer} for the remedy.`
      );
    case 'WeakKey':
      return `the public key stored for ${newcomer} is too weak (${p.modulusBits}-bit modulus, exponent ${p.exponent}; at least 2048 bits and e = 65537). ${nothing}`;
    case 'NotConfirmed':
      return p.expected === null
        ? `the newcomer's key ${p.computed} was not confirmed. ${nothing} Compare it with the thumbprint keyledger status prints on ${newcomer}, ` +
            `then run the join again with --expect-thumbprint ${p.computed}.`
        : `the newcomer's key is ${p.computed}, not the expected ${p.expected}: the key in the ledger is not the one on the newcomer. ${nothing} ` +
            `Check the thumbprint keyledger status prints on ${newcomer}; if they differ, the ledger was altered.`;
    case 'NoSigningKey':
      return (
        `${newcomer} has no signing key registered (its keystore predates signed key events). ${nothing} ` +
        `On ${newcomer}, run keyledger trust --expect-genesis <the genesis thumbprint>, then run the join again with the thumbprint it prints.`
      );
    case 'SigningKeyNotProved':
      return (
        `the signing key registered for ${newcomer} is not proved (recorded ${p.recorded}, computed ${p.computed}, or its proof of possession ` +
        `does not verify): the ledger was altered. ${nothing} Run keyledger verify --signatures.`
      );
    default:
      return unreachable(p);
  }
};

const TAMPER: Readonly<Record<SecretTamperProblem, string>> = {
  unsigned: 'the event that recorded its value is not signed',
  'bad-signature': 'the signature of the event that recorded its value does not verify',
  'signer-not-certified': 'the event that recorded its value is not signed by a member of the deployment',
  'signed-by-another-installation': 'the event that recorded its value is signed by another installation than the one it names',
  'ciphertext-missing': 'its ciphertext is not in the content store',
  'fingerprint-mismatch': 'the ciphertext in the content store is not the one the ledger recorded',
  malformed: 'its ciphertext is not a JWE keyledger wrote',
  'does-not-decrypt': 'its ciphertext does not decrypt under the deployment key (altered)',
  'bound-elsewhere': 'its ciphertext belongs to another secret or deployment',
};

const NOT_AUTHORISED: Readonly<Record<NotAuthorisedWhy, string>> = {
  'not-registered': 'it is not registered in the deployment with the key pair it holds',
  removed: 'it was removed from the deployment',
  'no-signing-key': 'its keystore has no signing key (it predates signed key events), so it cannot sign the deletion',
  'not-certified': 'it is not a member certified back to the genesis, and certified members remain',
  'genesis-not-pinned': "the ledger's root of trust is not the genesis this instance pinned, so the ledger's word on who may delete cannot be relied on",
};

/** One line for an error: every value in it escaped and bounded first (arguments and stored text are untrusted). */
export const describeError = (e: CliError): string => describeErrorOf(shownDeep(e, 1000));

const describeErrorOf = (e: CliError): string => {
  switch (e._tag) {
    case 'VersionConflict':
    case 'InvalidAppend':
      return describeStoreError(e);
    case 'StoreUnavailable':
      switch (e.cause) {
        case 'damaged':
          return `the ledger ${e.endpoint} is damaged (${e.message}). Run keyledger verify to see where, and restore the store from a backup.`;
        case 'full':
          return `the disk holding ${e.endpoint} is full (${e.message}): nothing was recorded. Free some space, then run the command again.`;
        case 'missing':
          return (
            `no ledger at ${e.endpoint}: ${e.message}. Nothing was created. Check the "store" setting (or --store); restore the ledger from ` +
            'a backup if it was lost; to start a new deployment, run keyledger init on its first instance (keyledger init --create-ledger if this instance was initialized before).'
          );
        case 'read-only':
          return `the ledger ${e.endpoint} is read-only (${e.message}): nothing was recorded. Make it writable, or run this on a member that can write it.`;
        case 'outcome-unknown':
          return (
            `${describeStoreError(e)}. The change may or may not have been recorded: run the command again — it reads the ledger first ` +
            'and does not repeat what was recorded.'
          );
        default:
          return `${describeStoreError(e)}. Check the "store" setting in the config and that the store is reachable.`;
      }
    case 'StoredRecordUnreadable':
      return `${describeStoreError(e)}. Run keyledger verify, and restore the store from a backup.`;
    case 'AccessDenied':
      return (
        `${describeStoreError(e)}. Give the store user the rights the README's EventStoreDB permissions table lists for this command (writing the ` +
        "ledger: the config's esdb.writerRole; the global order: read access to $all), or run it as a user that has them."
      );
    case 'AppendTooLarge':
      return `${describeStoreError(e)}. Raise the server's MaxAppendSize (up to 16 MiB), then run the command again.`;
    case 'NotLeader':
      return (
        `${describeStoreError(e)}. Check the cluster (an election may be under way) and that every node in the connection string is reachable, ` +
        'then run the command again.'
      );
    case 'StreamDeleted':
      return (
        `${describeStoreError(e)}: part of the audit trail no longer reads, so nothing was decided or recorded. Run keyledger verify to see every ` +
        "stream it affects, restore the store from a backup, and find out who deleted it (the ledger's streams should allow no deletion: see the README)."
      );
    case 'CorruptEvent':
      return (
        `the ledger holds an invalid event at ${e.stream}@${e.revision} (${e.eventType}): ${e.problem}. ` +
        'Run keyledger verify for the full picture; restore the store from a backup.'
      );
    case 'InvalidEvent':
      return `refused to write an invalid ${e.eventType} event to ${e.stream}: ${e.problem}. Nothing was written; this is a bug, please report it.`;
    case 'CryptoError':
      return `cryptographic ${e.operation} failed: ${e.message}.`;
    case 'KeystoreError':
      return `the keystore ${e.path} is ${e.problem}: ${e.detail}.`;
    case 'InstanceRefused':
      return instanceRefused(e.error);
    case 'DeploymentRefused':
      return deploymentRefused(e.error);
    case 'SponsorNotActivated':
      return `this instance (${e.sponsor}) cannot sponsor a join: ${
        e.reason
          ? `${explainRefusal(e.reason).summary}. Run keyledger status on it for the remedy, or run the join on another activated member`
          : 'it cannot open its keystore. Run keyledger status on it for the remedy'
      }.`;
    case 'NewcomerKeyRefused':
      return newcomerKeyRefused(e.newcomer, e.problem);
    case 'NotAMemberYet':
      return `installation ${e.installationId} is not a member of the deployment yet (no key registered, or no copy to move). Finish keyledger init (and a join) first.`;
    case 'CannotProveKey':
      return `cannot prove this instance holds the current key (${e.detail}). Run keyledger status for the remedy.`;
    case 'TooManyConflicts':
      return `gave up after ${e.attempts} concurrent changes to ${e.stream}: other commands keep changing it. Try again when they are done.`;
    case 'LedgerRolledBack': {
      const now = e.found.revision === 'no_stream' ? 'has no events any more' : `now ends at revision ${e.found.revision}`;
      const differs = e.found.hashAtRemembered === null ? '' : ` and holds another event at ${e.remembered.revision}`;
      return (
        `the ledger was rolled back: ${e.stream} was at revision ${e.remembered.revision} when this instance last relied on it, but ${now}${differs}. ` +
        'Key decisions stop here. Restore the store; or, if it was restored from a backup on purpose, ' +
        `run keyledger accept-rollback --to ${e.stream}@${e.found.revision === 'no_stream' ? -1 : e.found.revision} on this instance.`
      );
    }
    case 'LedgerReplaced':
      return (
        `the store ${e.endpoint} is not the ledger this instance belongs to (ledger ${e.found}, not ${e.remembered}): it was replaced, or ` +
        're-created after it was lost or emptied. Key decisions stop here. Restore the ledger this instance belongs to (from a backup), or ' +
        'check the "store" setting; to make it a member of the ledger found there instead, give it a new installation ID (keyledger init --new-installation-id).'
      );
    case 'LocalStateError':
      return e.problem === 'tampered'
        ? `the local state ${e.location} was altered (${e.message}): key decisions stop here. ` +
            'If you trust the ledger as it is, run keyledger accept-rollback --to <stream>@<its last revision> for that stream.'
        : `the local state ${e.location} cannot be used: ${e.message}.`;
    case 'LedgerForked':
      return describeFork(e);
    case 'TreeIndexError':
      return `the ledger's tree index ${e.location} cannot be used: ${e.message}. Run keyledger verify to compare it with the events.`;
    case 'TreeSizeMismatch':
      return `the ledger's tree has ${e.size} events, not ${e.named}: name the size it has now (--tree ${e.size}).`;
    case 'LedgerEmpty':
      return 'the ledger has no events yet: there is no tree to sign or prove anything in.';
    case 'EventNotFound':
      return `the ledger has no event ${e.stream}@${e.revision} (keyledger verify lists every stream and its last revision).`;
    case 'EventNotInIndex':
      return (
        `the tree index does not hold ${e.stream}@${e.revision} as the store shows it (${e.detail}): the ledger or its index was altered. ` +
        'Run keyledger verify to see where.'
      );
    case 'NoCheckpointCovers':
      return `no checkpoint kept with the ledger covers ${e.stream}@${e.revision} (leaf ${e.leaf}) yet: run keyledger checkpoint, then prove it again.`;
    case 'CheckpointUnusable':
      return `the checkpoint ${e.source} cannot be used: ${e.detail}.`;
    case 'CheckpointError':
      return `the projection checkpoint file ${e.location} cannot be used: ${e.message}. Delete it to rebuild the view from the ledger.`;
    case 'ConfigError':
      return `config ${e.file}: ${e.message}.`;
    case 'UnsupportedConnectionString':
      return `unsupported store "${e.connectionString}": ${e.message}.`;
    case 'NoLocalMemory':
      return "this instance's machine secret is not there, so it keeps no memory of the ledger to accept a rollback into.";
    case 'RollbackTargetMismatch':
      return `the store's ${e.stream} ends at revision ${e.storeEndsAt}, not ${e.named}: name the head the store shows now (--to ${e.stream}@${e.storeEndsAt}).`;
    case 'GenesisStands':
      return (
        `the deployment already has a root of trust (genesis ${e.genesis}) and ${e.members} certified member(s): a new genesis is only for a ` +
        'deployment from before signed key events, or when no certified member remains. Nothing was recorded.'
      );
    case 'NoGenesisToAccept':
      return (
        `the ledger shows no root of trust to accept as ${e.expected}: none was declared yet, or its key events do not verify. ` +
        'Run keyledger trust --declare-genesis on a member that holds the key first; keyledger verify --signatures names altered events.'
      );
    case 'GenesisNotExpected':
      return (
        `the ledger's genesis is ${e.ledger}, not the ${e.expected} you confirmed: nothing was pinned. ` +
        'Check the thumbprint with the operator who declared it; if they differ, the ledger was altered (keyledger verify --signatures).'
      );
    case 'ContentStoreError':
      return `the content store ${e.location} cannot be used: ${e.message}.`;
    case 'SecretsNotActivated':
      return e.reason
        ? `this instance (${e.installationId}) cannot use the deployment key: ${explainRefusal(e.reason).summary}. Run keyledger status for the remedy.`
        : `this instance (${e.installationId}) is not activated: secrets need the deployment key. Run keyledger start (keyledger status says why not).`;
    case 'SecretMissing':
      return `there is no secret named "${e.name}" in this deployment (keyledger secret list shows them).`;
    case 'SecretKeyVersion':
      return (
        `secret "${e.name}" is encrypted under key version ${e.secretVersion}, and this instance holds version ${e.heldVersion}. ` +
        'Put the value again from a member holding the current key (keyledger secret put).'
      );
    case 'SecretTampered':
      return (
        `secret "${e.name}" was not decrypted: ${TAMPER[e.problem]}${e.detail !== undefined ? ` (${e.detail})` : ''} — ` +
        `the content store or ledger was altered at ${e.revision}. Run keyledger verify --signatures, restore the store from a backup, ` +
        'or put the value again.'
      );
    case 'InvalidSecret':
      return e.message;
    case 'DeletionNotConfirmed':
      return (
        `--confirm "${e.given}" is not this instance's deployment ID: nothing was deleted. To delete every secret of deployment ${e.deploymentId} ` +
        `and destroy its key, run keyledger delete-content --confirm ${e.deploymentId} (without --confirm it only shows what would be destroyed).`
      );
    case 'DeletionNotAuthorised':
      return (
        `this instance (${e.installationId}) may not delete the deployment's encrypted content: ${NOT_AUTHORISED[e.why]}. Nothing was deleted. ` +
        (e.why === 'not-certified'
          ? `Run it on one of the ${e.members} certified member(s) (keyledger list shows the joined ones).`
          : e.why === 'genesis-not-pinned'
            ? 'Run keyledger status for the remedy (confirm the new genesis with its operator first).'
            : 'Run it on a member of the deployment (keyledger status says what this instance needs).')
      );
    case 'KeyBeingDestroyed':
      return (
        `the deployment's encrypted content is being deleted (key version ${e.keyVersion} is destroyed): nothing was stored. ` +
        'Put the value again once the deployment is initialized afresh (keyledger status says what to do).'
      );
    case 'UsageError':
      return e.message;
    case 'TokenFileError':
      return `the token file ${e.file} cannot be used: ${e.message}.`;
    case 'ReportNotWritten':
      return `the report could not be written to ${e.file} (${e.code}); nothing was replaced there: give --out a file in a folder you can write`;
    case 'InstanceNotFound':
      return (
        `no instance ${e.instance} on machine ${e.machine} was ever registered in deployment ${e.deploymentId} (the names its PublicKeyStored carries). ` +
        'Check the names (keyledger list), name another deployment with --deployment, or give the installation ID ' +
        '(an instance that never stored its public key is found only by it: keyledger audit --all --type ConfigRead lists them).'
      );
    case 'InstanceAmbiguous':
      return (
        `${e.installationIds.length} installations were registered as ${e.instance} on ${e.machine} in deployment ${e.deploymentId} ` +
        `(${e.installationIds.join(', ')}): give the installation ID instead.`
      );
    case 'NoInstanceNamed':
      return `no instance ${e.instance} on machine ${e.machine} in the ledger: run keyledger init on it first (see keyledger list)`;
    case 'InstanceNameAmbiguous':
      return (
        `${e.installationIds.length} instances are named ${e.instance} on ${e.machine}, and not exactly one of them is waiting to join ` +
        `(${e.installationIds.join(', ')}): give the installation ID instead (see keyledger list)`
      );
    case 'BackupMalformed':
    case 'BackupIterationsTooHigh':
    case 'BackupPasswordWrong':
    case 'BackupCorrupted':
    case 'BackupSealFailed':
    case 'BackupFileNotWritten':
    case 'BackupOfAnotherDeployment':
    case 'RestoreNeedsRegistration':
    case 'RestoreNeedsSigningKey':
    case 'MembersRemain':
    case 'KeyCheckNotTrusted':
    case 'BackupNotThePinnedKey':
      return describeBackupError(e);
    default:
      return unreachable(e);
  }
};

export const exitCodeOf = (e: CliError): number => {
  switch (e._tag) {
    case 'BackupFileNotWritten':
      return e.exists ? EXIT.usage : EXIT.failure;
    case 'BackupCorrupted':
      return EXIT.tampered;
    case 'BackupSealFailed':
      return EXIT.failure;
    case 'BackupMalformed':
    case 'BackupIterationsTooHigh':
    case 'BackupPasswordWrong':
    case 'BackupOfAnotherDeployment':
    case 'RestoreNeedsRegistration':
    case 'RestoreNeedsSigningKey':
    case 'MembersRemain':
    case 'KeyCheckNotTrusted':
    case 'BackupNotThePinnedKey':
      return EXIT.refused;
    case 'DeletionNotAuthorised':
      return EXIT.refused;
    case 'ConfigError':
    case 'UsageError':
    case 'InstanceNotFound':
    case 'InstanceAmbiguous':
    case 'NoInstanceNamed':
    case 'InstanceNameAmbiguous':
    case 'DeletionNotConfirmed':
    case 'InvalidSecret':
    case 'UnsupportedConnectionString':
    case 'RollbackTargetMismatch':
      return EXIT.usage;
    case 'NoLocalMemory':
    case 'SecretMissing':
    case 'KeyBeingDestroyed':
      return EXIT.refused;
    case 'SecretsNotActivated':
      return EXIT.notActivated;
    case 'SecretTampered':
      return EXIT.tampered;
    case 'SecretKeyVersion':
    case 'ContentStoreError':
    case 'ReportNotWritten':
    case 'TokenFileError':
      return EXIT.failure;
    case 'InstanceRefused':
    case 'DeploymentRefused':
    case 'SponsorNotActivated':
    case 'NewcomerKeyRefused':
    case 'NotAMemberYet':
    case 'CannotProveKey':
    case 'GenesisStands':
    case 'NoGenesisToAccept':
      return EXIT.refused;
    case 'GenesisNotExpected':
    case 'LedgerForked':
    case 'EventNotInIndex':
    case 'StreamDeleted':
      return EXIT.tampered;
    case 'TreeIndexError':
      return EXIT.failure;
    case 'LedgerEmpty':
    case 'EventNotFound':
    case 'NoCheckpointCovers':
      return EXIT.refused;
    case 'CheckpointUnusable':
    case 'TreeSizeMismatch':
      return EXIT.usage;
    case 'LedgerReplaced':
      return EXIT.tampered;
    case 'LedgerRolledBack':
    case 'LocalStateError':
      return e._tag === 'LedgerRolledBack' || e.problem === 'tampered' ? EXIT.tampered : EXIT.failure;
    case 'CorruptEvent':
      // an altered event, link or revision (tampering) vs an event that does not decode
      return e.tampered === true ? EXIT.tampered : EXIT.failure;
    case 'VersionConflict':
    case 'InvalidAppend':
    case 'StoreUnavailable':
    case 'StoredRecordUnreadable':
    case 'AccessDenied':
    case 'AppendTooLarge':
    case 'NotLeader':
    case 'InvalidEvent':
    case 'CryptoError':
    case 'KeystoreError':
    case 'TooManyConflicts':
    case 'CheckpointError':
      return EXIT.failure;
    default:
      return unreachable(e);
  }
};
