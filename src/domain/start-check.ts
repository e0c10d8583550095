/**
 * The start check (SSRS: "initialized only if installation ID and public key
 * match") as a verdict: either the plan to prove the instance holds its copy
 * (unwrap it, compare the key check), or the reason it cannot be activated.
 * It is the init workflow (./init-workflow.ts) seen by someone who performs no
 * initialization step: a sponsor checking itself before a join, a test.
 */
import * as E from 'fp-ts/Either';
import type { DeploymentState } from './deployment/decider';
import type { RefusalReason } from './events';
import { checkAfterUnwrap as afterUnwrap, type HeldKey, nextInitStep, type UnwrapOutcome, type UnwrapPlan } from './init-workflow';
import type { InstanceConfig, InstanceState } from './instance/decider';

export type { HeldKey, UnwrapOutcome, UnwrapPlan } from './init-workflow';

export const checkBeforeUnwrap = (
  instance: InstanceState,
  deployment: DeploymentState,
  presented: InstanceConfig,
  held: HeldKey,
): E.Either<RefusalReason, UnwrapPlan> => {
  const step = nextInitStep({ instance, deployment, presented, held, rejoin: false });
  const notRegistered = (): E.Either<RefusalReason, UnwrapPlan> =>
    E.left({
      _tag: 'InstallationNotRegistered',
      installationId: presented.installationId,
      keystoreInstallationId: held._tag === 'Held' ? held.installationId : held.keystoreInstallationId,
    });
  switch (step._tag) {
    case 'RecordConfig':
    case 'RecordKeyPair':
    case 'StorePublicKey':
      return notRegistered();
    case 'GenerateKeyPair':
      return held._tag === 'KeystoreProblem'
        ? E.left({ _tag: 'KeystoreUnavailable', keystorePath: held.keystorePath, problem: held.problem, detail: held.detail })
        : notRegistered();
    case 'CreateSymmetricKey':
      // No key: never created yet, or destroyed with the encrypted content (then initialized afresh by `init`).
      return E.left(
        deployment.deleted
          ? { _tag: 'ContentDeleted', keyVersions: [...deployment.deleted.keyVersions], deletedBy: deployment.deleted.by }
          : { _tag: 'NoSymmetricKey', deploymentId: presented.deploymentId },
      );
    case 'Waiting':
    case 'Refused':
      return E.left(step.reason);
    case 'Prove':
    case 'Done':
      return E.right(step.plan);
  }
};

export const checkAfterUnwrap = (plan: UnwrapPlan, outcome: UnwrapOutcome): E.Either<RefusalReason, UnwrapPlan> => {
  const r = afterUnwrap(plan, outcome);
  return r._tag === 'Proven' ? E.right(r.plan) : E.left(r.reason);
};
