/**
 * An instance named the way an operator knows it — machine name and instance name, as `rskeymgmt -j -m M -n N` names
 * it — found in the activation view: the one lookup `keyledger join --machine --instance` and `POST /api/join` share.
 * Pure. The names are the ledger's, so the lookup decides nothing about keys: a join still wraps only for the
 * thumbprint the operator confirmed out of band (src/domain/newcomer-key.ts).
 */
import * as E from 'fp-ts/Either';
import type { InstallationId } from '../domain/ids';
import type { ActivationView } from './activation';
import { listInstances } from './status';

/** No instance of the ledger carries both names. */
export interface NoInstanceNamed {
  readonly _tag: 'NoInstanceNamed';
  readonly machine: string;
  readonly instance: string;
}

/** Several instances carry both names and no single one of them is waiting to join: the installation ID must say which. */
export interface InstanceNameAmbiguous {
  readonly _tag: 'InstanceNameAmbiguous';
  readonly machine: string;
  readonly instance: string;
  /** Every instance carrying the names, sorted. */
  readonly installationIds: ReadonlyArray<string>;
}

export type InstanceNameError = NoInstanceNamed | InstanceNameAmbiguous;

const same = (a: string | null, b: string): boolean => a !== null && a.toLowerCase() === b.toLowerCase();

/**
 * The instance on machine `machine` named `instance` (both compared without case, as Windows names are): the only one
 * so named, or, when several are (a machine rebuilt under the same names), the only one of them waiting to join.
 */
export const instanceByName = (view: ActivationView, machine: string, instance: string): E.Either<InstanceNameError, InstallationId> => {
  const matches = listInstances(view).flatMap((r) =>
    r.state !== 'not-initialized' && same(r.view.machineName, machine) && same(r.view.instanceName, instance) ? [r] : [],
  );
  const waiting = matches.filter((r) => r.state === 'waiting-to-join');
  const pick = waiting.length === 1 ? waiting[0] : matches.length === 1 ? matches[0] : undefined;
  if (pick) return E.right(pick.view.installationId.toLowerCase() as InstallationId);
  return E.left(
    matches.length === 0
      ? { _tag: 'NoInstanceNamed', machine, instance }
      : { _tag: 'InstanceNameAmbiguous', machine, instance, installationIds: matches.map((r) => r.view.installationId.toLowerCase()).sort() },
  );
};
