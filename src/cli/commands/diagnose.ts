/**
 * `keyledger diagnose [installationId]` (or `--machine M --instance N`): the story of an instance's activation from
 * its stream and its deployment's — the five steps, every later key event, where it stopped, the evidence, the
 * remedy — now or `--at` a point of the past. Needs only the store: no keystore, no config of that instance.
 * Exit codes as `status`: 0 activated, 1 not activated, 4 the ledger was altered, rolled back or replaced.
 */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { type DiagnoseTarget, diagnose } from '../../commands/diagnose';
import { DeploymentId, type InstallationId } from '../../domain/ids';
import { sha256Hex } from '../../infra/sha256';
import { EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { withReadSession } from '../read-session';
import { diagnoseJson, diagnoseText } from '../render-diagnose';
import { parseAt } from '../points';
import { shown } from '../render';
import { emit, fail, parseInstallationId, rememberedHeads, usage } from '../session';

export interface DiagnoseFlags {
  readonly machine?: string;
  readonly instance?: string;
  readonly deployment?: string;
  readonly at?: string;
}

const diagnoseCommand = async (io: Io, g: GlobalOptions, id: string | undefined, flags: DiagnoseFlags): Promise<number> => {
  const at = flags.at === undefined ? E.right(undefined) : parseAt(flags.at);
  if (E.isLeft(at)) return fail(io, at.left);
  const requested = id === undefined ? E.right(undefined) : parseInstallationId(id);
  if (E.isLeft(requested)) return fail(io, requested.left);
  if ((flags.machine === undefined) !== (flags.instance === undefined) || (id !== undefined && flags.machine !== undefined))
    return fail(io, { _tag: 'UsageError', message: 'name the instance by its installation ID, or by both --machine M and --instance N (not both ways)' });
  if (flags.deployment !== undefined && !DeploymentId.is(flags.deployment))
    return fail(io, { _tag: 'UsageError', message: `--deployment "${shown(flags.deployment, 64)}" is not a deployment ID (letters, digits, ".", "_", "-")` });
  return withReadSession(io, g, async (s) => {
    const local = s.local?.config.instance;
    let target: DiagnoseTarget;
    if (requested.right !== undefined) target = { installationId: requested.right };
    else if (flags.machine !== undefined && flags.instance !== undefined)
      target = {
        machine: flags.machine,
        instance: flags.instance,
        deploymentId: (flags.deployment ?? local?.deploymentId ?? 'default') as DeploymentId,
      };
    else if (local) target = { installationId: local.installationId as InstallationId };
    else return usage('name the instance to diagnose: keyledger diagnose <installationId>, or --machine M --instance N (this machine has no config)');
    const heads = s.local ? await rememberedHeads(s.local) : undefined;
    const signing = (await import('../../infra/signing')).signatures;
    const r = await diagnose(
      {
        store: s.store,
        digest: sha256Hex,
        signatures: { verify: signing.verify, thumbprint: signing.thumbprint },
        ...(local && heads ? { local: { installationId: local.installationId, heads } } : {}),
      },
      target,
      at.right ? { at: at.right } : {},
    );
    if (E.isLeft(r)) return r;
    emit(io, g, diagnoseJson(r.right), diagnoseText(r.right));
    const ledger = r.right.ledger;
    if (ledger) return E.right(ledger._tag === 'CorruptEvent' && ledger.tampered !== true ? EXIT.failure : EXIT.tampered);
    return E.right(r.right.diagnosis.status.state === 'activated' ? EXIT.ok : EXIT.notActivated);
  });
};

export const registerDiagnose = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('diagnose')
    .argument('[installationId]', "the instance to diagnose (default: this config's)")
    .option('-m, --machine <name>', 'name it by its machine name (with --instance), as its registration in the deployment carries it')
    .option('-n, --instance <name>', 'name it by its instance name (with --machine)')
    .option('--deployment <id>', "where --machine/--instance look (default: this config's deployment, else default)")
    .option('--at <time|position>', 'the instance as it was then: an ISO time (2026-11-29T14:21:28Z) or a position diagnose prints (12/12)')
    .description(
      "replay an instance's history to explain its activation: the five initialization steps (done / failed / missing) and every later " +
        'key event with time, actor and correlation ID; where it stopped, the evidence and the remedy. Reads only its two streams; ' +
        'needs no keystore or config of that instance (--store names the ledger). Exit 0 activated, 1 not activated, 4 ledger altered or rolled back',
    )
    .addHelpText(
      'after',
      '\nOn another machine: keyledger --store sqlite:/srv/ledger.db diagnose <installationId>\n' +
        'As it was before a change: keyledger diagnose --at 2026-11-29T14:00:00Z (or --at <position> from its timeline)\n',
    )
    .action(async (id: string | undefined, o: DiagnoseFlags) => done(await diagnoseCommand(io, globals(), id, o)));
};
