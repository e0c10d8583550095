/**
 * `verify --signatures`: every signature of the ledger checked in the same pass over $all as the hash links
 * (what a signature covers: ./signatures.ts). Pure: Ed25519 verification and signing-key thumbprints are injected.
 *
 * - Deployment streams: the trust walk (./trust.ts) over each stream; its findings are reported (unsigned key
 *   events, bad signatures, signers not registered or not certified, bad proofs of possession, a genesis declared
 *   while members remain). Each signed event it raised nothing about is verified once more under the key its
 *   signer registered in the stream, which is what "verified" counts.
 * - Instance streams: an event carrying a signature must be signed by that instance (`sig.by`), with a signing
 *   key the instance registered — in its own stream (KeyPairIssued, ServiceIdentityChanged: each with its proof
 *   of possession; an identity change is signed by the old key, or the new one when the old could not be opened),
 *   or, for a keystore from before signatures, the key its deployment trusts for it (registered there, or
 *   named by a certified wrap) — and verify under it. A registration must also name the signing key its
 *   deployment registered with the same RSA key. Unsigned instance events are counted, not reported: ConfigRead
 *   is written before the keystore exists, and ledgers from before signatures carry none.
 *
 * Memory: the deployment streams' events (the trust walk needs them whole), the signing keys each instance
 * registered, and the instance events signed by a key that only the deployment can vouch for.
 */
import * as E from 'fp-ts/Either';
import { type ContentEventProblem, contentEventProblem } from './content/decider';
import type { StoredEvent } from './envelope';
import type { SigningJwk } from './events';
import { contentStream, type DeploymentId, deploymentStream, type InstallationId, instanceStream } from './ids';
import { EventSignature, eventSigningText, proofOfPossessionText } from './signatures';
import { type Trust, type TrustCrypto, type TrustProblem, trustOf } from './trust';

/** What is wrong with a signed instance event (or a signing key it registers). */
export type InstanceSignatureProblem =
  /** The signature is malformed, or does not verify under the key it names. */
  | 'bad-signature'
  /** `sig.by` names another installation: an instance signs only its own events. */
  | 'signed-by-another-installation'
  /** Signed with a key this instance never registered (in its stream, or in its deployment). */
  | 'unknown-signing-key'
  /** A signing key registered in the instance stream whose thumbprint or proof of possession does not verify. */
  | 'bad-proof-of-possession'
  /** The instance stream pairs its RSA key with another signing key than its deployment registered with it. */
  | 'signing-key-not-the-deployments';

interface ProblemAt {
  readonly stream: string;
  /** Decimal string, as `verify` prints revisions. */
  readonly revision: string;
  readonly eventType: string;
  /** `metadata.sig.by` and `metadata.sig.key` as stored (null when absent or not text): evidence, not trusted. */
  readonly signedBy: string | null;
  readonly signingKey: string | null;
}

export type SignatureProblem =
  | (ProblemAt & { readonly scope: 'deployment'; readonly problem: TrustProblem | 'genesis-not-expected' })
  | (ProblemAt & { readonly scope: 'instance'; readonly problem: InstanceSignatureProblem })
  /** A content-stream event (a secret's history) not signed by a member certified at some point of its deployment (ADR 0011). */
  | (ProblemAt & { readonly scope: 'content'; readonly problem: ContentEventProblem });

export interface SignatureSummary {
  /** Events the check examined (every event that decodes). */
  readonly checked: number;
  /** Events carrying a signature. */
  readonly signed: number;
  /** Signatures that verify under the signer's registered key, by a signer entitled to sign the event. */
  readonly verified: number;
  /** Deployment-stream (key) events without a signature; those the trust walk relies on are also problems. */
  readonly unsignedKeyEvents: number;
  /** Instance-stream events without a signature: counted, not problems. */
  readonly unsignedInstanceEvents: number;
  /** In the ledger's ($all) order. */
  readonly problems: ReadonlyArray<SignatureProblem>;
  /** Each deployment's root of trust as the walk ends: compare its thumbprint with the one its operators confirmed. */
  readonly deployments: ReadonlyArray<DeploymentTrust>;
}

export interface DeploymentTrust {
  readonly stream: string;
  /** `declared`: by GenesisDeclared (`keyledger trust`), not by creating the first key. */
  readonly genesis: {
    readonly installationId: string;
    readonly thumbprint: string;
    readonly revision: string;
    readonly declared: boolean;
    /** Founded by the first key created after the encrypted content was deleted (docs/adr/0015). */
    readonly afterDeletion: boolean;
  } | null;
  /** Members certified back to the genesis at the end of the stream. */
  readonly members: number;
}

export interface SignatureAudit {
  /** The next decoded event of $all, with its place in the read (`seq`, increasing). */
  readonly add: (e: StoredEvent, seq: number) => void;
  /**
   * Walks each deployment stream added so far and settles its instances' signatures: call it once every deployment and
   * instance event is in. Content events added afterwards are checked as they come, not kept (a report streams them).
   */
  readonly settle: () => void;
  /** The summary, and the `seq` of its first problem (to name the ledger's earliest problem beside the hash problems). */
  readonly finish: () => { readonly summary: SignatureSummary; readonly firstProblemSeq: number | null };
}

/** What each problem means, in words (the human output of `verify --signatures`). */
export const describeSignatureProblem = (p: SignatureProblem): string => {
  const by = p.signedBy === null ? 'its signer' : `installation ${p.signedBy}`;
  switch (p.problem) {
    case 'unsigned':
      return p.scope === 'content'
        ? "a secret's event without a signature: its signature was stripped, or it was written by someone who holds no member's key"
        : 'a key event without a signature: its signature was stripped, or it was recorded before signed key events';
    case 'bad-signature':
      return p.scope === 'instance'
        ? `its signature does not verify under the key it names (${p.signingKey ?? 'none'}): the event or its signature was altered`
        : `its signature does not verify under the key ${by} registered: the event or its signature was altered`;
    case 'signer-not-registered':
      return `signed by ${by}, which has no registered signing key at that point (never registered, or removed before it)`;
    case 'signer-not-certified':
      return `signed by ${by}, which is not a member certified back to the genesis at that point, or not the one this event must be signed by`;
    case 'bad-proof-of-possession':
      return 'the signing key it registers does not match its thumbprint, or its proof of possession does not verify';
    case 'recipient-signing-key-not-named':
      return "the wrapped copy does not name the recipient's signing key, so it certifies no member";
    case 'recipient-signing-key-not-registered':
      return 'the wrapped copy names a signing key the recipient did not register';
    case 'genesis-declared-while-members-remain':
      return 'a genesis was declared while certified members remain';
    case 'signed-by-another-installation':
      return `signed by ${by}, not by the instance whose stream it is in`;
    case 'unknown-signing-key':
      return `signed with a key (${p.signingKey ?? 'none'}) the instance never registered, neither in its stream nor in its deployment`;
    case 'genesis-not-expected':
      return `the deployment's root of trust is ${p.signingKey ?? 'none'}, not the genesis thumbprint you expect`;
    case 'key-version-destroyed':
      return 'a creation or copy of a key version that a deletion of the encrypted content destroyed: re-added by someone who can write the store';
    case 'signing-key-not-the-deployments':
      return 'it registers another signing key for its RSA key than the deployment registered with that key';
  }
};

const id = (s: string): string => s.toLowerCase();
const INSTANCE_PREFIX = instanceStream('' as InstallationId);
const DEPLOYMENT_PREFIX = deploymentStream('' as DeploymentId);
const CONTENT_PREFIX = contentStream('' as DeploymentId);

/** The stored `sig.by` / `sig.key`, as evidence (whatever their shape). */
const evidenceOf = (sig: unknown): { signedBy: string | null; signingKey: string | null } => {
  const s = typeof sig === 'object' && sig !== null ? (sig as Record<string, unknown>) : {};
  return { signedBy: typeof s['by'] === 'string' ? s['by'] : null, signingKey: typeof s['key'] === 'string' ? s['key'] : null };
};

interface Item {
  readonly e: StoredEvent;
  readonly seq: number;
}

interface InstanceState {
  /** Lower-case, from the stream name. */
  readonly installationId: string;
  deploymentId: string | undefined;
  /** The signing keys this instance registered in its stream so far, by thumbprint. */
  readonly keys: Map<string, SigningJwk>;
  /** Its registrations: RSA thumbprint → signing thumbprint, where they were made. */
  readonly registrations: Array<{ readonly rsa: string; readonly signing: string; readonly at: Item }>;
  /** Signed by this instance with a key its stream does not register: settled against its deployment at the end. */
  readonly deferred: Item[];
}

/** The registration fields an event may carry (KeyPairIssued, PublicKeyStored, …). */
const registrationOf = (data: unknown): { thumbprint: string; signingKey: SigningJwk; signingThumbprint: string; signingKeyProof: string } | undefined => {
  const d = data as { thumbprint?: string; signingKey?: SigningJwk; signingThumbprint?: string; signingKeyProof?: string };
  return d.thumbprint && d.signingKey && d.signingThumbprint && d.signingKeyProof
    ? { thumbprint: d.thumbprint, signingKey: d.signingKey, signingThumbprint: d.signingThumbprint, signingKeyProof: d.signingKeyProof }
    : undefined;
};
const REGISTERS_IN_DEPLOYMENT = new Set(['PublicKeyStored', 'SigningKeyRegistered', 'PublicKeyReplaced']);

export interface AuditOptions {
  /**
   * The genesis thumbprint its operators confirmed (`verify --signatures --expect-genesis`): each deployment's root
   * of trust must be it; unsigned key events recorded before a genesis declared with it (a ledger from before signed
   * key events, then trusted) are then history, counted but not problems.
   */
  readonly expectGenesis?: string;
}

export const signatureAudit = (crypto: TrustCrypto, options: AuditOptions = {}): SignatureAudit => {
  let checked = 0;
  let signed = 0;
  let verified = 0;
  let unsignedKeyEvents = 0;
  let unsignedInstanceEvents = 0;
  const problems: Array<{ readonly p: SignatureProblem; readonly seq: number }> = [];
  const deployments = new Map<string, Item[]>();
  /** Each deployment stream's trust as its walk ends: whose signatures a content stream's events need. */
  const trusts = new Map<string, Trust>();
  const contents: Item[] = [];
  const roots: DeploymentTrust[] = [];
  const instances = new Map<string, InstanceState>();
  /** The instance streams of each deployment stream (by their ConfigRead), grouped when the read is done. */
  const byDeployment = new Map<string, InstanceState[]>();

  const instanceProblem = (at: Item, problem: InstanceSignatureProblem): void => {
    const { e, seq } = at;
    problems.push({
      seq,
      p: { scope: 'instance', stream: e.stream, revision: e.revision.toString(), eventType: e.event.type, problem, ...evidenceOf(e.metadata.sig) },
    });
  };
  const verifies = (key: SigningJwk, e: StoredEvent, value: string): boolean =>
    crypto.verify(key, eventSigningText(e.stream, e.revision, e.event.type, e.event.data, e.metadata), value);

  const addInstanceEvent = (item: Item): void => {
    const { e } = item;
    let s = instances.get(e.stream);
    if (!s) {
      s = { installationId: id(e.stream.slice(INSTANCE_PREFIX.length)), deploymentId: undefined, keys: new Map(), registrations: [], deferred: [] };
      instances.set(e.stream, s);
    }
    if (e.event.type === 'ConfigRead') s.deploymentId = e.event.data.deploymentId;
    // A registration counts from its own event on: KeyPairIssued is signed by the key it registers, an identity change by the old key or the new.
    const reg = e.event.type === 'KeyPairIssued' || e.event.type === 'ServiceIdentityChanged' ? registrationOf(e.event.data) : undefined;
    if (reg) {
      const proved =
        crypto.thumbprint(reg.signingKey) === reg.signingThumbprint &&
        crypto.verify(reg.signingKey, proofOfPossessionText(s.installationId, reg.thumbprint, reg.signingThumbprint), reg.signingKeyProof);
      if (proved) {
        s.keys.set(reg.signingThumbprint, reg.signingKey);
        s.registrations.push({ rsa: reg.thumbprint, signing: reg.signingThumbprint, at: item });
      } else instanceProblem(item, 'bad-proof-of-possession');
    }
    if (e.metadata.sig === undefined) {
      unsignedInstanceEvents++;
      return;
    }
    signed++;
    const sig = EventSignature.decode(e.metadata.sig);
    const key = E.isRight(sig) ? s.keys.get(sig.right.key) : undefined;
    if (E.isLeft(sig)) instanceProblem(item, 'bad-signature');
    else if (id(sig.right.by) !== s.installationId) instanceProblem(item, 'signed-by-another-installation');
    else if (!key) s.deferred.push(item);
    else if (verifies(key, e, sig.right.value)) verified++;
    else instanceProblem(item, 'bad-signature');
  };

  /** The trust walk over one deployment stream, and a second look at the signed events it raised nothing about. */
  const auditDeployment = (items: ReadonlyArray<Item>): void => {
    const trust = trustOf(
      items.map((x) => x.e),
      crypto,
    );
    trusts.set(items[0]!.e.stream, trust);
    const at = new Map(items.map((x) => [x.e.revision, x]));
    const g = trust.genesis;
    roots.push({
      stream: items[0]!.e.stream,
      genesis: g && {
        installationId: g.installationId,
        thumbprint: g.thumbprint,
        revision: g.revision.toString(),
        declared: at.get(g.revision)?.e.event.type === 'GenesisDeclared',
        afterDeletion: trust.refounded,
      },
      members: Object.keys(trust.members).length,
    });
    const flagged = new Set<bigint>();
    const expected = options.expectGenesis;
    if (expected !== undefined && g?.thumbprint !== expected) {
      const item = g ? at.get(g.revision) : undefined;
      problems.push({
        seq: item?.seq ?? Number.MAX_SAFE_INTEGER,
        p: {
          scope: 'deployment',
          stream: items[0]!.e.stream,
          revision: g ? g.revision.toString() : '-1',
          eventType: item?.e.event.type ?? '-',
          problem: 'genesis-not-expected',
          signedBy: g?.installationId ?? null,
          signingKey: g?.thumbprint ?? null,
        },
      });
    }
    const confirmedDeclaration = expected !== undefined && g?.thumbprint === expected && at.get(g.revision)?.e.event.type === 'GenesisDeclared';
    for (const f of trust.findings) {
      flagged.add(f.revision);
      if (confirmedDeclaration && g && f.problem === 'unsigned' && f.revision < g.revision) continue; // history before the genesis
      const item = at.get(f.revision);
      problems.push({
        seq: item?.seq ?? Number.MAX_SAFE_INTEGER,
        p: {
          scope: 'deployment',
          stream: f.stream,
          revision: f.revision.toString(),
          eventType: f.eventType,
          problem: f.problem,
          ...evidenceOf(item?.e.metadata.sig),
        },
      });
    }
    // Signing keys as registered in this stream (thumbprint recomputed), by thumbprint, with who registered them.
    const keys = new Map<string, { readonly installationId: string; readonly key: SigningJwk }>();
    for (const { e } of items) {
      const reg = REGISTERS_IN_DEPLOYMENT.has(e.event.type) ? registrationOf(e.event.data) : undefined;
      if (reg && crypto.thumbprint(reg.signingKey) === reg.signingThumbprint)
        keys.set(reg.signingThumbprint, { installationId: id((e.event.data as { installationId: string }).installationId), key: reg.signingKey });
    }
    for (const item of items) {
      const { e } = item;
      if (e.metadata.sig === undefined) {
        unsignedKeyEvents++;
        continue;
      }
      signed++;
      if (flagged.has(e.revision)) continue;
      const sig = EventSignature.decode(e.metadata.sig);
      const key = E.isRight(sig) ? keys.get(sig.right.key) : undefined;
      if (E.isRight(sig) && key && key.installationId === id(sig.right.by) && verifies(key.key, e, sig.right.value)) verified++;
      else
        problems.push({
          seq: item.seq,
          p: {
            scope: 'deployment',
            stream: e.stream,
            revision: e.revision.toString(),
            eventType: e.event.type,
            problem: 'bad-signature',
            ...evidenceOf(e.metadata.sig),
          },
        });
    }
    settleInstances(items, trust.registered, flagged);
  };

  /**
   * The instances of this deployment: signatures by a key only the deployment vouches for (the key the trust
   * walk ends with for them, or one a certified wrap named, its proof of possession verified), and their
   * registrations against the deployment's. One pass over the stream, then one look-up per instance.
   */
  const settleInstances = (
    items: ReadonlyArray<Item>,
    registered: Readonly<Record<string, { readonly signingKey: SigningJwk; readonly signingThumbprint: string }>>,
    flagged: ReadonlySet<bigint>,
  ): void => {
    const members = byDeployment.get(items[0]!.e.stream) ?? [];
    if (members.length === 0) return;
    const named = new Map<string, Set<string>>(); // installation → signing thumbprints a wrap for it named (wraps the walk raised nothing about)
    const registrations = new Map<string, Array<NonNullable<ReturnType<typeof registrationOf>>>>();
    for (const { e } of items) {
      const ev = e.event;
      if (ev.type === 'SymmetricKeyWrapped' && ev.data.recipientSigningThumbprint && !flagged.has(e.revision)) {
        const who = id(ev.data.copy.installationId);
        named.set(who, (named.get(who) ?? new Set()).add(ev.data.recipientSigningThumbprint));
      }
      const reg = REGISTERS_IN_DEPLOYMENT.has(ev.type) ? registrationOf(ev.data) : undefined;
      if (!reg) continue;
      const who = id((ev.data as { installationId: string }).installationId);
      const list = registrations.get(who);
      if (list) list.push(reg);
      else registrations.set(who, [reg]);
    }
    for (const s of members) {
      const regs = registrations.get(s.installationId) ?? [];
      if (s.deferred.length > 0) {
        const vouched = new Map<string, SigningJwk>();
        const current = registered[s.installationId];
        if (current) vouched.set(current.signingThumbprint, current.signingKey);
        const certified = named.get(s.installationId);
        for (const reg of regs)
          if (
            certified?.has(reg.signingThumbprint) &&
            crypto.thumbprint(reg.signingKey) === reg.signingThumbprint &&
            crypto.verify(reg.signingKey, proofOfPossessionText(s.installationId, reg.thumbprint, reg.signingThumbprint), reg.signingKeyProof)
          )
            vouched.set(reg.signingThumbprint, reg.signingKey);
        for (const item of s.deferred.splice(0)) {
          const sig = EventSignature.decode(item.e.metadata.sig);
          const key = E.isRight(sig) ? vouched.get(sig.right.key) : undefined;
          if (!key || E.isLeft(sig)) instanceProblem(item, 'unknown-signing-key');
          else if (verifies(key, item.e, sig.right.value)) verified++;
          else instanceProblem(item, 'bad-signature');
        }
      }
      for (const r of s.registrations) {
        const deployed = regs.filter((reg) => reg.thumbprint === r.rsa);
        if (deployed.length > 0 && !deployed.some((reg) => reg.signingThumbprint === r.signing)) instanceProblem(r.at, 'signing-key-not-the-deployments');
      }
    }
  };

  /** A content event: signed by a member its deployment certified (the rule decrypting relies on, src/commands/secrets.ts). */
  const auditContent = ({ e, seq }: Item): void => {
    if (e.metadata.sig !== undefined) signed++;
    const trust = trusts.get(deploymentStream(e.stream.slice(CONTENT_PREFIX.length) as DeploymentId));
    const problem = trust ? contentEventProblem(e, trust, crypto.verify) : 'signer-not-certified';
    if (problem === undefined) verified++;
    else
      problems.push({
        seq,
        p: { scope: 'content', stream: e.stream, revision: e.revision.toString(), eventType: e.event.type, problem, ...evidenceOf(e.metadata.sig) },
      });
  };

  const grouped = new Set<InstanceState>();
  /** Each deployment not walked yet: its trust walk, its instances settled; then the content events kept so far. */
  const settle = (): void => {
    for (const s of instances.values()) {
      if (s.deploymentId === undefined || grouped.has(s)) continue;
      grouped.add(s);
      const stream = deploymentStream(s.deploymentId as DeploymentId);
      const list = byDeployment.get(stream);
      if (list) list.push(s);
      else byDeployment.set(stream, [s]);
    }
    for (const [stream, items] of deployments) if (!trusts.has(stream)) auditDeployment(items);
    for (const item of contents.splice(0)) auditContent(item);
  };
  const contentStreamSettled = (stream: string): boolean => trusts.has(deploymentStream(stream.slice(CONTENT_PREFIX.length) as DeploymentId));

  return {
    add: (e, seq) => {
      checked++;
      if (e.stream.startsWith(DEPLOYMENT_PREFIX)) {
        const items = deployments.get(e.stream);
        if (items) items.push({ e, seq });
        else deployments.set(e.stream, [{ e, seq }]);
      } else if (e.stream.startsWith(INSTANCE_PREFIX)) addInstanceEvent({ e, seq });
      else if (e.stream.startsWith(CONTENT_PREFIX)) {
        if (contentStreamSettled(e.stream)) auditContent({ e, seq });
        else contents.push({ e, seq });
      }
    },
    settle,
    finish: () => {
      settle();
      // Instances whose deployment stream is not in the ledger: nothing vouches for a key their stream does not register.
      for (const s of instances.values()) for (const item of s.deferred.splice(0)) instanceProblem(item, 'unknown-signing-key');
      problems.sort((a, b) => a.seq - b.seq);
      return {
        summary: { checked, signed, verified, unsignedKeyEvents, unsignedInstanceEvents, problems: problems.map((x) => x.p), deployments: roots },
        firstProblemSeq: problems[0]?.seq ?? null,
      };
    },
  };
};
