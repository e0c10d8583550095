/** Test helpers for key backup and restore: the CLI with a password, the state a refusal must not change, a re-created key. */
import * as fs from 'node:fs';
import { signerOf } from '../../src/commands/signing';
import { type EventSigner, sealEvents } from '../../src/domain/envelope';
import type { LedgerEvent } from '../../src/domain/events';
import { type DeploymentId, deploymentStream, type KeyVersion } from '../../src/domain/ids';
import { fileKeystore } from '../../src/infra/file-keystore';
import { joseCrypto } from '../../src/infra/jose-crypto';
import { sha256Hex } from '../../src/infra/sha256';
import { cliWith, type InProcResult } from './cli-inproc';
import { aContext, openTestStore, rightOf } from './fixtures';
import { eventsOf } from './ledger-reader';
import { deploymentEvents, instanceEvents, ledgerFile, type TestNode } from './nodes';

export const BACKUP_PASSWORD = 'correct horse battery staple';
/** `npm test` writes backups at 1000 iterations (the CLI warns); one test proves the 600,000 default. */
export const FAST = { KEYLEDGER_TEST_BACKUP_ITERATIONS: '1000' };

export const backup = (n: TestNode, file: string, password = BACKUP_PASSWORD, extra: ReadonlyArray<string> = []): Promise<InProcResult> =>
  cliWith({ stdin: `${password}\n`, env: FAST }, '-c', n.file, 'backup', '-f', file, '--password-stdin', ...extra);

/** restore with the password typed at the (hidden) prompt, as an operator following a printed remedy would. */
export const restore = (n: TestNode, file: string, password = BACKUP_PASSWORD, ...extra: string[]): Promise<InProcResult> =>
  cliWith({ answer: password }, '-c', n.file, ...extra, 'restore', '-f', file);

const identityOf = (n: TestNode): string => (JSON.parse(fs.readFileSync(n.file, 'utf8')) as { serviceIdentity: string }).serviceIdentity;

/** What a refused restore must leave as it was: every event of the deployment and of the instance, and its keystore's bytes. */
export const ledgerState = async (dir: string, n: TestNode): Promise<{ deployment: number; instance: number; keystore: string }> => ({
  deployment: (await deploymentEvents(dir)).length,
  instance: (await instanceEvents(dir, n.id)).length,
  keystore: fs.existsSync(n.keystore) ? fs.readFileSync(n.keystore).toString('base64') : 'none',
});

/** A new key version created by member `a` and signed by it (as a re-create will be): a backup of version 1 is now older. */
export const sealOntoDeployment = async (dir: string, a: TestNode, version: number): Promise<void> => {
  const crypto = joseCrypto();
  const held = rightOf(await fileKeystore(a.keystore).load({ installationId: a.id, serviceIdentity: identityOf(a) })());
  const key = crypto.createSymmetricKey();
  const jwe = rightOf(await crypto.wrap(key, held.publicKey)());
  const event: LedgerEvent = {
    type: 'SymmetricKeyCreated',
    data: {
      deploymentId: 'default' as DeploymentId,
      keyVersion: version as KeyVersion,
      algorithm: 'A256GCM',
      keyCheck: crypto.keyCheck(key),
      createdBy: a.id,
      copy: { installationId: a.id, recipientThumbprint: held.thumbprint, jwe },
    },
  };
  await appendToDeployment(dir, [event], signerOf(crypto, held));
};

/** Events appended to the default deployment's stream as a writer of the store could: hashed into the chain, signed only if given a signer. */
export const appendToDeployment = async (dir: string, events: ReadonlyArray<LedgerEvent>, signer?: EventSigner): Promise<void> => {
  const stream = deploymentStream('default' as DeploymentId);
  const store = openTestStore(ledgerFile(dir));
  const last = (await eventsOf(store, stream)).at(-1)!;
  const sealed = rightOf(sealEvents(stream, { revision: last.revision, hash: last.metadata.hash }, events, aContext('hand-sealed'), sha256Hex, signer));
  rightOf(await store.append(stream, sealed, last.revision)());
  await store.close();
};

/** Each secret's value as `secret get --reveal` prints it on `n` (or the error line). */
export const secretsOf = async (n: TestNode, names: ReadonlyArray<string>): Promise<string[]> => {
  const out: string[] = [];
  for (const name of names) {
    const r = await cliWith({}, '-c', n.file, 'secret', 'get', name, '--reveal');
    out.push(r.code === 0 ? r.stdout.replace(/\n$/, '') : `<exit ${r.code}: ${r.stderr.trim()}>`);
  }
  return out;
};
