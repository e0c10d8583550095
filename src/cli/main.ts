#!/usr/bin/env node
/**
 * The `keyledger` command line: the composition root, where the config is
 * read, the adapters are chosen and the commands are run.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import * as E from 'fp-ts/Either';
import { initInstance, type InstanceDeps, startInstance } from '../commands/instance';
import { verifyLedger } from '../commands/verify';
import type { CommandContext } from '../domain/envelope';
import type { KeySize } from '../domain/events';
import { InstallationId, NonEmptyString } from '../domain/ids';
import { changeServiceIdentity } from '../commands/identity';
import { joinInstance, removeInstance } from '../commands/membership';
import { activationProjection, type ActivationView, type InstanceStatus, instanceStatus, listInstances } from '../projections/activation';
import { findingsFor } from '../projections/findings';
import { catchUp, runLive } from '../projections/runner';
import type { EventStore } from '../ports/event-store';
import { type LoadedConfig, loadConfig, newConfig, renewInstallationId } from '../infra/config';
import { fileKeystore } from '../infra/file-keystore';
import { joseCrypto } from '../infra/jose-crypto';
import { fileOpLog, type OpLog } from '../infra/oplog';
import { openStore } from '../infra/open-store';
import { pauseFromEnv } from '../infra/pause';
import { openSqliteCheckpoints } from '../infra/sqlite-checkpoints';
import { sha256Hex } from '../infra/sha256';
import { type CliError, describeError, EXIT, exitCodeOf } from './errors';
import { listText, membershipOf, outcomeRemedy, outcomeText, remedyJson, statusJson, statusText } from './render';
import { progressReporter } from './progress';

export interface Io {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly isTTY: boolean;
}

interface GlobalOptions {
  readonly config: string;
  readonly store?: string;
  readonly actor?: string;
  readonly correlationId?: string;
  readonly json?: boolean;
}

// ─── Wiring ───────────────────────────────────────────────────────────────

interface Session {
  readonly config: LoadedConfig;
  readonly store: EventStore;
  readonly log: OpLog;
  readonly ctx: (command: string) => CommandContext;
  /** The host name recorded with start-check outcomes ($KEYLEDGER_HOST, default: this host's name). */
  readonly host: string;
  readonly env: NodeJS.ProcessEnv;
}

const defaultActor = (): string => {
  try {
    return `${os.userInfo().username}@${os.hostname()}`;
  } catch {
    return `uid-${process.getuid?.() ?? 'unknown'}@${os.hostname()}`;
  }
};

/** Prints the error as one line on stderr and gives its exit code. */
const fail = (io: Io, e: CliError): number => {
  io.stderr(`keyledger: ${describeError(e)}\n`);
  return exitCodeOf(e);
};

const usage = (message: string): E.Either<CliError, never> => E.left({ _tag: 'UsageError', message });

const openSession = async (io: Io, g: GlobalOptions): Promise<E.Either<CliError, Session>> => {
  const config = loadConfig(g.config);
  if (E.isLeft(config)) return config;
  const connection = g.store ?? io.env['KEYLEDGER_STORE'] ?? config.right.storeConnection;
  const store = await openStore(connection, path.dirname(config.right.file));
  if (E.isLeft(store)) return store;
  const actor = g.actor ?? io.env['KEYLEDGER_ACTOR'] ?? defaultActor();
  const correlationId = g.correlationId ?? randomUUID();
  return E.right({
    config: config.right,
    store: store.right,
    log: fileOpLog(config.right.stateDir),
    ctx: (command) => ({ actor, command, correlationId, causationId: correlationId, now: () => new Date(), newId: randomUUID }),
    host: io.env['KEYLEDGER_HOST'] ?? os.hostname(),
    env: io.env,
  });
};

/** Opens the session, runs `f`, closes the store; a failure anywhere is one line on stderr and its exit code. */
const withSession = async (io: Io, g: GlobalOptions, f: (s: Session) => Promise<E.Either<CliError, number>>): Promise<number> => {
  const s = await openSession(io, g);
  if (E.isLeft(s)) return fail(io, s.left);
  try {
    const r = await f(s.right);
    return E.isLeft(r) ? fail(io, r.left) : r.right;
  } finally {
    await s.right.store.close();
  }
};

const deps = (s: Session, command: string, keySize?: KeySize): InstanceDeps => {
  const pause = pauseFromEnv(s.env);
  return {
    store: s.store,
    crypto: joseCrypto(),
    keystore: fileKeystore(s.config.instance.keystorePath),
    ctx: s.ctx(command),
    digest: sha256Hex,
    host: s.host,
    keySize: keySize ?? s.config.keySize,
    ...(pause ? { pause } : {}),
  };
};

const loadView = async (io: Io, s: Session, g: GlobalOptions): Promise<E.Either<CliError, ActivationView>> => {
  const checkpoints = openSqliteCheckpoints(path.join(s.config.stateDir, 'projections.db'));
  if (E.isLeft(checkpoints)) return checkpoints;
  const progress = progressReporter(io, !g.json, 'replaying ledger');
  try {
    const r = await catchUp(s.store, activationProjection, checkpoints.right, { digest: sha256Hex, onProgress: progress.update })();
    progress.stop();
    if (E.isLeft(r)) return r;
    if (r.right.rebuilt?.reason === 'ledger-replaced')
      io.stderr(`keyledger: the local view no longer matches the ledger (it was replaced or restored from a backup): rebuilt it from the ledger's ${r.right.processed} events\n`);
    return E.right(r.right.state);
  } finally {
    checkpoints.right.close();
  }
};

const emit = (io: Io, g: GlobalOptions, json: unknown, text: string): void => {
  io.stdout(g.json ? JSON.stringify(json, null, 2) + '\n' : text);
};

const runInstanceCommand = async (io: Io, g: GlobalOptions, verb: 'init' | 'start', keySize: KeySize | undefined, options: { rejoin?: boolean; newId?: boolean } = {}): Promise<number> => {
  let renewed: { previous: string; installationId: string } | undefined;
  if (options.newId) {
    // A new installation ID and keystore in the config file, then a normal init under them.
    const r = renewInstallationId(g.config);
    if (E.isLeft(r)) return fail(io, r.left);
    renewed = r.right;
    io.stderr(`keyledger: the config now names installation ${renewed.installationId} (was ${renewed.previous}) with a keystore of its own\n`);
  }
  return withSession(io, g, async (s) => {
    const run = verb === 'init' ? initInstance : startInstance;
    const r = await run({ ...deps(s, verb, keySize), rejoin: options.rejoin === true }, s.config.instance);
    if (E.isLeft(r)) {
      s.log.write({ command: verb, installationId: s.config.instance.installationId, outcome: 'error', error: r.left._tag, message: describeError(r.left) });
      return r;
    }
    const { loads: _loads, ...o } = r.right;
    s.log.write({ command: verb, installationId: o.installationId, outcome: o.state, recorded: o.recorded, reason: o.reason?.kind, keyVersion: o.keyVersion, thumbprint: o.thumbprint });
    const remedy = outcomeRemedy(o);
    emit(io, g, { ...o, ...(renewed ? { previousInstallationId: renewed.previous } : {}), ...(remedy ? { remedy: remedyJson(remedy) } : {}) }, outcomeText(o, verb));
    return E.right(o.state === 'activated' ? EXIT.ok : EXIT.notActivated);
  });
};

// ─── The program ──────────────────────────────────────────────────────────

const HELP_FOOTER = `
Exit codes: 0 ok / activated, 1 not activated (RSReportServerNotActivated),
            2 bad input (usage, config), 3 failure (store, keystore, unreadable ledger),
            4 verify found tampering, 5 refused by the ledger's rules (e.g. removing
            the last member without --force).

Quick start:
  keyledger config new          write ./keyledger.config.json for this machine
  keyledger init                run the five initialization steps (resumable)
  keyledger status              activated? if not, exactly why and what to do

Scale-out (each instance has its own config and keystore; they share the store):
  keyledger -c node2.json init            node 2: steps 1-3, then waits to join
  keyledger -c node1.json join <id>       on an activated member: wrap the key for node 2
  keyledger -c node2.json start           node 2 proves its copy and activates
  keyledger remove <id> [--force]         revoke a member's copy (rskeymgmt -r)
  keyledger change-identity <account>     new key pair under a new service identity
  keyledger rskeymgmt -l | -j -m M -n N | -r <id>   the SSRS flags
`;

export const buildProgram = (io: Io, setExit: (code: number) => void): Command => {
  const program = new Command('keyledger')
    .description('An event-sourced ledger for the encryption keys of a fleet of service instances (SSRS-style initialization and scale-out).')
    .version('0.1.0')
    .addOption(new Option('-c, --config <file>', 'the instance config file (RSReportServer.config analogue)').env('KEYLEDGER_CONFIG').default('keyledger.config.json'))
    .option('--store <connection>', 'override the config\'s store: sqlite:PATH | esdb://host:port?tls=false | esdb+discover://…')
    .option('--actor <name>', 'who is acting, recorded on every event (default: $KEYLEDGER_ACTOR or user@host)')
    .option('--correlation-id <id>', 'tie the events of this run to a change ticket or outer operation')
    .option('--json', 'machine-readable output on stdout')
    .addHelpText('after', HELP_FOOTER)
    .showHelpAfterError('(run keyledger --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  const done = (code: number): void => setExit(code);

  const config = program.command('config').description('create or check an instance config file');
  config
    .command('new')
    .description('write a new config: fresh installation ID, this machine, the current user as service identity')
    .option('--instance <name>', 'instance name', 'MSSQLSERVER')
    .option('--machine <name>', 'machine name (default: this host name)')
    .option('--identity <account>', 'service identity the instance runs as (default: current user)')
    .option('--deployment <id>', 'deployment to belong to', 'default')
    .option('--ledger <connection>', 'store connection string', 'sqlite:./.keyledger/ledger.db')
    .addOption(new Option('--key-size <bits>', 'RSA key size').choices(['2048', '3072', '4096']))
    .option('--if-missing', 'do nothing (exit 0) when the file already exists')
    .option('--force', 'overwrite an existing file (its instance becomes unreachable: prefer a new path)')
    .action((o: { instance: string; machine?: string; identity?: string; deployment: string; ledger: string; keySize?: string; ifMissing?: boolean; force?: boolean }) => {
      const file = path.resolve(globals().config);
      if (fs.existsSync(file) && !o.force) {
        if (o.ifMissing) {
          emit(io, globals(), { file, created: false }, `config ${file} already exists; keeping it\n`);
          return done(EXIT.ok);
        }
        return done(fail(io, { _tag: 'UsageError', message: `config ${file} already exists: pass --if-missing to keep it, or choose another path with --config` }));
      }
      const cfg = newConfig({
        instanceName: o.instance,
        ...(o.machine !== undefined ? { machineName: o.machine } : {}),
        ...(o.identity !== undefined ? { serviceIdentity: o.identity } : {}),
        deployment: o.deployment,
        store: o.ledger,
        ...(o.keySize !== undefined ? { keySize: Number(o.keySize) } : {}),
      });
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
      const check = loadConfig(file);
      if (E.isLeft(check)) return done(fail(io, check.left));
      emit(io, globals(), { file, created: true, installationId: cfg['installationId'] }, `wrote ${file} (installation ${String(cfg['installationId'])})\n`);
      return done(EXIT.ok);
    });
  config
    .command('check')
    .description('validate the config file and show what it resolves to (no secrets)')
    .action(() => {
      const c = loadConfig(globals().config);
      if (E.isLeft(c)) return done(fail(io, c.left));
      const shown = { file: c.right.file, ...c.right.instance, stateDir: c.right.stateDir, keySize: c.right.keySize };
      emit(io, globals(), shown, Object.entries(shown).map(([k, v]) => `${k.padEnd(16)}${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n') + '\n');
      return done(EXIT.ok);
    });

  program
    .command('init')
    .description('initialize this instance: config read, key pair issued, public key stored, symmetric key stored wrapped, activated — one event each; resumes after a crash, does nothing when done')
    .addOption(new Option('--key-size <bits>', 'RSA key size for a new key pair').choices(['2048', '3072', '4096']))
    .option('--rejoin', 'register this installation again after it was removed from the deployment (then join it from a member)')
    .option(
      '--new-installation-id',
      'first give this instance a new installation ID and a keystore of its own in its config file (when its key pair is lost, or another machine presents its ID); prints the new ID for the join',
    )
    .action(async (o: { keySize?: string; rejoin?: boolean; newInstallationId?: boolean }) => {
      if (o.rejoin && o.newInstallationId) return done(fail(io, { _tag: 'UsageError', message: '--rejoin and --new-installation-id exclude each other: rejoin keeps the installation ID' }));
      return done(await runInstanceCommand(io, globals(), 'init', o.keySize ? (Number(o.keySize) as KeySize) : undefined, { rejoin: o.rejoin === true, newId: o.newInstallationId === true }));
    });

  program
    .command('start')
    .description('the start check: prove the installation ID and key pair match the deployment by unwrapping this instance\'s copy of the key; the outcome is recorded')
    .action(async () => done(await runInstanceCommand(io, globals(), 'start', undefined)));

  program
    .command('status')
    .argument('[installationId]', 'another instance of the ledger (default: this config\'s)')
    .description('activation state from the ledger; when not activated, prints RSReportServerNotActivated with the reason and remedy and exits 1')
    .action(async (id: string | undefined) => {
      const g = globals();
      const requested = id === undefined ? E.right(undefined) : parseInstallationId(id);
      if (E.isLeft(requested)) return done(fail(io, requested.left));
      const code = await withSession(io, g, async (s) => {
        const view = await loadView(io, s, g);
        if (E.isLeft(view)) return view;
        const target = requested.right ?? s.config.instance.installationId;
        const st = instanceStatus(view.right, target);
        const findings = findingsFor(view.right, target);
        emit(io, g, statusJson(st, findings), statusText(st, findings));
        return E.right(st.state === 'activated' ? EXIT.ok : EXIT.notActivated);
      });
      return done(code);
    });

  program
    .command('list')
    .description('membership: every instance with installation ID, machine, instance name, joined / waiting-to-join / disabled / removed, key version held, thumbprint (rskeymgmt -l)')
    .action(async () => done(await listCommand(io, globals())));

  program
    .command('watch')
    .description('follow the ledger live: print every change of an instance\'s state as it is recorded (one JSON object per line with --json); stops on Ctrl-C, or after --count changes')
    .option('--count <n>', 'stop after n changes', (v) => Number.parseInt(v, 10))
    .action(async (o: { count?: number }) => done(await watchCommand(io, globals(), o.count)));

  program
    .command('join')
    .argument('[installationId]', 'the instance waiting to join (or pick it with --machine/--instance)')
    .option('-m, --machine <name>', 'the waiting instance\'s machine name')
    .option('-n, --instance <name>', 'the waiting instance\'s instance name')
    .option('--rewrap', 'wrap the key again even though a copy for the instance is recorded (its copy cannot be unwrapped, or holds another key)')
    .description('run on an activated member (the sponsor): unwrap the symmetric key with this member\'s private key, re-wrap it for the waiting instance\'s public key, record it (rskeymgmt -j). The waiting instance activates on its next start')
    .action(async (id: string | undefined, o: { machine?: string; instance?: string; rewrap?: boolean }) => done(await joinCommand(io, globals(), id, o.machine, o.instance, o.rewrap === true)));

  program
    .command('remove')
    .argument('<installationId>', 'the member to remove')
    .option('--force', 'remove it even if it is the last member holding the key (afterwards only a backup restores the key)')
    .description('remove an instance from the scale-out: its registration and wrapped copy are revoked and its next start is refused (rskeymgmt -r)')
    .action(async (id: string, o: { force?: boolean }) => done(await removeCommand(io, globals(), id, o.force === true)));

  program
    .command('change-identity')
    .argument('<serviceIdentity>', 'the account the instance now runs as')
    .description('move this instance to a new service identity: a new key pair under it, the symmetric key re-wrapped for it from the instance\'s own copy, the config file updated; resumable')
    .action(async (identity: string) => done(await changeIdentityCommand(io, globals(), identity)));

  program
    .command('rskeymgmt')
    .description('the SSRS rskeymgmt flags on top of keyledger: -l list, -j join (-m machine -n instance), -r <installationID> remove, -i local instance name')
    .option('-l', 'list the instances of the deployment')
    .option('-j', 'join a waiting instance (name it with -m and -n)')
    .option('-r <installationID>', 'remove an instance')
    .option('-m <machine>', 'remote machine (with -j)')
    .option('-n <instance>', 'remote instance (with -j)')
    .option('-i <instance>', 'local instance name (must match the config)')
    .option('-f <file>', 'backup file (with -e / -a: not available yet)')
    .option('-p <password>', 'backup password (with -e / -a: not available yet)')
    .option('-e', 'extract the key to a backup file (not available yet)')
    .option('-a', 'apply a backup (not available yet)')
    .option('-d', 'delete keys and encrypted content (not available yet)')
    .option('-s', 're-create the key (not available yet)')
    .option('--force', 'with -r: allow removing the last member')
    .action(async (o: Record<string, string | boolean | undefined>) => done(await rskeymgmt(io, globals(), o)));

  program
    .command('verify')
    .description('check the integrity of the whole ledger: every event decodes, revisions are contiguous, every hash matches and links to the one before; names the stream and revision of each problem (exit 4 when any)')
    .action(async () => {
      const g = globals();
      const code = await withSession(io, g, async (s) => {
        const progress = progressReporter(io, !g.json, 'verifying ledger');
        const r = await verifyLedger(s.store, { onProgress: progress.update })();
        progress.stop();
        if (E.isLeft(r)) return r;
        const rep = r.right;
        s.log.write({ command: 'verify', events: rep.events, streams: rep.streams, problems: rep.problems.length });
        const text =
          rep.problems.length === 0
            ? `ledger intact: ${rep.events} events in ${rep.streams} streams, every hash verified\n`
            : rep.problems.map((p) => `TAMPERED ${p.stream}@${p.revision} (${p.eventType}): ${p.problem}`).join('\n') +
              `\n${rep.problems.length} problem(s) in ${rep.events} events. Restore the store from a backup taken before the first problem.\n`;
        emit(io, g, rep, text);
        return E.right(rep.problems.length === 0 ? EXIT.ok : EXIT.tampered);
      });
      return done(code);
    });

  return program;
};

// ─── watch ────────────────────────────────────────────────────────────────

const watchCommand = async (io: Io, g: GlobalOptions, count: number | undefined): Promise<number> => {
  if (count !== undefined && (!Number.isInteger(count) || count < 1)) return fail(io, { _tag: 'UsageError', message: '--count takes a whole number of at least 1' });
  return withSession(io, g, async (s) => {
    const checkpoints = openSqliteCheckpoints(path.join(s.config.stateDir, 'projections.db'));
    if (E.isLeft(checkpoints)) return checkpoints;
    const seen = new Map<string, string>();
    let changes = 0;
    let seeded = false;
    const describe = (st: InstanceStatus): string => (st.state === 'disabled' ? `disabled (${st.reason.kind})` : st.state);
    const result = await new Promise<CliError | undefined>((resolve) => {
      const sub = runLive(s.store, activationProjection, checkpoints.right, { digest: sha256Hex }).subscribe({
        next: (v) => {
          const first = !seeded; // the first view is the current picture: remembered, not reported
          seeded = true;
          if (first) io.stderr(`watching ${listInstances(v.state).length} instance(s) from position ${v.position.commit} (Ctrl-C to stop)\n`);
          for (const st of listInstances(v.state)) {
            if (st.state === 'not-initialized') continue;
            const id = st.view.installationId;
            const now = describe(st);
            const before = seen.get(id);
            seen.set(id, now);
            if (first || before === now) continue;
            changes++;
            const line = { installationId: id, machineName: st.view.machineName, instanceName: st.view.instanceName, from: before ?? null, to: now, at: v.position.commit.toString() };
            io.stdout(g.json ? JSON.stringify(line) + '\n' : `${id} (${st.view.instanceName ?? '?'} on ${st.view.machineName ?? '?'}): ${before ?? 'new'} → ${now}\n`);
            if (count !== undefined && changes >= count) {
              sub.unsubscribe();
              resolve(undefined);
              return;
            }
          }
        },
        error: (e: CliError) => resolve(e),
      });
      const stop = (): void => {
        sub.unsubscribe();
        resolve(undefined);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    checkpoints.right.close();
    return result ? E.left(result) : E.right(EXIT.ok);
  });
};

// ─── Scale-out commands ───────────────────────────────────────────────────

const listCommand = async (io: Io, g: GlobalOptions): Promise<number> =>
  withSession(io, g, async (s) => {
    const view = await loadView(io, s, g);
    if (E.isLeft(view)) return view;
    const rows = listInstances(view.right);
    emit(
      io,
      g,
      rows.map((r) => {
        const id = r.state === 'not-initialized' ? r.installationId : r.view.installationId;
        return { ...statusJson(r, findingsFor(view.right, id)), ...membershipOf(r, view.right) };
      }),
      listText(rows, view.right),
    );
    return E.right(EXIT.ok);
  });

/** An installation ID from the command line (case-insensitive, stored lowercase). */
const parseInstallationId = (id: string): E.Either<CliError, InstallationId> => {
  const lower = id.toLowerCase();
  return InstallationId.is(lower) ? E.right(lower) : usage(`"${id}" is not an installation ID (a GUID)`);
};

/** The instance a join names by machine and instance name (preferring the one waiting to join). */
const findByName = (view: ActivationView, machine: string | undefined, instance: string | undefined): E.Either<CliError, InstallationId> => {
  if (machine === undefined || instance === undefined) return usage('name the instance to join: keyledger join <installationId>, or --machine M --instance N');
  const matches = listInstances(view).filter(
    (r) => r.state !== 'not-initialized' && r.view.machineName?.toLowerCase() === machine.toLowerCase() && r.view.instanceName?.toLowerCase() === instance.toLowerCase(),
  );
  const waiting = matches.filter((r) => r.state === 'waiting-to-join');
  const pick = waiting.length === 1 ? waiting[0] : matches.length === 1 ? matches[0] : undefined;
  if (!pick || pick.state === 'not-initialized')
    return usage(
      matches.length === 0
        ? `no instance ${instance} on machine ${machine} in the ledger: run keyledger init on it first (see keyledger list)`
        : `${matches.length} instances are named ${instance} on ${machine}: pass the installation ID instead (see keyledger list)`,
    );
  return E.right(pick.view.installationId as InstallationId);
};

const joinCommand = async (io: Io, g: GlobalOptions, id: string | undefined, machine: string | undefined, instance: string | undefined, rewrap = false): Promise<number> =>
  withSession(io, g, async (s) => {
    let newcomer: E.Either<CliError, InstallationId>;
    if (id !== undefined) newcomer = parseInstallationId(id);
    else {
      const view = await loadView(io, s, g);
      newcomer = E.isLeft(view) ? view : findByName(view.right, machine, instance);
    }
    if (E.isLeft(newcomer)) return newcomer;
    const r = await joinInstance(deps(s, 'join'), s.config.instance, newcomer.right, { rewrap });
    if (E.isLeft(r)) {
      s.log.write({ command: 'join', sponsor: s.config.instance.installationId, newcomer: newcomer.right, outcome: 'error', error: r.left._tag });
      return r;
    }
    const o = r.right;
    s.log.write({ command: 'join', sponsor: o.sponsor, newcomer: o.newcomer, keyVersion: o.keyVersion, recorded: o.recorded });
    emit(
      io,
      g,
      o,
      o.alreadyJoined
        ? `installation ${o.newcomer} already holds symmetric key version ${o.keyVersion}; nothing to do (pass --rewrap if its copy is unusable)\n`
        : `joined: symmetric key version ${o.keyVersion} wrapped for ${o.newcomer} by ${o.sponsor} (SymmetricKeyWrapped recorded).\nNext: run keyledger start on ${o.newcomer} to activate it.\n`,
    );
    return E.right(EXIT.ok);
  });

const removeCommand = async (io: Io, g: GlobalOptions, id: string, force: boolean): Promise<number> =>
  withSession(io, g, async (s) => {
    const target = parseInstallationId(id);
    if (E.isLeft(target)) return target;
    const r = await removeInstance(deps(s, 'remove'), s.config.instance.deploymentId, target.right, force);
    if (E.isLeft(r)) return r;
    const o = r.right;
    s.log.write({ command: 'remove', installationId: o.installationId, lastMember: o.lastMember, forced: force, recorded: o.recorded });
    emit(
      io,
      g,
      o,
      o.recorded.length === 0
        ? `installation ${o.installationId} was already removed; nothing to do\n`
        : `removed: installation ${o.installationId}'s registration and wrapped copy are revoked (InstanceRemoved recorded); its next start is refused.\n${
            o.lastMember ? 'It was the last member holding the key: a new instance can only get it from a key backup restore, which this version cannot do yet.\n' : ''
          }`,
    );
    return E.right(EXIT.ok);
  });

const changeIdentityCommand = async (io: Io, g: GlobalOptions, identity: string): Promise<number> =>
  withSession(io, g, async (s) => {
    if (!NonEmptyString.is(identity)) return usage('the new service identity must be a non-empty name (at most 256 characters)');
    // Key size: the recorded one, or a larger one from the config — never smaller (the command keeps the larger).
    const r = await changeServiceIdentity(deps(s, 'change-identity'), s.config.instance, identity);
    if (E.isLeft(r)) return r;
    const o = r.right;
    // The config follows the ledger: rewrite serviceIdentity (temp file + rename).
    const raw = JSON.parse(fs.readFileSync(s.config.file, 'utf8')) as Record<string, unknown>;
    if (raw['serviceIdentity'] !== identity) {
      const tmp = `${s.config.file}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, JSON.stringify({ ...raw, serviceIdentity: identity }, null, 2) + '\n', { mode: 0o600 });
      fs.renameSync(tmp, s.config.file);
    }
    s.log.write({ command: 'change-identity', installationId: s.config.instance.installationId, from: o.previousIdentity, to: o.serviceIdentity, thumbprint: o.thumbprint, recorded: o.recorded });
    emit(
      io,
      g,
      o,
      `service identity ${o.previousIdentity} → ${o.serviceIdentity}: new key ${o.thumbprint}${o.recorded.length ? ` (${o.recorded.join(', ')} recorded)` : ' (already done)'}; config updated.\n` +
        outcomeText(o.activation, 'start'),
    );
    return E.right(o.activation.state === 'activated' ? EXIT.ok : EXIT.notActivated);
  });

const rskeymgmt = async (io: Io, g: GlobalOptions, o: Record<string, string | boolean | undefined>): Promise<number> => {
  for (const flag of ['e', 'a', 'd', 's'] as const)
    if (o[flag]) return fail(io, { _tag: 'UsageError', message: `rskeymgmt -${flag} (backup, restore, delete, re-create) is not available in this version of keyledger yet` });
  if (typeof o['i'] === 'string') {
    const c = loadConfig(g.config);
    if (E.isLeft(c)) return fail(io, c.left);
    if (c.right.instance.instanceName.toLowerCase() !== o['i'].toLowerCase())
      return fail(io, { _tag: 'UsageError', message: `-i ${o['i']} does not match the config's instance ${c.right.instance.instanceName}: pass the instance's config with -c` });
  }
  const chosen = ['l', 'j', 'r'].filter((f) => o[f] !== undefined && o[f] !== false);
  if (chosen.length !== 1) return fail(io, { _tag: 'UsageError', message: 'rskeymgmt takes exactly one of -l, -j, -r (and -e, -a, -d, -s in a later version)' });
  if (o['l']) return listCommand(io, g);
  if (o['j']) return joinCommand(io, g, undefined, o['m'] as string | undefined, o['n'] as string | undefined);
  return removeCommand(io, g, String(o['r']), o['force'] === true);
};

/** Runs the CLI; resolves to the exit code. Never throws for user errors. */
export const runCli = async (argv: ReadonlyArray<string>, io: Io): Promise<number> => {
  let code = EXIT.ok as number;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (e) {
    // commander reports usage errors (and --help / --version) by throwing its own error type.
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw e;
  }
};

if (require.main === module) {
  const io: Io = {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    env: process.env,
    isTTY: Boolean(process.stderr.isTTY),
  };
  runCli(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`keyledger: internal error: ${e instanceof Error ? e.message : String(e)}. This is a bug; please report it.\n`);
      process.exitCode = 70;
    },
  );
}
