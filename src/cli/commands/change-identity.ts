/** `keyledger change-identity <account>`: a new key pair under a new service identity, the key re-wrapped for it; resumable. */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { changeServiceIdentity } from '../../commands/identity';
import { NonEmptyString } from '../../domain/ids';
import { EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { outcomeText } from '../render';
import { nameProblem, shown } from '../../domain/text';
import { emit, instanceDeps, usage, withSession } from '../session';

/** The config follows the ledger: its serviceIdentity is rewritten (temp file + rename). */
export const rewriteIdentity = (file: string, identity: string): void => {
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (raw['serviceIdentity'] === identity) return;
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify({ ...raw, serviceIdentity: identity }, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
};

const changeIdentityCommand = async (io: Io, g: GlobalOptions, identity: string): Promise<number> =>
  withSession(io, g, async (s) => {
    const problem = nameProblem(identity);
    if (problem !== undefined || !NonEmptyString.is(identity))
      return usage(`the new service identity ${problem ?? 'is not a name'}: give 1–128 printable characters`);
    // Key size: the recorded one, or a larger one from the config — never smaller.
    const r = await changeServiceIdentity(await instanceDeps(s, 'change-identity'), s.config.instance, identity);
    if (E.isLeft(r)) return r;
    const o = r.right;
    rewriteIdentity(s.config.file, identity);
    s.log.write({
      command: 'change-identity',
      installationId: s.config.instance.installationId,
      from: o.previousIdentity,
      to: o.serviceIdentity,
      thumbprint: o.thumbprint,
      recorded: o.recorded,
    });
    const done = o.recorded.length ? ` (${o.recorded.join(', ')} recorded)` : ' (already done)';
    emit(
      io,
      g,
      o,
      `service identity ${shown(o.previousIdentity)} → ${shown(o.serviceIdentity)}: new key ${o.thumbprint}${done}; config updated.\n${outcomeText(o.activation, 'start')}`,
    );
    return E.right(o.activation.state === 'activated' ? EXIT.ok : EXIT.notActivated);
  });

export const registerChangeIdentity = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('change-identity')
    .argument('<serviceIdentity>', 'the account the instance now runs as')
    .description(
      "move this instance to a new service identity: a new key pair under it, the symmetric key re-wrapped for it from the instance's own copy, the config file updated; resumable",
    )
    .action(async (identity: string) => done(await changeIdentityCommand(io, globals(), identity)));
};
