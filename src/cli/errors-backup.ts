/** The one-line errors of `backup` and `restore` (src/commands/backup.ts): what, why, what to do — and that nothing changed. */
import type { BackupError } from '../commands/backup';
import { remedyText, restoreTheRightBackup } from '../domain/remedy';

export type BackupOnlyError = Extract<
  BackupError,
  {
    readonly _tag:
      | 'BackupMalformed'
      | 'BackupIterationsTooHigh'
      | 'BackupPasswordWrong'
      | 'BackupCorrupted'
      | 'BackupSealFailed'
      | 'BackupFileNotWritten'
      | 'BackupOfAnotherDeployment'
      | 'RestoreNeedsRegistration'
      | 'RestoreNeedsSigningKey'
      | 'MembersRemain'
      | 'KeyCheckNotTrusted'
      | 'BackupNotThePinnedKey';
  }
>;

const NOTHING = 'Nothing was changed.';

export const describeBackupError = (e: BackupOnlyError): string => {
  switch (e._tag) {
    case 'BackupMalformed':
      return `the file is not a usable key backup: ${e.detail}. ${NOTHING} Give the whole file keyledger backup (or rskeymgmt -e) wrote.`;
    case 'BackupIterationsTooHigh':
      return (
        `the backup asks for ${e.iterations} PBES2 iterations, above the ceiling of ${e.ceiling}: refused without deriving anything ` +
        `(a file like this would keep restore busy for hours). ${NOTHING} Use a backup keyledger wrote.`
      );
    case 'BackupPasswordWrong':
      return `the password does not open this backup (or the key wrapped in it is damaged). ${NOTHING} Give the password it was written with.`;
    case 'BackupCorrupted':
      return `the backup was altered after it was written: ${e.detail}. ${NOTHING} Use an intact copy of it.`;
    case 'BackupSealFailed':
      return `the backup could not be sealed: ${e.detail}. Nothing was written or recorded.`;
    case 'BackupFileNotWritten':
      return e.exists
        ? `${e.path} already exists: nothing was written or recorded. Choose another file, or pass --force to replace it.`
        : `cannot write ${e.path}: ${e.detail}. Nothing was recorded.`;
    case 'BackupOfAnotherDeployment':
      return `the backup is of deployment "${e.backup}", not this instance's "${e.config}". ${NOTHING} Restore a backup of "${e.config}".`;
    case 'RestoreNeedsRegistration':
      return (
        `installation ${e.installationId} is not registered in the deployment with the key pair it holds. ${NOTHING} ` +
        'Run keyledger init on it first (keyledger init --new-installation-id if its key pair was lost), then restore.'
      );
    case 'RestoreNeedsSigningKey':
      return (
        `this instance's keystore predates signed key events (it has no signing key), and a restore signs what it records. ${NOTHING} ` +
        'Run keyledger init --new-installation-id, then restore onto the new installation.'
      );
    case 'MembersRemain':
      return (
        `${e.members} certified member(s) of the deployment remain and this instance is not one of them: a restore here would need a new ` +
        `root of trust, which is refused while members remain. ${NOTHING} Have a member join it instead ` +
        `(keyledger join ${e.installationId} --expect-thumbprint <its thumbprint> --rewrap).`
      );
    case 'KeyCheckNotTrusted':
      return (
        `the deployment's key check for key version ${e.keyVersion} is not signed by a member this instance can trust, so the backup ` +
        `cannot be checked against it. ${NOTHING} Run keyledger verify --signatures.`
      );
    case 'BackupNotThePinnedKey':
      return (
        `the backup's key is not the key version ${e.keyVersion} this instance held before (pinned in its keystore). ${NOTHING} ` +
        `${remedyText(restoreTheRightBackup(e.keyVersion))}.`
      );
  }
};
