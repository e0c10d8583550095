/**
 * What the command handlers need of signatures (docs/adr/0010-signed-key-events.md):
 * the acting member's signer, a signing key's registration with its proof of
 * possession, the deployment's trust computed from its stream, and the check a
 * key decision makes before it relies on a copy — then the genesis pinned.
 */
import * as E from 'fp-ts/Either';
import type { SigningRegistration } from '../domain/deployment/decider';
import type { EventSigner, StoredEvent } from '../domain/envelope';
import type { Base64Url, RefusalReason } from '../domain/events';
import type { DeploymentId, InstallationId, KeyVersion, Thumbprint } from '../domain/ids';
import { proofOfPossessionText } from '../domain/signatures';
import { copyDistrust, type Trust, trustOf } from '../domain/trust';
import type { Crypto, GenesisPin, RememberedSignatures, Keystore, KeystoreBinding, KeystoreError, SigningKeyPair, StoredKeyPair } from '../ports/crypto';

/** The member signs what it appends with its signing key (none: a keystore from before signatures). */
export const signerOf = (crypto: Crypto, held: E.Either<unknown, StoredKeyPair> | StoredKeyPair): EventSigner | undefined => {
  const k = '_tag' in held ? (E.isRight(held) ? held.right : undefined) : held;
  const signing = k?.signing;
  if (!k || !signing) return undefined;
  return { installationId: k.installationId, thumbprint: signing.thumbprint, sign: (text) => crypto.signing.sign(signing.handle, text) };
};

/** A signing key's public half and its proof of possession, bound to the installation and its RSA key. */
export const registrationOf = (crypto: Crypto, installationId: InstallationId, thumbprint: Thumbprint, signing: SigningKeyPair): SigningRegistration => ({
  signingKey: signing.publicKey,
  signingThumbprint: signing.thumbprint,
  signingKeyProof: crypto.signing.sign(signing.handle, proofOfPossessionText(installationId, thumbprint, signing.thumbprint)) as Base64Url,
});

/**
 * The trust walk over a deployment stream as loaded by the handler (every hash checked); with the CLI's
 * remembered signatures when given (they answer for an event by its hash), else verifying each.
 */
export const trustIn = (crypto: Crypto, events: ReadonlyArray<StoredEvent>, remembered?: RememberedSignatures): Trust =>
  trustOf(events, {
    verify: remembered?.verify ?? crypto.signing.verify,
    thumbprint: crypto.signing.thumbprint,
    ...(remembered ? { verifyEvent: remembered.verifyEvent } : {}),
  });

export const pinnedGenesisOf = (held: StoredKeyPair, deploymentId: string): Thumbprint | undefined =>
  held.genesis?.find((g) => g.deploymentId === deploymentId)?.thumbprint;

/** Whether the instance may rely on its copy of `keyVersion` (the refusal reason when not). */
export const trustProblem = (
  trust: Trust,
  held: StoredKeyPair,
  deploymentId: DeploymentId,
  keyVersion: KeyVersion,
  keyCheck: string,
): RefusalReason | undefined => {
  const d = copyDistrust(
    trust,
    { installationId: held.installationId, signingThumbprint: held.signing?.thumbprint, pinnedGenesis: pinnedGenesisOf(held, deploymentId) },
    keyVersion,
    keyCheck,
  );
  if (!d) return undefined;
  switch (d._tag) {
    case 'DeploymentNotSigned':
      return { _tag: 'DeploymentNotSigned', deploymentId };
    case 'GenesisNotPinned':
      return { _tag: 'GenesisNotPinned', pinnedGenesis: d.pinned as Thumbprint, ledgerGenesis: d.ledger as Thumbprint | null };
    case 'UntrustedKeyEvent':
      return { _tag: 'UntrustedKeyEvent', keyVersion, problem: d.problem, revision: d.revision };
  }
};

/**
 * After a copy was trusted and proved: the genesis it was trusted from is pinned inside the keystore if
 * this instance had none for the deployment (its first proof: the creator's own, or a newcomer's first start).
 */
export const pinGenesis = async (
  keystore: Keystore,
  binding: KeystoreBinding,
  held: StoredKeyPair,
  trust: Trust,
  deploymentId: DeploymentId,
): Promise<E.Either<KeystoreError, 'pinned' | 'already-pinned'>> => {
  if (!trust.genesis || pinnedGenesisOf(held, deploymentId) !== undefined) return E.right('already-pinned');
  const pin: GenesisPin = { deploymentId, thumbprint: trust.genesis.thumbprint as Thumbprint };
  const updated = await keystore.update(binding, { genesis: pin })();
  return E.isLeft(updated) ? updated : E.right('pinned');
};
