/**
 * Who the deployment's key events can be trusted from (docs/adr/0010-signed-key-events.md).
 * Pure: signature verification and the signing-key thumbprint are injected.
 *
 * A walk over the deployment stream, in order, keeps:
 *   - the signing key each installation registered itself, with a valid proof of possession and its
 *     registration signed by that key (PublicKeyStored, SigningKeyRegistered; PublicKeyReplaced when
 *     signed by its previous key);
 *   - the genesis: the creator of the first key version, when its SymmetricKeyCreated is signed by it,
 *     or a member that declared itself genesis (GenesisDeclared) when no certified member remained;
 *   - the certified members: the genesis, and every installation a certified member wrapped the key
 *     for naming its signing key (SymmetricKeyWrapped signed by that member) — until it is removed;
 *   - which key checks were signed by a certified creator, and which wrapped copies by a certified member;
 *   - (findings only) whether each backup and restore record (KeyBackedUp, KeyRestored) is signed by the member it names;
 *   - deletions of the encrypted content (EncryptedContentDeleted, docs/adr/0015): one signed by the certified member it
 *     names (or, when none remains, by that installation's registered key) destroys its key versions — their copies and
 *     the certifications made by wrapping them go with them, and the next key created founds a new genesis; a creation
 *     or copy of a destroyed version is never trusted again. Any other deletion is a finding and changes no trust.
 * A signature by a removed member, by a key not registered, or that does not verify, trusts nothing.
 * Removals are honoured whoever signed them (removing trust is always safe) and reported when unsigned.
 */
import * as E from 'fp-ts/Either';
import type { StoredEvent } from './envelope';
import type { RefusalReason, SigningJwk } from './events';
import type { KeyVersion } from './ids';
import { EventSignature, eventSigningText, proofOfPossessionText, type Verify } from './signatures';

export interface TrustCrypto {
  readonly verify: Verify;
  /**
   * An event's signature, verified — given when the caller can answer without building the signed text:
   * the events come from a load that checked every hash, so their hash stands for the signed content.
   * Absent: `verify` over `eventSigningText`.
   */
  readonly verifyEvent?: (publicKey: SigningJwk, e: StoredEvent, signature: string, text: () => string) => boolean;
  /** RFC 7638 thumbprint of an Ed25519 JWK. */
  readonly thumbprint: (publicKey: SigningJwk) => string;
}

export interface SigningKeyOf {
  readonly signingKey: SigningJwk;
  readonly signingThumbprint: string;
}

export type TrustProblem =
  | 'unsigned'
  | 'bad-signature'
  | 'signer-not-registered'
  | 'signer-not-certified'
  | 'bad-proof-of-possession'
  | 'recipient-signing-key-not-named'
  | 'recipient-signing-key-not-registered'
  | 'genesis-declared-while-members-remain'
  /** A creation or copy of a key version a deletion of the encrypted content destroyed (re-added by someone who writes the store). */
  | 'key-version-destroyed';

/** A deployment event whose signature trusts nothing: what `verify --signatures` reports. */
export interface TrustFinding {
  readonly stream: string;
  readonly revision: bigint;
  readonly eventType: string;
  readonly problem: TrustProblem;
}

export type CopyTrust =
  | { readonly trusted: true; readonly keyVersion: number; readonly revision: bigint; readonly by: string }
  | { readonly trusted: false; readonly keyVersion: number; readonly revision: bigint; readonly problem: TrustProblem };

export interface Trust {
  readonly genesis: { readonly installationId: string; readonly thumbprint: string; readonly revision: bigint } | null;
  /** A key version was created unsigned and no genesis was declared since: a ledger from before signatures. */
  readonly unsigned: boolean;
  readonly registered: Readonly<Record<string, SigningKeyOf>>;
  readonly members: Readonly<Record<string, SigningKeyOf>>;
  /**
   * Every signing key that was a certified member's at some point of the stream, by signing thumbprint, with its
   * installation (lower-cased): whose signatures on content events (secrets) count, removed members' included
   * (docs/adr/0011-encrypted-content.md says why).
   */
  readonly everCertified: Readonly<Record<string, SigningKeyOf & { readonly installationId: string }>>;
  /** Key checks, by key version, with whether a certified creator (or the declared genesis) signed them. */
  readonly keyChecks: Readonly<Record<number, { readonly keyCheck: string; readonly trusted: boolean }>>;
  /** Each installation's newest copy (lower-cased installation ID). */
  readonly copies: Readonly<Record<string, CopyTrust>>;
  readonly findings: ReadonlyArray<TrustFinding>;
  /** Key versions destroyed by an authorised deletion of the encrypted content (docs/adr/0015). */
  readonly destroyed: ReadonlyArray<number>;
  /**
   * The last EncryptedContentDeleted of the stream, and whether it is a deletion members accept: signed by the member
   * it names, certified at that point — or, when no certified member remained, by that installation's registered key.
   */
  readonly lastDeletion: { readonly revision: bigint; readonly authorised: boolean } | null;
  /** The genesis was founded by the first key created after an authorised deletion (its creator may pin itself anew). */
  readonly refounded: boolean;
}

const id = (s: string): string => s.toLowerCase();

export const trustOf = (events: ReadonlyArray<StoredEvent>, crypto: TrustCrypto): Trust => {
  let genesis: Trust['genesis'] = null;
  let unsigned = false;
  let keyCreated = false; // only the first key creation can make a genesis
  const registered: Record<string, SigningKeyOf> = {};
  let members: Record<string, SigningKeyOf> = {};
  const everCertified: Record<string, SigningKeyOf & { installationId: string }> = Object.create(null);
  const certify = (who: string, key: SigningKeyOf): void => {
    everCertified[key.signingThumbprint] = { ...key, installationId: who };
  };
  const keyChecks: Record<number, { keyCheck: string; trusted: boolean }> = {};
  let copies: Record<string, CopyTrust> = {};
  const findings: TrustFinding[] = [];
  const destroyed = new Set<number>();
  let lastDeletion: Trust['lastDeletion'] = null;
  let afterDeletion = false; // an authorised deletion: the next key created founds a new genesis
  let refounded = false;

  for (const e of events) {
    const finding = (problem: TrustProblem): void => {
      findings.push({ stream: e.stream, revision: e.revision, eventType: e.event.type, problem });
    };
    const sigDecoded = EventSignature.decode(e.metadata.sig);
    const sig = E.isRight(sigDecoded) ? sigDecoded.right : undefined;
    const text = (): string => eventSigningText(e.stream, e.revision, e.event.type, e.event.data, e.metadata);
    const validBy = (key: SigningKeyOf | undefined): boolean =>
      sig !== undefined &&
      key !== undefined &&
      sig.key === key.signingThumbprint &&
      (crypto.verifyEvent ? crypto.verifyEvent(key.signingKey, e, sig.value, text) : crypto.verify(key.signingKey, text(), sig.value));
    /** Why the event's signature does not come from a certified member (undefined: it does). */
    const notByMember = (): TrustProblem | undefined => {
      if (e.metadata.sig === undefined) return 'unsigned';
      if (!sig) return 'bad-signature';
      const member = members[id(sig.by)];
      if (!member) return registered[id(sig.by)] ? 'signer-not-certified' : 'signer-not-registered';
      return validBy(member) ? undefined : 'bad-signature';
    };
    /** A self-registration: the key's thumbprint recomputed, its proof of possession and the event's signature by it. */
    const selfRegistration = (
      installationId: string,
      thumbprint: string,
      d: Partial<SigningKeyOf & { signingKeyProof: string }>,
      signer: SigningKeyOf | undefined,
    ): SigningKeyOf | undefined => {
      if (!d.signingKey || !d.signingThumbprint || !d.signingKeyProof) return undefined;
      const key = { signingKey: d.signingKey, signingThumbprint: d.signingThumbprint };
      if (crypto.thumbprint(d.signingKey) !== d.signingThumbprint) return void finding('bad-proof-of-possession');
      if (!crypto.verify(d.signingKey, proofOfPossessionText(installationId, thumbprint, d.signingThumbprint), d.signingKeyProof))
        return void finding('bad-proof-of-possession');
      if (sig === undefined || id(sig.by) !== id(installationId) || !validBy(signer ?? key)) return void finding(sig ? 'bad-signature' : 'unsigned');
      return key;
    };

    /**
     * Why a deletion of the encrypted content is not one members accept (undefined: it is): it must be signed by the
     * installation it names, a certified member — or, once no certified member remains (its keystore lost and it was
     * removed, or the last member removed), by that installation's registered key (the rule a re-genesis follows).
     */
    const deletionProblem = (by: string): TrustProblem | undefined => {
      if (e.metadata.sig === undefined) return 'unsigned';
      if (!sig || id(sig.by) !== id(by)) return 'bad-signature';
      const member = members[id(by)];
      if (member) return validBy(member) ? undefined : 'bad-signature';
      const key = registered[id(by)];
      // A ledger from before signatures has no certified member until its genesis is declared: that comes first.
      if (Object.keys(members).length > 0 || unsigned) return key ? 'signer-not-certified' : 'signer-not-registered';
      if (!key) return 'signer-not-registered';
      return validBy(key) ? undefined : 'bad-signature';
    };

    const ev = e.event;
    if ((ev.type === 'SymmetricKeyCreated' || ev.type === 'SymmetricKeyWrapped') && destroyed.has(ev.data.keyVersion)) {
      // A destroyed version re-added (an old creation or copy replayed into the stream): it certifies nothing, ever, and
      // changes nothing either (the deployment state does not fold it: the copy a member holds now stays its copy).
      finding('key-version-destroyed');
      continue;
    }
    switch (ev.type) {
      case 'PublicKeyStored': {
        const who = id(ev.data.installationId);
        delete members[who];
        delete copies[who];
        const key = selfRegistration(ev.data.installationId, ev.data.thumbprint, ev.data, undefined);
        if (key) registered[who] = key;
        else delete registered[who];
        break;
      }
      case 'SigningKeyRegistered': {
        const who = id(ev.data.installationId);
        if (registered[who]) break; // a signing key is added once; later ones change keys through an identity change
        const key = selfRegistration(ev.data.installationId, ev.data.thumbprint, ev.data, undefined);
        if (key) registered[who] = key;
        break;
      }
      case 'PublicKeyReplaced': {
        const who = id(ev.data.installationId);
        const previous = registered[who];
        // Signed by the previous signing key, which vouches for the new one (proved by its own proof of possession).
        const key = previous ? selfRegistration(ev.data.installationId, ev.data.thumbprint, ev.data, previous) : undefined;
        if (!previous) finding(e.metadata.sig === undefined ? 'unsigned' : 'signer-not-registered');
        if (key) registered[who] = key;
        else delete registered[who];
        if (key && members[who]) {
          members[who] = key;
          certify(who, key);
        } else delete members[who];
        break;
      }
      case 'SymmetricKeyCreated': {
        const creator = id(ev.data.createdBy);
        const v = ev.data.keyVersion;
        const first = !keyCreated;
        keyCreated = true;
        let trusted = false;
        if (afterDeletion) {
          // The deployment initialized afresh after its content was deleted: the creator of the new key is its new genesis.
          afterDeletion = false;
          const key = registered[creator];
          if (sig && id(sig.by) === creator && validBy(key) && key) {
            genesis = { installationId: ev.data.createdBy, thumbprint: key.signingThumbprint, revision: e.revision };
            members = { [creator]: key };
            certify(creator, key);
            trusted = true;
            refounded = true;
          } else finding(e.metadata.sig === undefined ? 'unsigned' : 'bad-signature');
        } else if (first) {
          const key = registered[creator];
          if (sig && id(sig.by) === creator && validBy(key) && key) {
            genesis = { installationId: ev.data.createdBy, thumbprint: key.signingThumbprint, revision: e.revision };
            members = { [creator]: key };
            certify(creator, key);
            trusted = true;
          } else if (e.metadata.sig === undefined) {
            unsigned = true; // a ledger from before signatures
            finding('unsigned');
          } else finding('bad-signature'); // signed, but not by its creator's registered key: no genesis at all
        } else if (genesis === null) {
          finding(e.metadata.sig === undefined ? 'unsigned' : 'signer-not-certified');
        } else {
          const problem = sig && id(sig.by) !== creator ? 'signer-not-certified' : notByMember();
          if (problem) finding(problem);
          trusted = problem === undefined;
        }
        keyChecks[v] = { keyCheck: ev.data.keyCheck, trusted };
        copies[creator] = trusted
          ? { trusted, keyVersion: v, revision: e.revision, by: creator }
          : { trusted, keyVersion: v, revision: e.revision, problem: e.metadata.sig === undefined ? 'unsigned' : 'signer-not-certified' };
        break;
      }
      case 'SymmetricKeyWrapped': {
        const recipient = id(ev.data.copy.installationId);
        const v = ev.data.keyVersion;
        let problem = notByMember() ?? (sig && id(sig.by) !== id(ev.data.wrappedBy) ? 'bad-signature' : undefined);
        const named = ev.data.recipientSigningThumbprint;
        if (!problem && named === undefined) problem = 'recipient-signing-key-not-named';
        const key = registered[recipient];
        if (!problem && key?.signingThumbprint !== named) problem = 'recipient-signing-key-not-registered';
        if (problem || !key) {
          if (problem) finding(problem);
          copies[recipient] = { trusted: false, keyVersion: v, revision: e.revision, problem: problem ?? 'recipient-signing-key-not-registered' };
          break;
        }
        members[recipient] = key;
        certify(recipient, key);
        copies[recipient] = { trusted: true, keyVersion: v, revision: e.revision, by: id(ev.data.wrappedBy) };
        break;
      }
      case 'InstanceRemoved': {
        const who = id(ev.data.installationId);
        const problem = notByMember();
        if (problem) finding(problem);
        delete members[who];
        delete registered[who];
        delete copies[who];
        break;
      }
      case 'GenesisDeclared': {
        const who = id(ev.data.installationId);
        const key = registered[who];
        const remaining = Object.keys(members).length;
        if (!(sig && id(sig.by) === who && validBy(key)) || !key || key.signingThumbprint !== ev.data.signingThumbprint) {
          finding(sig ? 'bad-signature' : 'unsigned');
          break;
        }
        if (!unsigned && remaining > 0) {
          finding('genesis-declared-while-members-remain');
          break;
        }
        const v = ev.data.keyVersion;
        // It vouches for the key check it unwrapped; the copies of others were not certified by it.
        genesis = { installationId: ev.data.installationId, thumbprint: key.signingThumbprint, revision: e.revision };
        unsigned = false;
        refounded = false;
        members = { [who]: key };
        certify(who, key);
        const recorded = keyChecks[v];
        keyChecks[v] = { keyCheck: ev.data.keyCheck, trusted: recorded?.keyCheck === ev.data.keyCheck };
        // Copies certified under the previous genesis are not certified by this one: the new genesis re-wraps (join --rewrap).
        const uncertified: Record<string, CopyTrust> = {};
        for (const [k, c] of Object.entries(copies))
          uncertified[k] = { trusted: false, keyVersion: c.keyVersion, revision: c.revision, problem: 'signer-not-certified' };
        const own = copies[who];
        if (own && own.keyVersion === v) uncertified[who] = { trusted: true, keyVersion: v, revision: own.revision, by: who };
        copies = uncertified;
        break;
      }
      case 'EncryptedContentDeletionStarted': {
        // The intent trusts nothing (the key stays usable until the deletion completes), but is reported unless authorised.
        const problem = deletionProblem(ev.data.deletedBy);
        if (problem) finding(problem);
        break;
      }
      case 'EncryptedContentDeleted': {
        const problem = deletionProblem(ev.data.deletedBy);
        lastDeletion = { revision: e.revision, authorised: problem === undefined };
        if (problem) {
          finding(problem); // a deletion nobody entitled signed changes no trust: members refuse to act on it
          break;
        }
        // Its signatures on the deletion's content records count (a deleter authorised because no member remained).
        const deleter = members[id(ev.data.deletedBy)] ?? registered[id(ev.data.deletedBy)];
        if (deleter) certify(id(ev.data.deletedBy), deleter);
        for (const k of ev.data.keys) {
          destroyed.add(k.keyVersion);
          keyChecks[k.keyVersion] = { keyCheck: k.keyCheck, trusted: false };
        }
        // Destroyed with the key: every copy, and every certification made by wrapping it. The next key founds a new genesis.
        copies = {};
        members = {};
        keyCreated = true;
        afterDeletion = true;
        break;
      }
      case 'KeyBackedUp':
      case 'KeyRestored':
      case 'KeyVersionRetired': {
        // The record of a key operation (ADR 0012, 0014): trusts nothing, but is reported unless the member it names signed it.
        const by = ev.type === 'KeyBackedUp' ? ev.data.backedUpBy : ev.type === 'KeyRestored' ? ev.data.restoredBy : ev.data.retiredBy;
        const problem = notByMember() ?? (sig && id(sig.by) !== id(by) ? 'bad-signature' : undefined);
        if (problem) finding(problem);
        break;
      }
    }
  }
  return { genesis, unsigned, registered, members, everCertified, keyChecks, copies, findings, destroyed: [...destroyed], lastDeletion, refounded };
};

/** Why an instance may not rely on its copy of a key version (undefined: it may). */
export type CopyDistrust =
  | { readonly _tag: 'DeploymentNotSigned' }
  | { readonly _tag: 'GenesisNotPinned'; readonly pinned: string; readonly ledger: string | null }
  | { readonly _tag: 'UntrustedKeyEvent'; readonly problem: UntrustedProblem; readonly revision: string | null };

export type UntrustedProblem = Extract<RefusalReason, { _tag: 'UntrustedKeyEvent' }>['problem'];

export const copyDistrust = (
  trust: Trust,
  who: { readonly installationId: string; readonly signingThumbprint: string | undefined; readonly pinnedGenesis: string | undefined },
  keyVersion: KeyVersion,
  keyCheck: string,
): CopyDistrust | undefined => {
  if (who.pinnedGenesis !== undefined && who.pinnedGenesis !== trust.genesis?.thumbprint)
    return { _tag: 'GenesisNotPinned', pinned: who.pinnedGenesis, ledger: trust.genesis?.thumbprint ?? null };
  if (trust.genesis === null && trust.unsigned) return { _tag: 'DeploymentNotSigned' };
  const untrusted = (problem: UntrustedProblem, revision: bigint | null): CopyDistrust => ({
    _tag: 'UntrustedKeyEvent',
    problem,
    revision: revision === null ? null : revision.toString(),
  });
  if (trust.genesis === null) return untrusted('key-check-not-signed-by-a-member', null); // the first key's signature does not verify
  if (who.signingThumbprint === undefined) return untrusted('no-signing-key', null);
  const copy = trust.copies[id(who.installationId)];
  if (!copy?.trusted || copy.keyVersion !== keyVersion) return untrusted('copy-not-certified', copy?.revision ?? null);
  if (trust.members[id(who.installationId)]?.signingThumbprint !== who.signingThumbprint) return untrusted('copy-certifies-another-signing-key', copy.revision);
  const check = trust.keyChecks[keyVersion];
  if (!check?.trusted || check.keyCheck !== keyCheck) return untrusted('key-check-not-signed-by-a-member', null);
  return undefined;
};
