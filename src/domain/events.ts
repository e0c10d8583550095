/**
 * Every event of the ledger, each defined once as an io-ts codec (past tense).
 *
 * Never delete or change a codec's meaning: old shapes stay readable (add a
 * new event or an upcaster instead). None of these ever carries key material:
 * public JWKs are checked to hold no private members, wrapped keys are compact
 * JWEs (RSA-OAEP-256 + A256GCM), and the symmetric key is known only by its
 * version and a key-check value.
 */
import * as t from 'io-ts';
import { membersAs } from './exact';
import { DeploymentId, InstallationId, IsoDate, KeyVersion, NonEmptyString, Thumbprint } from './ids';
import { nameProblem } from './text';

// ─── Building blocks ──────────────────────────────────────────────────────

const B64U = /^[A-Za-z0-9_-]+$/;
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

export interface Base64UrlBrand {
  readonly Base64Url: unique symbol;
}
export const Base64Url = t.brand(t.string, (s): s is t.Branded<string, Base64UrlBrand> => B64U.test(s), 'Base64Url');
export type Base64Url = t.TypeOf<typeof Base64Url>;

/** An RSA public JWK. A JWK with any private member (d, p, q, …) is not a PublicJwk. */
export const PublicJwk = t.intersection([
  t.refinement(t.UnknownRecord, (r) => PRIVATE_JWK_MEMBERS.every((m) => !(m in r)), 'PublicJwk(no private members)'),
  t.type({ kty: t.literal('RSA'), n: Base64Url, e: Base64Url }),
  t.partial({ alg: t.literal('RSA-OAEP-256'), use: t.literal('enc'), kid: t.string }),
]);
export type PublicJwk = t.TypeOf<typeof PublicJwk>;

/** An Ed25519 public JWK (RFC 8037): an instance's signing key. */
export const SigningJwk = t.exact(t.type({ kty: t.literal('OKP'), crv: t.literal('Ed25519'), x: Base64Url }));
export type SigningJwk = t.TypeOf<typeof SigningJwk>;

/**
 * A signing key's registration: the public key, its RFC 7638 thumbprint, and the proof of possession — the
 * key's signature over `popMessage` (src/domain/signatures.ts), which binds it to the installation and to
 * the RSA key (by thumbprint) registered with it.
 */
export const SigningKeyRegistration = {
  signingKey: SigningJwk,
  signingThumbprint: Thumbprint,
  signingKeyProof: Base64Url,
};

export interface CompactJweBrand {
  readonly CompactJwe: unique symbol;
}
const isWrappedKeyJwe = (s: string): boolean => {
  const parts = s.split('.');
  if (parts.length !== 5 || !parts.every((p) => B64U.test(p))) return false;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    return header['alg'] === 'RSA-OAEP-256' && header['enc'] === 'A256GCM';
  } catch {
    return false;
  }
};
/** A compact JWE whose protected header says RSA-OAEP-256 + A256GCM: a wrapped symmetric key. */
export const CompactJwe = t.brand(t.string, (s): s is t.Branded<string, CompactJweBrand> => isWrappedKeyJwe(s), 'CompactJwe');
export type CompactJwe = t.TypeOf<typeof CompactJwe>;

export const KeySize = t.union([t.literal(2048), t.literal(3072), t.literal(4096)]);
export type KeySize = t.TypeOf<typeof KeySize>;

/** Where the ledger lives, as recorded: kind and location, never credentials. */
export const StoreReference = t.exact(t.type({ kind: t.union([t.literal('sqlite'), t.literal('esdb')]), location: t.string }));

/** One instance's wrapped copy of a symmetric key version. */
export const WrappedCopy = t.exact(
  t.type({
    installationId: InstallationId,
    recipientThumbprint: Thumbprint,
    jwe: CompactJwe,
  }),
);
export type WrappedCopy = t.TypeOf<typeof WrappedCopy>;

// ─── Why an instance is not activated ─────────────────────────────────────

const reason = <K extends string, P extends t.Props>(tag: K, props: P) => t.exact(t.type({ _tag: t.literal(tag), ...props }));

const RefusalReasonV2 = t.union([
  reason('KeystoreUnavailable', {
    keystorePath: t.string,
    problem: t.union([t.literal('missing'), t.literal('unreadable'), t.literal('locked'), t.literal('corrupt')]),
    detail: t.string,
  }),
  reason('KeystoreBelongsToOtherInstallation', { presentedInstallationId: InstallationId, keystoreInstallationId: InstallationId }),
  reason('InstallationNotRegistered', { installationId: InstallationId, keystoreInstallationId: t.union([InstallationId, t.null]) }),
  reason('PublicKeyMismatch', {
    heldThumbprint: Thumbprint,
    storedThumbprint: Thumbprint,
    storedIn: t.union([t.literal('instance'), t.literal('deployment')]),
  }),
  reason('ServiceIdentityChanged', { recordedIdentity: t.string, presentedIdentity: t.string }),
  reason('ConfigurationChanged', { field: t.string, recorded: t.string, presented: t.string }),
  reason('NoSymmetricKey', { deploymentId: DeploymentId }),
  reason('NoWrappedCopy', { keyVersion: KeyVersion }),
  reason('WrappedCopyForOtherKey', { keyVersion: KeyVersion, copyThumbprint: Thumbprint, heldThumbprint: Thumbprint }),
  reason('UnwrapFailed', { keyVersion: KeyVersion, thumbprint: Thumbprint, detail: t.string }),
  reason('KeyCheckMismatch', { keyVersion: KeyVersion }),
  reason('InstanceRemoved', { installationId: InstallationId, revokedThumbprint: Thumbprint }),
  reason('StaleWrappedCopy', { heldVersion: KeyVersion, currentVersion: KeyVersion }),
  reason('NoMemberHoldsKey', { keyVersion: KeyVersion }),
  /** The key this instance unwrapped for a version is not the one it held (pinned) for that version before: a planted key. */
  reason('KeyNotThePinnedKey', { keyVersion: KeyVersion, pinnedKeyCheck: t.string, ledgerKeyCheck: t.string }),
  /** The deployment's key was created before signatures and no genesis was declared since (`keyledger trust`). */
  reason('DeploymentNotSigned', { deploymentId: DeploymentId }),
  /** The ledger's genesis is not the one this instance pinned: a forged or unconfirmed re-genesis. */
  reason('GenesisNotPinned', { pinnedGenesis: Thumbprint, ledgerGenesis: t.union([Thumbprint, t.null]) }),
  /** The copy or key check this instance would rely on is not signed by a member certified back to the genesis. */
  reason('UntrustedKeyEvent', {
    keyVersion: KeyVersion,
    problem: t.keyof({
      'copy-not-certified': null,
      'copy-certifies-another-signing-key': null,
      'key-check-not-signed-by-a-member': null,
      'no-signing-key': null,
      /** The ledger says the key was deleted (EncryptedContentDeleted), but no member entitled to delete it signed that. */
      'deletion-not-signed-by-a-member': null,
    }),
    /** The deployment stream revision of the copy's event, when there is one. */
    revision: t.union([t.string, t.null]),
  }),
  /**
   * The deployment's key and its encrypted content were deleted (`keyledger delete-content`, rskeymgmt -d;
   * docs/adr/0015-content-deletion.md): no copy this instance held protects anything, and no key exists until an
   * instance initializes the deployment afresh (`keyledger init`).
   */
  reason('ContentDeleted', { keyVersions: t.array(KeyVersion), deletedBy: InstallationId }),
]);
export type RefusalReason = t.TypeOf<typeof RefusalReasonV2>;

/**
 * Why an instance is not activated. Discriminated by `_tag`, like every error of
 * the code base; events recorded before that (schema of session 1) carry `kind`
 * instead and are upcast on read — the stored bytes, and so the hash chain, stay
 * as they were. Writes accept only the `_tag` shape (sealEvents compares the
 * decoded event with the one given).
 */
export const RefusalReason = membersAs(
  new t.Type<RefusalReason, t.OutputOf<typeof RefusalReasonV2>, unknown>(
    'RefusalReason',
    RefusalReasonV2.is,
    (u, c) => RefusalReasonV2.validate(upcastRefusalReason(u), c),
    RefusalReasonV2.encode,
  ),
  RefusalReasonV2,
);

/** `{ kind: X, …rest }` (session 1) → `{ _tag: X, …rest }`; anything else is returned as it is. */
export const upcastRefusalReason = (u: unknown): unknown => {
  if (typeof u !== 'object' || u === null || Array.isArray(u) || '_tag' in u || !('kind' in u)) return u;
  const { kind, ...rest } = u as { kind: unknown };
  return { _tag: kind, ...rest };
};

// ─── Events ───────────────────────────────────────────────────────────────

/**
 * Data codecs are exact: decoding strips fields the schema does not define, so
 * the write-side check (decoded === given) refuses any extra field — nothing
 * unplanned (a password, a key) can ride along in an event.
 */
const event = <T extends string, P extends t.Props>(type: T, data: P) => t.type({ type: t.literal(type), data: t.exact(t.type(data)) });
/** An event with fields added later: optional on read (older events lack them), exact all the same. */
const eventWithLater = <T extends string, P extends t.Props, L extends t.Props>(type: T, data: P, later: L) =>
  t.type({ type: t.literal(type), data: t.exact(t.intersection([t.type(data), t.partial(later)])) });

/**
 * What a start check's outcome was decided on (see docs/adr/0007-outcome-basis.md):
 * the deployment stream's revision it read, and who presented the installation —
 * the key pair held, the machine and instance names in its config, the host it ran
 * on and the keystore it opened. The activation view discards an outcome when the
 * deployment changed this installation after that revision, and attributes it to
 * the registered holder only when the presenter is the holder.
 */
export const OutcomeBasis = t.exact(
  t.type({
    /** The deployment stream's revision the decision read (-1: the stream did not exist). */
    deploymentRevision: t.refinement(t.Int, (n) => n >= -1, 'Revision'),
    /** The thumbprint of the key pair the presenter holds (null: its keystore could not be opened). */
    presentedThumbprint: t.union([Thumbprint, t.null]),
    machineName: NonEmptyString,
    host: t.string,
    keystorePath: t.string,
  }),
);
export type OutcomeBasis = t.TypeOf<typeof OutcomeBasis>;

/** Step 1: the instance read its configuration (RSReportServer.config analogue). */
export const ConfigRead = event('ConfigRead', {
  installationId: InstallationId,
  deploymentId: DeploymentId,
  machineName: NonEmptyString,
  instanceName: NonEmptyString,
  serviceIdentity: NonEmptyString,
  store: StoreReference,
  keystorePath: t.string,
});

/** Step 2: a key pair was issued; the private key went to the local keystore only (and, since signatures, a signing key). */
export const KeyPairIssued = eventWithLater(
  'KeyPairIssued',
  {
    installationId: InstallationId,
    publicKey: PublicJwk,
    thumbprint: Thumbprint,
    algorithm: t.literal('RSA-OAEP-256'),
    keySize: KeySize,
    serviceIdentity: NonEmptyString,
  },
  SigningKeyRegistration,
);

/** Step 3: installation ID and public key stored in the deployment (one row of the SSRS Keys table). */
export const PublicKeyStored = eventWithLater(
  'PublicKeyStored',
  {
    deploymentId: DeploymentId,
    installationId: InstallationId,
    machineName: NonEmptyString,
    instanceName: NonEmptyString,
    thumbprint: Thumbprint,
    publicKey: PublicJwk,
  },
  SigningKeyRegistration,
);

/**
 * Step 4 (first instance): a symmetric key version was created and stored
 * wrapped for its creator. Creation and the first wrapped copy are one event
 * because the key exists nowhere else: recording one without the other would
 * either lose the key or record a key nobody holds.
 */
export const SymmetricKeyCreated = event('SymmetricKeyCreated', {
  deploymentId: DeploymentId,
  keyVersion: KeyVersion,
  algorithm: t.literal('A256GCM'),
  /** HMAC-SHA256 of a fixed label under the key: proves an unwrapped key is the right one. */
  keyCheck: Base64Url,
  createdBy: InstallationId,
  copy: WrappedCopy,
});

/** Step 4 (joining instance, re-wrap): a member wrapped the symmetric key for a recipient's public key. */
export const SymmetricKeyWrapped = eventWithLater(
  'SymmetricKeyWrapped',
  {
    deploymentId: DeploymentId,
    keyVersion: KeyVersion,
    copy: WrappedCopy,
    wrappedBy: InstallationId,
    wrappedByThumbprint: Thumbprint,
  },
  {
    /** The recipient's signing key, as the sponsor's operator confirmed it: the sponsor's signature certifies it a member. */
    recipientSigningThumbprint: Thumbprint,
  },
);

/** Step 5, and every later successful start check that changes the instance's state. */
export const InstanceActivated = eventWithLater(
  'InstanceActivated',
  {
    installationId: InstallationId,
    deploymentId: DeploymentId,
    keyVersion: KeyVersion,
    thumbprint: Thumbprint,
  },
  { basis: OutcomeBasis },
);

/** A start check failed: the instance is disabled and answers RSReportServerNotActivated. */
export const InstanceActivationRefused = eventWithLater(
  'InstanceActivationRefused',
  {
    installationId: InstallationId,
    deploymentId: DeploymentId,
    reason: RefusalReason,
  },
  { basis: OutcomeBasis },
);

/** A member left the scale-out (rskeymgmt -r): its registration and wrapped copy are revoked. */
export const InstanceRemoved = event('InstanceRemoved', {
  deploymentId: DeploymentId,
  installationId: InstallationId,
  machineName: t.string,
  instanceName: t.string,
  /** The registered key that is no longer trusted. */
  thumbprint: Thumbprint,
  /** The key version of the copy revoked, or null when it had none (waiting to join). */
  revokedKeyVersion: t.union([KeyVersion, t.null]),
  /** Removing the last member that holds the key needs --force: afterwards only a backup restores it. */
  forced: t.boolean,
  lastMember: t.boolean,
});

/** The instance's service identity changed: a new key pair was issued under the new identity. */
export const ServiceIdentityChanged = eventWithLater(
  'ServiceIdentityChanged',
  {
    installationId: InstallationId,
    previousIdentity: NonEmptyString,
    serviceIdentity: NonEmptyString,
    previousThumbprint: Thumbprint,
    publicKey: PublicJwk,
    thumbprint: Thumbprint,
    algorithm: t.literal('RSA-OAEP-256'),
    keySize: KeySize,
  },
  SigningKeyRegistration,
);

/** The deployment now trusts a new public key for an installation (after an identity change). */
export const PublicKeyReplaced = eventWithLater(
  'PublicKeyReplaced',
  {
    deploymentId: DeploymentId,
    installationId: InstallationId,
    previousThumbprint: Thumbprint,
    thumbprint: Thumbprint,
    publicKey: PublicJwk,
    reason: t.literal('service-identity-changed'),
  },
  /** The new signing key; the event is signed by the old one, which certifies it. */
  SigningKeyRegistration,
);

/**
 * A member registered a signing key after the fact (its keystore predates signatures: `keyledger trust`).
 * Signed by that key (and its proof of possession); a member certifies it by wrapping for it (`join --rewrap`).
 */
export const SigningKeyRegistered = event('SigningKeyRegistered', {
  deploymentId: DeploymentId,
  installationId: InstallationId,
  thumbprint: Thumbprint,
  ...SigningKeyRegistration,
});

/**
 * A member became the deployment's root of trust (`keyledger trust --declare-genesis`): for a deployment
 * created before signatures, or when no certified member remains. It vouches, having unwrapped it, for the
 * key version and key check it names. Other instances trust it only after `trust --expect-genesis`.
 */
export const GenesisDeclared = event('GenesisDeclared', {
  deploymentId: DeploymentId,
  installationId: InstallationId,
  signingThumbprint: Thumbprint,
  previousGenesis: t.union([Thumbprint, t.null]),
  keyVersion: KeyVersion,
  keyCheck: Base64Url,
});

/** An instance pinned a deployment's genesis after its operator confirmed the thumbprint out of band. */
export const GenesisAccepted = event('GenesisAccepted', {
  installationId: InstallationId,
  deploymentId: DeploymentId,
  genesisThumbprint: Thumbprint,
  previousGenesis: t.union([Thumbprint, t.null]),
});

/**
 * An operator accepted that the store ends earlier than this instance had seen it (a store restored
 * from a file backup): key decisions resume from the head named here (`keyledger accept-rollback`).
 */
export const LedgerRollbackAccepted = event('LedgerRollbackAccepted', {
  installationId: InstallationId,
  stream: t.string,
  /** The head this instance remembered (revision as a decimal string, hash). */
  rememberedRevision: t.string,
  rememberedHash: t.string,
  /** The head of the stream as the store shows it now ('-1': the stream is gone). */
  acceptedRevision: t.string,
  acceptedHash: t.union([t.string, t.null]),
});

/**
 * An operator accepted that the ledger's Merkle tree is no longer an extension of the head this member last
 * co-signed as a witness (a store restored from an older backup): it relies on the tree named here from now on
 * (`keyledger accept-rollback --tree <size>`, docs/adr/0018-verifiable-ledger.md). Roots are base64, as in a checkpoint.
 */
export const LedgerForkAccepted = event('LedgerForkAccepted', {
  installationId: InstallationId,
  origin: t.string,
  cosignedSize: t.string,
  cosignedRoot: t.string,
  acceptedSize: t.string,
  acceptedRoot: t.string,
});

// ─── Encrypted content (the content stream of a deployment: never a value, never a ciphertext) ───────

export interface SecretNameBrand {
  readonly SecretName: unique symbol;
}
/** A secret's name (a connection string's, a stored credential's): 1–128 printable characters, as `nameProblem` checks names. */
export const SecretName = t.brand(t.string, (s): s is t.Branded<string, SecretNameBrand> => nameProblem(s) === undefined, 'SecretName');
export type SecretName = t.TypeOf<typeof SecretName>;

export interface FingerprintBrand {
  readonly Fingerprint: unique symbol;
}
/** SHA-256 of a stored ciphertext (its compact JWE text), base64url: names what was stored without revealing anything of the value. */
export const Fingerprint = t.brand(t.string, (s): s is t.Branded<string, FingerprintBrand> => /^[A-Za-z0-9_-]{43}$/.test(s), 'Fingerprint');
export type Fingerprint = t.TypeOf<typeof Fingerprint>;

const PositiveInt = t.refinement(t.Int, (n) => n >= 1, 'PositiveInt');

/**
 * A member encrypted a secret under a key version and stored the ciphertext in the content store (before this
 * event: a crash leaves an unreferenced row, never an event without its ciphertext). `previousFingerprint` is the
 * ciphertext it supersedes (removed from the content store after this event is recorded).
 */
export const SecretPut = event('SecretPut', {
  deploymentId: DeploymentId,
  name: SecretName,
  keyVersion: KeyVersion,
  fingerprint: Fingerprint,
  previousFingerprint: t.union([Fingerprint, t.null]),
  putBy: InstallationId,
});

/** Secrets one SecretsReencrypted carries at most (a re-creation's batch): the event stays well under a store's append limit. */
export const MAX_REENCRYPTED_PER_EVENT = 1000;

/**
 * A member re-encrypted a batch of secrets under a new key version during a re-creation (docs/adr/0014): for each, the
 * ciphertext under `keyVersion` (stored in the content store before this event) and the one under `previousKeyVersion`
 * it supersedes (removed after). One event, one signature, for up to MAX_REENCRYPTED_PER_EVENT secrets: a reader trusts
 * each secret in it as it trusts a SecretPut — by this event's signature, by the member it names.
 */
export const SecretsReencrypted = event('SecretsReencrypted', {
  deploymentId: DeploymentId,
  keyVersion: KeyVersion,
  previousKeyVersion: KeyVersion,
  reencryptedBy: InstallationId,
  secrets: t.refinement(
    t.array(t.exact(t.type({ name: SecretName, fingerprint: Fingerprint, previousFingerprint: Fingerprint }))),
    (xs) => xs.length >= 1 && xs.length <= MAX_REENCRYPTED_PER_EVENT && new Set(xs.map((x) => x.name)).size === xs.length,
    'ReencryptedSecrets(1 to 1000, names distinct)',
  ),
});

/** A member deleted a secret: its ciphertext is removed from the content store after this event is recorded. */
export const SecretDeleted = event('SecretDeleted', {
  deploymentId: DeploymentId,
  name: SecretName,
  fingerprint: Fingerprint,
  deletedBy: InstallationId,
});

/** A member read a secret through the CLI (`keyledger secret get`): who read which ciphertext, when (the metadata says when and by whom). */
export const SecretRead = event('SecretRead', {
  deploymentId: DeploymentId,
  name: SecretName,
  keyVersion: KeyVersion,
  fingerprint: Fingerprint,
  readBy: InstallationId,
});

/** Reads through the library API (`openDeployment`), counted per secret by one process over a period (docs/adr/0011). */
export const SecretReadsCounted = event('SecretReadsCounted', {
  deploymentId: DeploymentId,
  installationId: InstallationId,
  since: IsoDate,
  until: IsoDate,
  reads: PositiveInt,
  secrets: t.array(t.exact(t.type({ name: SecretName, reads: PositiveInt }))),
});

// ─── Key backup and restore (docs/adr/0012-key-backup-and-restore.md): never the key, never the password ───

/** A PBES2 iteration count. */
export const Iterations = t.refinement(t.Int, (n) => n >= 1, 'Iterations');
export type Iterations = t.TypeOf<typeof Iterations>;

/**
 * A member exported the deployment's key to a password-protected backup file (`keyledger backup`, rskeymgmt -e).
 * Who and when are the event's metadata; the file is named by its fingerprint (SHA-256 of its text), never by content.
 */
export const KeyBackedUp = event('KeyBackedUp', {
  deploymentId: DeploymentId,
  backedUpBy: InstallationId,
  keyVersion: KeyVersion,
  /** SHA-256 of the backup file's text, base64url. */
  fingerprint: Fingerprint,
  /** PBES2 iteration count the file was written with. */
  iterations: Iterations,
  /** The genesis the file's header names (null: a deployment from before signatures). */
  genesisThumbprint: t.union([Thumbprint, t.null]),
});

/**
 * An instance applied a key backup (`keyledger restore`, rskeymgmt -a): the key it unwrapped with the password
 * matched the deployment's signed key check, and it wrapped that key for its own public key (the
 * SymmetricKeyWrapped recorded with this event, after a GenesisDeclared when no certified member remained).
 */
export const KeyRestored = event('KeyRestored', {
  deploymentId: DeploymentId,
  restoredBy: InstallationId,
  keyVersion: KeyVersion,
  /** SHA-256 of the backup file's text, base64url. */
  fingerprint: Fingerprint,
  /** The RSA key the restored copy is wrapped for. */
  thumbprint: Thumbprint,
  /** Whether the restorer declared itself the deployment's genesis (no certified member remained). */
  genesisDeclared: t.boolean,
});

// ─── Key re-creation (docs/adr/0014-key-re-creation.md, rskeymgmt -s) ──────

/**
 * A re-creation finished: every secret of the content stream is encrypted under the current key version, so the
 * version named here is retired — no member's copy of it is used again (until this event, a re-creation's earlier
 * version stays readable for the secrets not yet re-encrypted). The new version itself is its SymmetricKeyCreated.
 */
export const KeyVersionRetired = event('KeyVersionRetired', {
  deploymentId: DeploymentId,
  keyVersion: KeyVersion,
  /** The version that replaced it. */
  currentVersion: KeyVersion,
  retiredBy: InstallationId,
  /** Secrets re-encrypted by the re-creation (all runs together). */
  secrets: t.refinement(t.Int, (n) => n >= 0, 'Count'),
});

// ─── Deleting encrypted content (docs/adr/0015-content-deletion.md, rskeymgmt -d) ───────────────────────

const Count = t.refinement(t.Int, (n) => n >= 0, 'Count');

/**
 * A member began deleting the deployment's encrypted content (`keyledger delete-content`): the intent, recorded before
 * any ciphertext is touched. The key versions named stay readable until EncryptedContentDeleted; meanwhile no secret is
 * put, no member joined, no key re-created or backed up. `secrets`: how many secrets the content stream held then.
 */
export const EncryptedContentDeletionStarted = event('EncryptedContentDeletionStarted', {
  deploymentId: DeploymentId,
  deletedBy: InstallationId,
  keyVersions: t.array(KeyVersion),
  secrets: Count,
});

/** A destroyed key version, known by its key check (the HMAC that identifies a key without revealing it). */
export const DestroyedKey = t.exact(t.type({ keyVersion: KeyVersion, keyCheck: Base64Url }));

/**
 * The deletion is complete (crypto-shredding): every ciphertext of the deployment was removed from the content store
 * (each secret by name and fingerprint in the content stream's SecretsDestroyed events), and the key versions named
 * are destroyed — the wrapped copies of them left in the ledger (listed here) protect nothing and are never used again.
 * The deployment has no key until an instance initializes it afresh (`keyledger init`: a new version, a new genesis).
 */
export const EncryptedContentDeleted = event('EncryptedContentDeleted', {
  deploymentId: DeploymentId,
  deletedBy: InstallationId,
  keys: t.array(DestroyedKey),
  /** Every wrapped copy of those versions, by installation and the RSA key it was wrapped for. */
  copies: t.array(t.exact(t.type({ installationId: InstallationId, keyVersion: KeyVersion, recipientThumbprint: Thumbprint }))),
  /** Secrets destroyed (all runs of the deletion together), and the content stream revisions of their SecretsDestroyed events. */
  secrets: Count,
  contentRevisions: t.array(t.string),
});

/**
 * One batch of a deletion (content stream): these secrets' ciphertexts are removed from the content store after this
 * event is recorded; no secret is put under these key versions again. Names and fingerprints, never a value.
 */
export const SecretsDestroyed = event('SecretsDestroyed', {
  deploymentId: DeploymentId,
  deletedBy: InstallationId,
  keyVersions: t.array(KeyVersion),
  secrets: t.array(t.exact(t.type({ name: SecretName, keyVersion: KeyVersion, fingerprint: Fingerprint }))),
});

export const LedgerEvent = t.union([
  ConfigRead,
  KeyPairIssued,
  PublicKeyStored,
  SymmetricKeyCreated,
  SymmetricKeyWrapped,
  InstanceActivated,
  InstanceActivationRefused,
  InstanceRemoved,
  ServiceIdentityChanged,
  PublicKeyReplaced,
  LedgerRollbackAccepted,
  LedgerForkAccepted,
  SigningKeyRegistered,
  GenesisDeclared,
  GenesisAccepted,
  KeyBackedUp,
  KeyRestored,
  KeyVersionRetired,
  EncryptedContentDeletionStarted,
  EncryptedContentDeleted,
  SecretPut,
  SecretDeleted,
  SecretRead,
  SecretReadsCounted,
  SecretsReencrypted,
  SecretsDestroyed,
]);
export type LedgerEvent = t.TypeOf<typeof LedgerEvent>;
export type LedgerEventType = LedgerEvent['type'];
export type EventOf<T extends LedgerEventType> = Extract<LedgerEvent, { type: T }>;

export const INSTANCE_EVENT_TYPES = [
  'ConfigRead',
  'KeyPairIssued',
  'InstanceActivated',
  'InstanceActivationRefused',
  'ServiceIdentityChanged',
  'LedgerRollbackAccepted',
  'LedgerForkAccepted',
  'GenesisAccepted',
] as const;
export type InstanceEvent = EventOf<(typeof INSTANCE_EVENT_TYPES)[number]>;
export const DEPLOYMENT_EVENT_TYPES = [
  'PublicKeyStored',
  'SymmetricKeyCreated',
  'SymmetricKeyWrapped',
  'InstanceRemoved',
  'PublicKeyReplaced',
  'SigningKeyRegistered',
  'GenesisDeclared',
  'KeyBackedUp',
  'KeyRestored',
  'KeyVersionRetired',
  'EncryptedContentDeletionStarted',
  'EncryptedContentDeleted',
] as const;
export type DeploymentEvent = EventOf<(typeof DEPLOYMENT_EVENT_TYPES)[number]>;

export const isInstanceEvent = (e: LedgerEvent): e is InstanceEvent => (INSTANCE_EVENT_TYPES as ReadonlyArray<string>).includes(e.type);
export const isDeploymentEvent = (e: LedgerEvent): e is DeploymentEvent => (DEPLOYMENT_EVENT_TYPES as ReadonlyArray<string>).includes(e.type);
export const CONTENT_EVENT_TYPES = ['SecretPut', 'SecretDeleted', 'SecretRead', 'SecretReadsCounted', 'SecretsReencrypted', 'SecretsDestroyed'] as const;
export type ContentEvent = EventOf<(typeof CONTENT_EVENT_TYPES)[number]>;
export const isContentEvent = (e: LedgerEvent): e is ContentEvent => (CONTENT_EVENT_TYPES as ReadonlyArray<string>).includes(e.type);
