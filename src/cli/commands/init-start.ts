/**
 * `keyledger init` (the five steps, resumable; `--rejoin`, `--new-installation-id`)
 * and `keyledger start` (the start check, recorded).
 */
import * as fs from 'node:fs';
import { type Command, Option } from 'commander';
import * as E from 'fp-ts/Either';
import { initInstance, startInstance } from '../../commands/instance';
import type { KeySize } from '../../domain/events';
import { renewInstallationId } from '../../infra/config';
import { describeError, EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { outcomeRemedy, outcomeText, remedyJson } from '../render';
import { emit, fail, instanceDeps, type Session, withSession, witnessDeps } from '../session';
import { startWitness } from '../../commands/witness';
import type { LoadedConfig } from '../../infra/config';

interface RunOptions {
  readonly keySize?: KeySize;
  readonly rejoin?: boolean;
  readonly newId?: boolean;
  readonly createLedger?: boolean;
}

type Ran = Awaited<ReturnType<typeof initInstance>>;

/**
 * After an init that activated: this member signs the tree head (as a start's witness co-signs it). The init stands
 * whatever happens here: a head it could not sign (a store user without read rights to the global order, a store gone
 * away) is a warning naming why, and the next `start` witnesses the tree in full (and refuses on a fork).
 */
const cosignAfterInit = async (io: Io, s: Session, outcome: Extract<Ran, { _tag: 'Right' }>['right']): Promise<Ran> => {
  // Made again: those of the run were made before its keystore (the signing key, the local state's MAC) existed.
  const w = await witnessDeps(s, await instanceDeps(s, 'init'));
  const signed = E.isLeft(w) ? w : w.right ? await startWitness(w.right).cosign() : E.right(undefined);
  if (E.isLeft(signed)) {
    s.log.write({ command: 'init', installationId: outcome.installationId, warning: 'tree head not signed', error: signed.left._tag });
    io.stderr(
      `keyledger: warning: initialized, but the ledger's tree head was not signed: ${describeError(signed.left)} (keyledger checkpoint signs it later)\n`,
    );
  }
  return E.right(outcome);
};

export const runInstanceCommand = async (io: Io, g: GlobalOptions, verb: 'init' | 'start', options: RunOptions = {}): Promise<number> => {
  let renewed: { previous: string; installationId: string } | undefined;
  if (options.newId) {
    // A new installation ID and keystore in the config file, then a normal init under them.
    const r = renewInstallationId(g.config);
    if (E.isLeft(r)) return fail(io, r.left);
    renewed = r.right;
    io.stderr(`keyledger: the config now names installation ${renewed.installationId} (was ${renewed.previous}) with a keystore of its own\n`);
  }
  // Only init may create the ledger: for a deployment's first instance (this instance has no keystore yet), or when
  // asked to (--create-ledger). An instance initialized before never meets a missing or emptied ledger as a new one.
  const hasKeystore = (c: LoadedConfig): boolean => {
    try {
      return fs.statSync(c.instance.keystorePath).isFile();
    } catch {
      return false;
    }
  };
  const mayCreateLedger = (c: LoadedConfig): boolean => verb === 'init' && (options.createLedger === true || !hasKeystore(c));
  return withSession(
    io,
    g,
    async (s) => {
      const run = verb === 'init' ? initInstance : startInstance;
      const deps = await instanceDeps(s, verb, options.keySize);
      // On start, a member is a witness of the ledger's tree (docs/adr/0018): it checks, then co-signs, the tree head.
      const witnessed = verb === 'start' ? await witnessDeps(s, deps) : E.right(undefined);
      if (E.isLeft(witnessed)) return witnessed;
      const witness = witnessed.right ? startWitness(witnessed.right) : undefined;
      const ran = await run({ ...deps, rejoin: options.rejoin === true, ...(witness ? { witness } : {}) }, s.config.instance);
      // An init that activated signs the tree head it ended on as well (its keystore, and so its signing key, exist only
      // now): the ledger is anchored from its first activation, not from the first start (docs/adr/0018).
      const r = verb === 'init' && E.isRight(ran) && ran.right.state === 'activated' ? await cosignAfterInit(io, s, ran.right) : ran;
      if (E.isLeft(r)) {
        s.log.write({ command: verb, installationId: s.config.instance.installationId, outcome: 'error', error: r.left._tag, message: describeError(r.left) });
        return r;
      }
      const { loads: _loads, ...o } = r.right;
      s.log.write({
        command: verb,
        installationId: o.installationId,
        outcome: o.state,
        recorded: o.recorded,
        reason: o.reason?._tag,
        keyVersion: o.keyVersion,
        thumbprint: o.thumbprint,
      });
      const remedy = outcomeRemedy(o);
      const json = { ...o, ...(renewed ? { previousInstallationId: renewed.previous } : {}), ...(remedy ? { remedy: remedyJson(remedy) } : {}) };
      emit(io, g, json, outcomeText(o, verb));
      return E.right(o.state === 'activated' ? EXIT.ok : EXIT.notActivated);
    },
    { mayCreateLedger },
  );
};

export const registerInitStart = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('init')
    .description(
      'initialize this instance: config read, key pair issued, public key stored, symmetric key stored wrapped, activated — ' +
        'one event each; resumes after a crash, does nothing when done',
    )
    .addOption(new Option('--key-size <bits>', 'RSA key size for a new key pair').choices(['2048', '3072', '4096']))
    .option('--rejoin', 'register this installation again after it was removed from the deployment (then join it from a member)')
    .option(
      '--new-installation-id',
      'first give this instance a new installation ID and a keystore of its own in its config file ' +
        '(when its key pair is lost, or another machine presents its ID); prints the new ID for the join',
    )
    .option(
      '--create-ledger',
      'create the ledger even though this instance was initialized before (a new, empty ledger: only when the old one is gone for good)',
    )
    .action(async (o: { keySize?: string; rejoin?: boolean; newInstallationId?: boolean; createLedger?: boolean }) => {
      if (o.rejoin && o.newInstallationId)
        return done(fail(io, { _tag: 'UsageError', message: '--rejoin and --new-installation-id exclude each other: rejoin keeps the installation ID' }));
      const keySize = o.keySize ? (Number(o.keySize) as KeySize) : undefined;
      return done(
        await runInstanceCommand(io, globals(), 'init', {
          ...(keySize ? { keySize } : {}),
          rejoin: o.rejoin === true,
          newId: o.newInstallationId === true,
          createLedger: o.createLedger === true,
        }),
      );
    });

  program
    .command('start')
    .description(
      "the start check: prove the installation ID and key pair match the deployment by unwrapping this instance's copy of the key; the outcome is recorded",
    )
    .action(async () => done(await runInstanceCommand(io, globals(), 'start')));
};
