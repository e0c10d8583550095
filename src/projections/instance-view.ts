/**
 * One instance's answer without the whole ledger (issue 10): when the shared
 * view is cold (a first run on a machine, a version bump, a replaced ledger),
 * `status` of one instance folds only that instance's stream and its
 * deployment's — each event decoded and its hash link and revision checked,
 * both streams merged in global order — instead of catching up on all of `$all`.
 * Everything an instance's status and findings read lives in those two streams
 * (an installation ID claimed by two machines shows in its own outcomes).
 */
import * as E from 'fp-ts/Either';
import type * as TE from 'fp-ts/TaskEither';
import type { Digest, StoredEvent } from '../domain/envelope';
import { deploymentStream, type InstallationId, instanceStream, type DeploymentId } from '../domain/ids';
import { comparePositions, type EventStore } from '../ports/event-store';
import { type ActivationView, activationFold, initialActivationView } from './activation';
import { checkEvent, type Head, type RunnerError } from './runner';

const PAGE = 1000;

const readChecked = async (store: EventStore, stream: string, digest: Digest): Promise<E.Either<RunnerError, StoredEvent[]>> => {
  const heads = new Map<string, Head>();
  const out: StoredEvent[] = [];
  for (let from = 0n; ; from += BigInt(PAGE)) {
    const page = await store.readStream(stream, { fromRevision: from, maxCount: PAGE })();
    if (E.isLeft(page)) return page;
    for (const r of page.right) {
      const checked = checkEvent(heads, r, digest);
      if (E.isLeft(checked)) return checked;
      heads.set(stream, { revision: r.revision, hash: checked.right.metadata.hash });
      out.push(checked.right);
    }
    if (page.right.length < PAGE) return E.right(out);
  }
};

const deploymentOfEvents = (events: ReadonlyArray<StoredEvent>): DeploymentId | undefined => {
  for (const e of events) if ('deploymentId' in e.event.data) return e.event.data.deploymentId as DeploymentId;
  return undefined;
};

export const instanceViewFromStreams =
  (store: EventStore, installationId: InstallationId, digest: Digest): TE.TaskEither<RunnerError, ActivationView> =>
  async () => {
    const own = await readChecked(store, instanceStream(installationId), digest);
    if (E.isLeft(own)) return own;
    const deploymentId = deploymentOfEvents(own.right);
    const dep = deploymentId === undefined ? E.right([]) : await readChecked(store, deploymentStream(deploymentId), digest);
    if (E.isLeft(dep)) return dep;
    const events = [...own.right, ...dep.right].sort((a, b) => comparePositions(a.position, b.position));
    const working = activationFold.begin(initialActivationView);
    for (const e of events) activationFold.apply(working, e);
    return E.right(activationFold.end(working));
  };
