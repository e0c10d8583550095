/**
 * `keyledger diagnose`: why an instance is (or was, at a point) activated or not, told from its history — the five
 * initialization steps as the ledger shows them (done / failed / missing), every later key event, where it stopped
 * or failed, the evidence (installation ID and thumbprint presented vs stored, key version held vs current, machine,
 * signatures, the events involved) and the typed remedy: exactly what `status` says (./status.ts, ./findings.ts),
 * with the story behind it. Pure: a fold over the instance's stream and its deployment's, already read and
 * hash-checked; signature verification is injected.
 */
import { INIT_STEP_NAMES, type InitStep } from '../domain/event-classes';
import type { StoredEvent } from '../domain/envelope';
import type { RefusalReason } from '../domain/events';
import { type DeploymentId, deploymentStream } from '../domain/ids';
import { stepOfRefusal } from '../domain/refusal';
import type { Remedy } from '../domain/remedy';
import { type SignatureProblem, signatureAudit, type DeploymentTrust } from '../domain/signature-audit';
import { type TrustCrypto, trustOf } from '../domain/trust';
import { activationFold, type EventRef, initialActivationView, isAfter, type RecordedOutcome } from './activation';
import { type Finding, findingsFor } from './findings';
import { currentOutcome, deploymentOf, type InstanceStatus, instanceStatus } from './status';
import { type AtPoint, instanceTimeline, type TimelineEntry, type TimelineRef, timelineRef } from './timeline';

export interface StepState {
  readonly step: InitStep;
  readonly name: string;
  readonly mark: 'done' | 'failed' | 'missing';
  /** The event that records the step now (done), or the refusal that sends the operator back to it (failed). */
  readonly at: TimelineRef | null;
  /** Why it is not done, when the ledger says more than "not recorded". */
  readonly note: string | null;
}

/** Where the instance stopped or failed (null: activated). */
export interface Stop {
  readonly step: InitStep;
  readonly mark: 'failed' | 'missing';
  /** The event that shows it (a refusal, a removal), when there is one. */
  readonly at: TimelineRef | null;
}

/** A value as the instance presented it beside the one the ledger stored (null: not known). */
export interface Evidence {
  /** The installation ID diagnosed, the one its deployment registered (null: not registered), and the one its keystore held when known. */
  readonly installationId: { readonly presented: string; readonly stored: string | null; readonly keystore: string | null };
  /** The key pair held at the last start check, the one registered in the deployment, the one the instance recorded (step 2). */
  readonly thumbprint: { readonly presented: string | null; readonly stored: string | null; readonly recorded: string | null };
  readonly keyVersion: { readonly held: number | null; readonly current: number | null };
  readonly copy: { readonly keyVersion: number; readonly wrappedFor: string; readonly at: EventRef } | null;
  readonly machine: { readonly presented: string | null; readonly stored: string | null; readonly host: string | null; readonly keystorePath: string | null };
  readonly serviceIdentity: { readonly presented: string | null; readonly recorded: string | null };
  /** Backups of the current key version (the file a restore needs has one of these fingerprints). */
  readonly backups: ReadonlyArray<{ readonly keyVersion: number; readonly fingerprint: string; readonly by: string; readonly at: EventRef }>;
  /** The events the answer rests on, in global order. */
  readonly events: ReadonlyArray<EventRef>;
}

/** The signatures of the two streams, checked as `verify --signatures` checks them (against the ledger's own genesis: not anchored). */
export interface SignatureEvidence {
  readonly checked: number;
  readonly verified: number;
  readonly problems: ReadonlyArray<SignatureProblem>;
  readonly genesis: DeploymentTrust['genesis'];
  readonly members: number;
  /** The instance's copy: wrapped and signed by a member certified back to the genesis (`by`), or why not. */
  readonly copy: {
    readonly trusted: boolean;
    readonly keyVersion: number;
    readonly revision: string;
    readonly by: string | null;
    readonly problem: string | null;
  } | null;
  /** The current key version's key check: signed by a certified creator (or the declared genesis)? */
  readonly keyCheck: { readonly keyVersion: number; readonly trusted: boolean } | null;
}

export interface Diagnosis {
  readonly installationId: string;
  readonly deploymentId: string | null;
  /** The point diagnosed (null: now). */
  readonly at: AtPoint | null;
  /** Events of the two streams taken into account. */
  readonly events: number;
  /** What `keyledger status` says (would have said, at the point). */
  readonly status: InstanceStatus;
  readonly findings: ReadonlyArray<Finding>;
  readonly steps: ReadonlyArray<StepState>;
  readonly timeline: ReadonlyArray<TimelineEntry>;
  readonly stop: Stop | null;
  readonly evidence: Evidence;
  /** Null when no verifier was given. */
  readonly signatures: SignatureEvidence | null;
  /** Status's remedy (null: activated; findings carry their own). */
  readonly remedy: Remedy | null;
}

const key = (r: { readonly stream: string; readonly revision: string | bigint }): string => `${r.stream}@${r.revision.toString()}`;

const byPosition = (refs: ReadonlyArray<EventRef | null | undefined>): EventRef[] => {
  const unique = new Map<string, EventRef>();
  for (const r of refs) if (r != null) unique.set(key(r), r);
  return [...unique.values()].sort((a, b) => (isAfter(a, b) ? 1 : isAfter(b, a) ? -1 : 0));
};

/** The outcome the evidence is read from: the holder's current one, else the newest of any presenter. */
const presentingOutcome = (outcomes: ReadonlyArray<RecordedOutcome>, current: RecordedOutcome | null): RecordedOutcome | null =>
  current ?? outcomes.reduce<RecordedOutcome | null>((a, o) => (a === null || isAfter(o.at, a.at) ? o : a), null);

const reasonOf = (o: RecordedOutcome | null): RefusalReason | null => (o?.kind === 'refused' ? o.reason : null);

export const diagnoseInstance = (
  installationId: string,
  /** The instance's stream and its deployment's, merged in global order (cut at `at` already). */
  events: ReadonlyArray<StoredEvent>,
  options: { readonly at?: AtPoint; readonly signatures?: TrustCrypto } = {},
): Diagnosis => {
  const id = installationId.toLowerCase();
  const working = activationFold.begin(initialActivationView);
  for (const e of events) activationFold.apply(working, e);
  const view = activationFold.end(working);
  const status = instanceStatus(view, id);
  const findings = findingsFor(view, id);
  const i = view.instances[id];
  const d = i ? deploymentOf(view, i) : undefined;
  const reg = d?.registered[id];
  const copy = d?.copies[id];
  const removal = d?.removed[id];
  const current = i ? currentOutcome(view, i) : null;
  const presenting = i ? presentingOutcome(Object.values(i.outcomes), current) : null;
  const reason = reasonOf(presenting);
  const byRef = new Map(events.map((e) => [key(e), e]));
  const ref = (r: EventRef | null | undefined): TimelineRef | null => {
    const e = r ? byRef.get(key(r)) : undefined;
    return e ? timelineRef(e) : null;
  };

  // ─── The five steps, as the ledger shows them now ──────────────────────
  const done = (step: InitStep, at: EventRef | null | undefined, note: string | null = null): StepState => ({
    step,
    name: INIT_STEP_NAMES[step],
    mark: at ? 'done' : 'missing',
    at: ref(at),
    note: at ? null : note,
  });
  const currentVersion = d?.currentKeyVersion ?? null;
  const steps: StepState[] = [
    done(1, i?.configRead),
    done(2, i?.keyPairIssued),
    done(3, reg?.at, removal ? `its registration was revoked (removed at ${removal.at.stream}@${removal.at.revision})` : null),
    copy && reg && copy.keyVersion === currentVersion
      ? done(4, copy.at)
      : done(
          4,
          null,
          removal && !reg
            ? 'its copy was revoked with its registration'
            : copy && currentVersion !== null && copy.keyVersion < currentVersion
              ? `it holds a copy of key version ${copy.keyVersion}, the current version is ${currentVersion}`
              : currentVersion === null
                ? 'the deployment has no symmetric key yet'
                : null,
        ),
    status.state === 'activated'
      ? done(5, status.since)
      : status.state === 'disabled'
        ? { step: 5, name: INIT_STEP_NAMES[5], mark: 'failed', at: ref(status.since), note: `the start check refused: ${status.reason._tag}` }
        : done(5, null),
  ];
  if (status.state === 'disabled') {
    const s = stepOfRefusal(status.reason);
    steps[s - 1] = { ...steps[s - 1]!, mark: 'failed', at: ref(status.since), note: `the start check refused: ${status.reason._tag}` };
  }

  const stop: Stop | null = ((): Stop | null => {
    switch (status.state) {
      case 'activated':
        return null;
      case 'not-initialized':
        return { step: 1, mark: 'missing', at: null };
      case 'initializing':
        return { step: Math.min(5, status.completedSteps + 1) as InitStep, mark: 'missing', at: null };
      case 'waiting-to-join':
        return { step: 4, mark: 'missing', at: null };
      case 'disabled':
        return { step: stepOfRefusal(status.reason), mark: 'failed', at: ref(status.since) };
      case 'removed':
        return { step: 3, mark: 'failed', at: ref(status.since) };
    }
  })();

  // ─── Evidence ──────────────────────────────────────────────────────────
  const basis = presenting?.basis ?? null;
  const keystoreId =
    reason?._tag === 'KeystoreBelongsToOtherInstallation'
      ? reason.keystoreInstallationId
      : reason?._tag === 'InstallationNotRegistered'
        ? reason.keystoreInstallationId
        : presenting?.kind === 'activated'
          ? (i?.installationId ?? null)
          : null;
  const heldThumbprint =
    basis?.presentedThumbprint ?? (reason?._tag === 'PublicKeyMismatch' || reason?._tag === 'WrappedCopyForOtherKey' ? reason.heldThumbprint : null);
  const deploymentId = i?.deploymentId ?? null;
  const dstream = deploymentId === null ? null : deploymentStream(deploymentId as DeploymentId);
  const backups: Evidence['backups'][number][] = [];
  for (const e of events)
    if (e.stream === dstream && e.event.type === 'KeyBackedUp' && e.event.data.keyVersion === currentVersion)
      backups.push({ keyVersion: e.event.data.keyVersion, fingerprint: e.event.data.fingerprint, by: e.event.data.backedUpBy, at: timelineRef(e) });
  const evidence: Evidence = {
    installationId: { presented: i?.installationId ?? id, stored: reg ? (i?.installationId ?? id) : null, keystore: keystoreId },
    thumbprint: { presented: heldThumbprint, stored: reg?.thumbprint ?? null, recorded: i?.thumbprint ?? null },
    keyVersion: { held: copy?.keyVersion ?? null, current: currentVersion },
    copy: copy ? { keyVersion: copy.keyVersion, wrappedFor: copy.thumbprint, at: copy.at } : null,
    machine: {
      presented: basis?.machineName ?? (reason?._tag === 'ConfigurationChanged' && reason.field === 'machineName' ? reason.presented : null),
      stored: reg?.machineName ?? removal?.machineName ?? i?.machineName ?? null,
      host: basis?.host ?? null,
      keystorePath: basis?.keystorePath ?? (reason?._tag === 'KeystoreUnavailable' ? reason.keystorePath : null),
    },
    serviceIdentity: {
      presented: reason?._tag === 'ServiceIdentityChanged' ? reason.presentedIdentity : presenting?.kind === 'activated' ? (i?.serviceIdentity ?? null) : null,
      recorded: reason?._tag === 'ServiceIdentityChanged' ? reason.recordedIdentity : (i?.serviceIdentity ?? null),
    },
    backups,
    events: byPosition([i?.configRead, i?.keyPairIssued, reg?.at, copy?.at, d?.currentKeyCreated, removal?.at, presenting?.at]),
  };

  return {
    installationId: i?.installationId ?? id,
    deploymentId,
    at: options.at ?? null,
    events: events.length,
    status,
    findings,
    steps,
    timeline: instanceTimeline(id, events),
    stop,
    evidence,
    signatures: options.signatures && dstream ? signatureEvidence(id, dstream, events, options.signatures, currentVersion) : null,
    remedy: status.state === 'activated' ? null : status.remedy,
  };
};

const signatureEvidence = (
  id: string,
  dstream: string,
  events: ReadonlyArray<StoredEvent>,
  crypto: TrustCrypto,
  currentVersion: number | null,
): SignatureEvidence => {
  const audit = signatureAudit(crypto);
  for (const [seq, e] of events.entries()) audit.add(e, seq);
  const { summary } = audit.finish();
  const deployment = events.filter((e) => e.stream === dstream);
  const trust = deployment.length > 0 ? trustOf(deployment, crypto) : undefined;
  const copy = trust?.copies[id];
  const root = summary.deployments.find((x) => x.stream === dstream);
  return {
    checked: summary.checked,
    verified: summary.verified,
    problems: summary.problems,
    genesis: root?.genesis ?? null,
    members: root?.members ?? 0,
    copy: copy
      ? copy.trusted
        ? { trusted: true, keyVersion: copy.keyVersion, revision: copy.revision.toString(), by: copy.by, problem: null }
        : { trusted: false, keyVersion: copy.keyVersion, revision: copy.revision.toString(), by: null, problem: copy.problem }
      : null,
    keyCheck: currentVersion === null || !trust ? null : { keyVersion: currentVersion, trusted: trust.keyChecks[currentVersion]?.trusted === true },
  };
};
