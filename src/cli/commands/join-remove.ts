/** `keyledger join` (rskeymgmt -j) and `keyledger remove` (rskeymgmt -r): scale-out membership. */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { type JoinCandidate, joinInstance, removeInstance } from '../../commands/membership';
import { recreateKey } from '../../commands/recreate';
import type { InstallationId } from '../../domain/ids';
import { instanceByName } from '../../projections/instance-by-name';
import { type CliError, EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { countedProgress } from '../progress';
import { emit, instanceDeps, instanceSigner, loadView, parseInstallationId, secretDeps, usage, withSession } from '../session';

export interface JoinTarget {
  readonly id?: string;
  readonly machine?: string;
  readonly instance?: string;
  readonly rewrap?: boolean;
  /** The newcomer's thumbprint, as its `keyledger status` prints it: the key must be that one. */
  readonly expectThumbprint?: string;
}

/** SSH-style: show the key, ask for a literal yes. Without a terminal nothing is asked (and nothing wrapped). */
const confirmOnTerminal =
  (io: Io) =>
  async (c: JoinCandidate): Promise<boolean> => {
    if (!io.prompt) return false;
    io.stderr(
      `The key of installation ${c.installationId} (${c.instanceName} on ${c.machineName}) has the thumbprint\n  ${c.thumbprint}\n` +
        'Compare it with the thumbprint `keyledger status` prints on that machine.\n',
    );
    const answer = await io.prompt('Wrap the deployment key for this key (yes/no)? ');
    return answer.trim().toLowerCase() === 'yes';
  };

export const joinCommand = async (io: Io, g: GlobalOptions, target: JoinTarget): Promise<number> =>
  withSession(io, g, async (s) => {
    let newcomer: E.Either<CliError, InstallationId>;
    if (target.id !== undefined) newcomer = parseInstallationId(target.id);
    else if (target.machine === undefined || target.instance === undefined)
      newcomer = usage('name the instance to join: keyledger join <installationId>, or --machine M --instance N');
    else {
      const { machine, instance } = target;
      const view = await loadView(io, s, g);
      newcomer = E.isLeft(view) ? view : instanceByName(view.right, machine, instance);
    }
    if (E.isLeft(newcomer)) return newcomer;
    const r = await joinInstance(await instanceDeps(s, 'join'), s.config.instance, newcomer.right, {
      rewrap: target.rewrap === true,
      ...(target.expectThumbprint !== undefined ? { expectThumbprint: target.expectThumbprint } : {}),
      confirm: confirmOnTerminal(io),
    });
    if (E.isLeft(r)) {
      s.log.write({ command: 'join', sponsor: s.config.instance.installationId, newcomer: newcomer.right, outcome: 'error', error: r.left._tag });
      return r;
    }
    const o = r.right;
    s.log.write({ command: 'join', sponsor: o.sponsor, newcomer: o.newcomer, keyVersion: o.keyVersion, recorded: o.recorded });
    const text = o.alreadyJoined
      ? `installation ${o.newcomer} already holds symmetric key version ${o.keyVersion}; nothing to do (pass --rewrap if its copy is unusable)\n`
      : `joined: symmetric key version ${o.keyVersion} wrapped for ${o.newcomer} by ${o.sponsor} (SymmetricKeyWrapped recorded).\n` +
        `Next: run keyledger start on ${o.newcomer} to activate it.\n`;
    emit(io, g, o, text);
    return E.right(EXIT.ok);
  });

export const removeCommand = async (io: Io, g: GlobalOptions, id: string, force: boolean, rotate = false): Promise<number> =>
  withSession(io, g, async (s) => {
    const target = parseInstallationId(id);
    if (E.isLeft(target)) return target;
    if (rotate && target.right.toLowerCase() === s.config.instance.installationId.toLowerCase())
      return usage('remove --rotate re-creates the key on this instance, so it cannot remove this instance: run it on another member');
    // With --rotate, the content store too: the re-creation re-encrypts every secret (one session, one correlation ID).
    const secrets = rotate ? await secretDeps(s, 'remove') : undefined;
    if (secrets && E.isLeft(secrets)) return secrets;
    const deps = secrets ? secrets.right : await instanceDeps(s, 'remove');
    const r = await removeInstance(deps, s.config.instance.deploymentId, target.right, force, await instanceSigner(s, deps));
    if (E.isLeft(r)) return r;
    const o = r.right;
    s.log.write({ command: 'remove', installationId: o.installationId, lastMember: o.lastMember, forced: force, recorded: o.recorded });
    const last = o.lastMember
      ? 'It was the last member holding the key: a new instance can only get it from a key backup (keyledger restore -f FILE on it).\n'
      : '';
    const text =
      o.recorded.length === 0
        ? `installation ${o.installationId} was already removed; nothing to do\n`
        : `removed: installation ${o.installationId}'s registration and wrapped copy are revoked (InstanceRemoved recorded); its next start is refused.\n${last}`;
    if (!secrets) {
      emit(io, g, o, text);
      return E.right(EXIT.ok);
    }
    const bar = countedProgress(io, !g.json, 're-encrypting secrets');
    const re = await recreateKey(secrets.right, s.config.instance, { progress: bar.update });
    bar.stop();
    if (E.isLeft(re)) {
      s.log.write({ command: 'remove --rotate', installationId: o.installationId, outcome: 'error', error: re.left._tag });
      if (!g.json) io.stdout(`${text}The key was NOT re-created (the error follows): run keyledger recreate to do it.\n`);
      return re;
    }
    s.log.write({
      command: 'remove --rotate',
      installationId: o.installationId,
      keyVersion: re.right.keyVersion,
      recorded: [...o.recorded, ...re.right.recorded],
    });
    emit(
      io,
      g,
      { ...o, recreated: re.right, recorded: [...o.recorded, ...re.right.recorded] },
      `${text}re-created: symmetric key version ${re.right.keyVersion} wrapped for ${re.right.wrappedFor.length} active member(s); ` +
        `${re.right.reencrypted} secret(s) re-encrypted; key version ${re.right.retiredVersion} retired. The removed member's copies open nothing current.\n`,
    );
    return E.right(EXIT.ok);
  });

export const registerJoinRemove = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('join')
    .argument('[installationId]', 'the instance waiting to join (or pick it with --machine/--instance)')
    .option('-m, --machine <name>', "the waiting instance's machine name")
    .option('-n, --instance <name>', "the waiting instance's instance name")
    .option('--expect-thumbprint <thumbprint>', "the newcomer's key thumbprint as `keyledger status` prints it on the newcomer (else asked on a terminal)")
    .option('--rewrap', 'wrap the key again even though a copy for the instance is recorded (its copy cannot be unwrapped, or holds another key)')
    .description(
      "run on an activated member (the sponsor): unwrap the symmetric key with this member's private key, " +
        "re-wrap it for the waiting instance's public key, record it (rskeymgmt -j). The waiting instance activates on its next start",
    )
    .action(async (id: string | undefined, o: { machine?: string; instance?: string; rewrap?: boolean; expectThumbprint?: string }) =>
      done(
        await joinCommand(io, globals(), {
          ...(id !== undefined ? { id } : {}),
          ...(o.machine !== undefined ? { machine: o.machine } : {}),
          ...(o.instance !== undefined ? { instance: o.instance } : {}),
          rewrap: o.rewrap === true,
          ...(o.expectThumbprint !== undefined ? { expectThumbprint: o.expectThumbprint } : {}),
        }),
      ),
    );

  program
    .command('remove')
    .argument('<installationId>', 'the member to remove')
    .option('--force', 'remove it even if it is the last member holding the key (afterwards only a backup restores the key)')
    .option('--rotate', 'then re-create the key (keyledger recreate): the removed member may have kept the key; every secret is re-encrypted')
    .description('remove an instance from the scale-out: its registration and wrapped copy are revoked and its next start is refused (rskeymgmt -r)')
    .addHelpText(
      'after',
      '\nA removed member may have kept the key it unwrapped: with --rotate, this member then re-creates the key and re-encrypts\n' +
        'every secret (one operation, one correlation ID), so its copies open nothing current. Without it, run keyledger recreate.\n' +
        '  keyledger remove <installationID> --rotate\n',
    )
    .action(async (id: string, o: { force?: boolean; rotate?: boolean }) => done(await removeCommand(io, globals(), id, o.force === true, o.rotate === true)));
};
