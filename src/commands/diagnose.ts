/**
 * `keyledger diagnose`: reads one instance's stream and its deployment's — never the whole ledger — each event
 * decoded and its hash link and revision checked, and tells its story (src/projections/diagnosis.ts). Needs no
 * keystore and no config of that instance: an operator on another machine names it by installation ID, or by
 * machine and instance name within a deployment. On the instance's own machine, the heads it relied on are
 * checked too (as `status` does): a rolled-back or replaced ledger is the answer then, not an earlier state.
 * A stream that holds an altered event is diagnosed up to it, and the alteration is the answer.
 */
import * as E from 'fp-ts/Either';
import type { CorruptEvent, Digest, StoredEvent } from '../domain/envelope';
import { type DeploymentId, deploymentStream, type InstallationId, instanceStream } from '../domain/ids';
import { acceptRollback, LEDGER_REPLACED, ledgerAltered, type Remedy } from '../domain/remedy';
import type { TrustCrypto } from '../domain/trust';
import { comparePositions, type EventStore, type StoreError } from '../ports/event-store';
import type { HeadStore, LocalStateError } from '../ports/heads';
import { activationFold, initialActivationView } from '../projections/activation';
import { type Diagnosis, diagnoseInstance } from '../projections/diagnosis';
import { checkEvent, type Head } from '../projections/runner';
import { type AtPoint, eventsAt } from '../projections/timeline';
import type { LedgerReplaced, LedgerRolledBack } from './handler';
import { checkRelied } from './relied';

export type DiagnoseTarget =
  | { readonly installationId: InstallationId }
  /** By the names its registration in the deployment carries (case-insensitive). */
  | { readonly machine: string; readonly instance: string; readonly deploymentId: DeploymentId };

/** No registration in the deployment carries these names. */
export interface InstanceNotFound {
  readonly _tag: 'InstanceNotFound';
  readonly machine: string;
  readonly instance: string;
  readonly deploymentId: string;
}

/** Several installations were registered under these names: the installation ID must say which. */
export interface InstanceAmbiguous {
  readonly _tag: 'InstanceAmbiguous';
  readonly machine: string;
  readonly instance: string;
  readonly deploymentId: string;
  readonly installationIds: ReadonlyArray<string>;
}

export type DiagnoseError = StoreError | LocalStateError | InstanceNotFound | InstanceAmbiguous;

/** Why the ledger itself cannot be relied on: that is the answer, before anything it shows. */
export type LedgerProblem = LedgerRolledBack | LedgerReplaced | CorruptEvent;

export interface DiagnoseResult {
  readonly diagnosis: Diagnosis;
  readonly ledger: LedgerProblem | null;
  /** The remedy for the ledger problem (null: none). */
  readonly ledgerRemedy: Remedy | null;
}

export interface DiagnoseDeps {
  readonly store: EventStore;
  readonly digest: Digest;
  /** Ed25519 verification (src/infra/signing.ts): the signatures of the two streams are checked and reported. */
  readonly signatures?: TrustCrypto;
  /** This machine's instance and the heads it remembers: when it is the one diagnosed, a rolled-back or replaced ledger is detected. */
  readonly local?: { readonly installationId: string; readonly heads: HeadStore };
}

interface StreamRead {
  readonly events: ReadonlyArray<StoredEvent>;
  /** The first event that failed its checks; the events before it are kept. */
  readonly problem: CorruptEvent | null;
}

const PAGE = 1000;

/** A whole stream, each event decoded and checked against the chain so far; it stops at the first one that fails. */
const readStreamChecked = async (store: EventStore, stream: string, digest: Digest): Promise<E.Either<StoreError, StreamRead>> => {
  const heads = new Map<string, Head>();
  const events: StoredEvent[] = [];
  for (let from = 0n; ; from += BigInt(PAGE)) {
    const page = await store.readStream(stream, { fromRevision: from, maxCount: PAGE })();
    if (E.isLeft(page)) return page;
    for (const r of page.right) {
      const checked = checkEvent(heads, r, digest);
      if (E.isLeft(checked)) return E.right({ events, problem: checked.left });
      heads.set(stream, { revision: r.revision, hash: checked.right.metadata.hash });
      events.push(checked.right);
    }
    if (page.right.length < PAGE) return E.right({ events, problem: null });
  }
};

const deploymentOf = (events: ReadonlyArray<StoredEvent>): DeploymentId | undefined => {
  for (const e of events) if ('deploymentId' in e.event.data) return e.event.data.deploymentId as DeploymentId;
  return undefined;
};

/** The installation registered in a deployment under a machine and instance name: the one still registered, else the only one ever. */
const findByName = (
  target: Extract<DiagnoseTarget, { machine: string }>,
  deployment: ReadonlyArray<StoredEvent>,
): E.Either<InstanceNotFound | InstanceAmbiguous, InstallationId> => {
  const working = activationFold.begin(initialActivationView);
  for (const e of deployment) activationFold.apply(working, e);
  const d = activationFold.end(working).deployments[target.deploymentId];
  const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();
  const matching = (entries: Readonly<Record<string, { readonly machineName: string; readonly instanceName: string }>>): string[] =>
    Object.entries(entries)
      .filter(([, r]) => same(r.machineName, target.machine) && same(r.instanceName, target.instance))
      .map(([id]) => id)
      .sort();
  const registered = d ? matching(d.registered) : [];
  const ids = registered.length > 0 ? registered : d ? matching(d.removed) : [];
  const where = { machine: target.machine, instance: target.instance, deploymentId: target.deploymentId };
  if (ids.length === 1) return E.right(ids[0] as InstallationId);
  return E.left(ids.length === 0 ? { _tag: 'InstanceNotFound', ...where } : { _tag: 'InstanceAmbiguous', ...where, installationIds: ids });
};

const remedyForLedger = (p: LedgerProblem): Remedy => {
  switch (p._tag) {
    case 'LedgerRolledBack':
      return acceptRollback(p.stream, p.found.revision === 'no_stream' ? '-1' : p.found.revision);
    case 'LedgerReplaced':
      return LEDGER_REPLACED;
    case 'CorruptEvent':
      return ledgerAltered(`${p.stream}@${p.revision}`);
  }
};

export const diagnose = async (
  deps: DiagnoseDeps,
  target: DiagnoseTarget,
  options: { readonly at?: AtPoint } = {},
): Promise<E.Either<DiagnoseError, DiagnoseResult>> => {
  let named: StreamRead | undefined;
  let id: InstallationId;
  if ('installationId' in target) id = target.installationId.toLowerCase() as InstallationId;
  else {
    const dep = await readStreamChecked(deps.store, deploymentStream(target.deploymentId), deps.digest);
    if (E.isLeft(dep)) return dep;
    named = dep.right;
    const found = findByName(target, named.events);
    if (E.isLeft(found)) return found;
    id = found.right;
  }
  const own = await readStreamChecked(deps.store, instanceStream(id), deps.digest);
  if (E.isLeft(own)) return own;
  const deploymentId = deploymentOf(own.right.events) ?? ('deploymentId' in target ? target.deploymentId : undefined);
  let dep: StreamRead = { events: [], problem: null };
  if (deploymentId !== undefined && named && 'deploymentId' in target && target.deploymentId === deploymentId) dep = named;
  else if (deploymentId !== undefined) {
    const read = await readStreamChecked(deps.store, deploymentStream(deploymentId), deps.digest);
    if (E.isLeft(read)) return read;
    dep = read.right;
  }
  let ledger: LedgerProblem | null = own.right.problem ?? dep.problem;
  if (ledger === null && deps.local && deps.local.installationId.toLowerCase() === id) {
    const streams = [instanceStream(id), ...(deploymentId !== undefined ? [deploymentStream(deploymentId)] : [])];
    const relied = await checkRelied(deps.store, deps.local.heads, streams);
    if (E.isLeft(relied)) {
      const e = relied.left;
      if (e._tag !== 'LedgerRolledBack' && e._tag !== 'LedgerReplaced') return E.left(e);
      ledger = e;
    }
  }
  const merged = [...own.right.events, ...dep.events].sort((a, b) => comparePositions(a.position, b.position));
  const diagnosis = diagnoseInstance(id, eventsAt(merged, options.at), {
    ...(options.at ? { at: options.at } : {}),
    ...(deps.signatures ? { signatures: deps.signatures } : {}),
  });
  return E.right({ diagnosis, ledger, ledgerRemedy: ledger ? remedyForLedger(ledger) : null });
};
