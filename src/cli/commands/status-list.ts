/** `keyledger status [installationId]` and `keyledger list` (rskeymgmt -l): answers from the activation view. */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { instanceStatus, listInstances } from '../../projections/status';
import { findingsFor } from '../../projections/findings';
import { instanceViewFromStreams } from '../../projections/instance-view';
import { sha256Hex } from '../../infra/sha256';
import { EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { listText, membershipOf, statusJson, statusText } from '../render';
import { emit, fail, loadView, parseInstallationId, rememberedHeads, viewIsCold, withSession } from '../session';
import { checkRelied } from '../../commands/relied';
import { deploymentStream, instanceStream } from '../../domain/ids';

const statusCommand = async (io: Io, g: GlobalOptions, id: string | undefined): Promise<number> => {
  const requested = id === undefined ? E.right(undefined) : parseInstallationId(id);
  if (E.isLeft(requested)) return fail(io, requested.left);
  return withSession(io, g, async (s) => {
    const target = requested.right ?? s.config.instance.installationId;
    // This instance's own answer holds only if the ledger still holds what it relied on (ADR 0009).
    if (target === s.config.instance.installationId) {
      const heads = await rememberedHeads(s);
      const relied = heads ? await checkRelied(s.store, heads, [instanceStream(target), deploymentStream(s.config.instance.deploymentId)]) : E.right(undefined);
      if (E.isLeft(relied)) return relied;
    }
    // A cold view would mean reading the whole ledger: one instance's answer needs only its own streams. So does a
    // user without the right to read the global order ($all on EventStoreDB: least privilege, see the README).
    const cold = viewIsCold(s);
    if (E.isLeft(cold)) return cold;
    const ownStreams = () => instanceViewFromStreams(s.store, target, sha256Hex)();
    let view = cold.right ? await ownStreams() : await loadView(io, s, g);
    if (E.isLeft(view) && view.left._tag === 'AccessDenied' && view.left.operation === 'read-all') view = await ownStreams();
    if (E.isLeft(view)) return view;
    const st = instanceStatus(view.right, target);
    const findings = findingsFor(view.right, target);
    emit(io, g, statusJson(st, findings), statusText(st, findings));
    return E.right(st.state === 'activated' ? EXIT.ok : EXIT.notActivated);
  });
};

export const listCommand = async (io: Io, g: GlobalOptions): Promise<number> =>
  withSession(io, g, async (s) => {
    const view = await loadView(io, s, g);
    if (E.isLeft(view)) return view;
    const rows = listInstances(view.right);
    const json = rows.map((r) => {
      const id = r.state === 'not-initialized' ? r.installationId : r.view.installationId;
      return { ...statusJson(r, findingsFor(view.right, id)), ...membershipOf(r, view.right) };
    });
    emit(io, g, json, listText(rows, view.right));
    return E.right(EXIT.ok);
  });

export const registerStatusList = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('status')
    .argument('[installationId]', "another instance of the ledger (default: this config's)")
    .description('activation state from the ledger; when not activated, prints RSReportServerNotActivated with the reason and remedy and exits 1')
    .action(async (id: string | undefined) => done(await statusCommand(io, globals(), id)));

  program
    .command('list')
    .description(
      'membership: every instance with installation ID, machine, instance name, joined / waiting-to-join / disabled / removed, key version held, thumbprint (rskeymgmt -l)',
    )
    .action(async () => done(await listCommand(io, globals())));
};
