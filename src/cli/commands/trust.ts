/** `keyledger trust --declare-genesis | --expect-genesis <thumbprint>`: the deployment's root of trust (docs/adr/0010). */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { acceptGenesis, declareGenesis, type TrustOutcome } from '../../commands/trust';
import { Thumbprint } from '../../domain/ids';
import { EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { emit, instanceDeps, usage, withSession } from '../session';

const outcomeText = (o: TrustOutcome, declared: boolean): string => {
  const lines = [
    declared
      ? `this instance is the root of trust of deployment ${o.deploymentId}: genesis ${o.genesis}${o.recorded.length ? ` (${o.recorded.join(', ')} recorded)` : ' (already)'}.`
      : `genesis ${o.genesis} of deployment ${o.deploymentId} pinned in this instance's keystore${o.recorded.length ? ` (${o.recorded.join(', ')} recorded)` : ' (already)'}.`,
    `this instance's thumbprint (what a join of it confirms): ${o.signingThumbprint}`,
  ];
  if (declared)
    lines.push(`Next: give ${o.genesis} to the operator of every other member, out of band; each runs keyledger trust --expect-genesis ${o.genesis}.`);
  else if (!o.certified)
    lines.push(
      `Next: its copy is not certified yet. On a member: keyledger join ${o.installationId} --expect-thumbprint ${o.signingThumbprint} --rewrap; ` +
        'then keyledger start here.',
    );
  else lines.push('Next: keyledger start.');
  return `${lines.join('\n')}\n`;
};

const trustCommand = async (io: Io, g: GlobalOptions, o: { declareGenesis?: boolean; expectGenesis?: string }): Promise<number> =>
  withSession(io, g, async (s) => {
    if ((o.declareGenesis === true) === (o.expectGenesis !== undefined))
      return usage('give exactly one of --declare-genesis (on a member that holds the key) or --expect-genesis <thumbprint> (on every other member)');
    if (o.expectGenesis !== undefined && !Thumbprint.is(o.expectGenesis))
      return usage('--expect-genesis takes the genesis thumbprint (43 base64url characters) as keyledger trust --declare-genesis printed it');
    const deps = await instanceDeps(s, 'trust');
    const r = o.expectGenesis === undefined ? await declareGenesis(deps, s.config.instance) : await acceptGenesis(deps, s.config.instance, o.expectGenesis);
    if (E.isLeft(r)) return r;
    s.log.write({ command: 'trust', installationId: r.right.installationId, genesis: r.right.genesis, recorded: r.right.recorded });
    emit(io, g, r.right, outcomeText(r.right, o.expectGenesis === undefined));
    return E.right(EXIT.ok);
  });

export const registerTrust = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('trust')
    .option(
      '--declare-genesis',
      'on a member that holds the key: make it the root of trust (a deployment from before signed key events, or none certified left)',
    )
    .option('--expect-genesis <thumbprint>', 'on every other member: pin the genesis whose thumbprint its operator gave you out of band')
    .description(
      "the deployment's root of trust: every key event is signed, and a copy is trusted only if it is certified by members back to the genesis " +
        'each instance pinned. Also gives a keystore from before signatures its signing key.',
    )
    .action(async (o: { declareGenesis?: boolean; expectGenesis?: string }) => done(await trustCommand(io, globals(), o)));
};
