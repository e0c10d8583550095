/** `keyledger config new | check`: write or check an instance config file (the RSReportServer.config analogue). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Command, Option } from 'commander';
import * as E from 'fp-ts/Either';
import { loadConfig, newConfig, parseConfig } from '../../infra/config';
import { parseEsdb } from '../../infra/connection-string';
import { EXIT } from '../errors';
import type { CommandScope } from '../io';
import { emit, fail } from '../session';

interface NewOptions {
  readonly instance: string;
  readonly machine?: string;
  readonly identity?: string;
  readonly deployment: string;
  readonly ledger: string;
  readonly keySize?: string;
  readonly ifMissing?: boolean;
  readonly force?: boolean;
}

const writeNew = ({ io, globals }: CommandScope, o: NewOptions): number => {
  const file = path.resolve(globals().config);
  if (fs.existsSync(file) && !o.force) {
    if (o.ifMissing) {
      emit(io, globals(), { file, created: false }, `config ${file} already exists; keeping it\n`);
      return EXIT.ok;
    }
    return fail(io, { _tag: 'UsageError', message: `config ${file} already exists: pass --if-missing to keep it, or choose another path with --config` });
  }
  // TLS by default: a plaintext EventStoreDB connection is written only on request, and said so.
  const esdb = parseEsdb(o.ledger);
  const insecure = E.isRight(esdb) && !esdb.right.options.tls;
  if (insecure && globals().allowInsecureStore !== true)
    return fail(io, {
      _tag: 'UsageError',
      message:
        `--ledger ${esdb.right.endpoint} has tls=false (nothing encrypted, no credentials sent, no rights checked): use TLS (drop tls=false; ` +
        'tlsCAFile=… for a private CA), or pass --allow-insecure-store for a test server',
    });
  const cfg = newConfig({
    instanceName: o.instance,
    ...(o.machine !== undefined ? { machineName: o.machine } : {}),
    ...(o.identity !== undefined ? { serviceIdentity: o.identity } : {}),
    deployment: o.deployment,
    store: o.ledger,
    ...(o.keySize !== undefined ? { keySize: Number(o.keySize) } : {}),
    ...(insecure ? { allowInsecureStore: true } : {}),
  });
  if (insecure) io.stderr(`keyledger: warning: ${esdb.right.endpoint} is written with tls=false and esdb.allowInsecure: for a test server only\n`);
  // A password in the string is kept in the file (0600) and was on this command line: said once, with the way out.
  if (E.isRight(esdb) && esdb.right.password !== null)
    io.stderr(
      `keyledger: warning: the password in --ledger is kept in ${file} (mode 0600) and was visible in the process list: ` +
        "drop it from the string and give it as KEYLEDGER_ESDB_PASSWORD or the config's esdb.passwordFile instead\n",
    );
  // Checked before anything is written: a refused option leaves no file behind.
  const check = parseConfig(file, JSON.stringify(cfg));
  if (E.isLeft(check)) return fail(io, check.left);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
  emit(io, globals(), { file, created: true, installationId: cfg['installationId'] }, `wrote ${file} (installation ${String(cfg['installationId'])})\n`);
  return EXIT.ok;
};

const check = ({ io, globals }: CommandScope): number => {
  const c = loadConfig(globals().config);
  if (E.isLeft(c)) return fail(io, c.left);
  const shown = {
    file: c.right.file,
    ...c.right.instance,
    stateDir: c.right.stateDir,
    keySize: c.right.keySize,
    keystoreSecretFile: c.right.keystoreSecretFile ?? path.join(path.dirname(c.right.instance.keystorePath), 'machine.secret'),
    ledgerAccess: c.right.ledgerAccess,
  };
  const text = Object.entries(shown).map(([k, v]) => `${k.padEnd(20)}${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  emit(io, globals(), shown, `${text.join('\n')}\n`);
  return EXIT.ok;
};

export const registerConfig = (program: Command, scope: CommandScope): void => {
  const config = program.command('config').description('create or check an instance config file');
  config
    .command('new')
    .description('write a new config: fresh installation ID, this machine, the current user as service identity')
    .option('--instance <name>', 'instance name', 'MSSQLSERVER')
    .option('--machine <name>', 'machine name (default: this host name)')
    .option('--identity <account>', 'service identity the instance runs as (default: current user)')
    .option('--deployment <id>', 'deployment to belong to', 'default')
    .option(
      '--ledger <connection>',
      'store connection string: sqlite:PATH, or esdb://[user@]host:2113[?tlsCAFile=ca.crt] (TLS; the password in KEYLEDGER_ESDB_PASSWORD or esdb.passwordFile)',
      'sqlite:./.keyledger/ledger.db',
    )
    .addOption(new Option('--key-size <bits>', 'RSA key size').choices(['2048', '3072', '4096']))
    .option('--if-missing', 'do nothing (exit 0) when the file already exists')
    .option('--force', 'overwrite an existing file (its instance becomes unreachable: prefer a new path)')
    .action((o: NewOptions) => scope.done(writeNew(scope, o)));
  config
    .command('check')
    .description('validate the config file and show what it resolves to (no secrets)')
    .action(() => scope.done(check(scope)));
};
