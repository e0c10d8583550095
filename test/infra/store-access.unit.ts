/**
 * Issue 17, problem 2: the EventStoreDB password can stay off the command line and out of the config's
 * store string — from `KEYLEDGER_ESDB_PASSWORD` or the config's `esdb.passwordFile` (refused when group or
 * others can read it) — and a password given with `--store` is warned about. The connection name is the
 * instance; the retry settings come from the config.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/Either';
import { DEFAULT_ESDB } from '../../src/infra/config';
import { storeAccess } from '../../src/infra/store-access';
import { tempDir } from '../support/fixtures';

const CS = 'esdb://keyledger@esdb.internal:2113';

test('a user without a password in the string: the password comes from KEYLEDGER_ESDB_PASSWORD', (t) => {
  const r = storeAccess(CS, { env: { KEYLEDGER_ESDB_PASSWORD: 'from-env-Ω' }, fromCommandLine: false, connectionName: 'keyledger I@M' });
  t.deepEqual(
    r,
    E.right({
      esdb: {
        streamAcl: { writerRole: 'keyledger-writers', auditorRole: 'keyledger-auditors' },
        client: { connectionName: 'keyledger I@M', password: 'from-env-Ω' },
      },
      warnings: [],
    }),
  );
});

test("…or from the config's esdb.passwordFile (one trailing line end dropped), the environment winning", (t) => {
  const dir = tempDir('pw');
  const file = path.join(dir, 'esdb.password');
  fs.writeFileSync(file, 'from-file-ж\n', { mode: 0o600 });
  const settings = { ...DEFAULT_ESDB, passwordFile: file };
  t.like(storeAccess(CS, { env: {}, fromCommandLine: false, settings }), { right: { esdb: { client: { password: 'from-file-ж' } } } });
  t.like(storeAccess(CS, { env: { KEYLEDGER_ESDB_PASSWORD: 'env' }, fromCommandLine: false, settings }), { right: { esdb: { client: { password: 'env' } } } });
  fs.chmodSync(file, 0o640);
  const open = storeAccess(CS, { env: {}, fromCommandLine: false, settings });
  t.deepEqual(open, E.left(`the store password file ${file} has permissions 640, too open (run: chmod 600 ${file})`));
  fs.rmSync(file);
  t.deepEqual(storeAccess(CS, { env: {}, fromCommandLine: false, settings }), E.left(`the store password file ${file} cannot be read (ENOENT)`));
});

test('a user with no password anywhere is refused with what to set', (t) => {
  t.deepEqual(
    storeAccess(CS, { env: {}, fromCommandLine: false }),
    E.left(
      "the store connection names a user but no password: set KEYLEDGER_ESDB_PASSWORD, or the config's esdb.passwordFile (a file only its owner can read)",
    ),
  );
});

test('a password given with --store is warned about (the process list shows it); one from the config file is not', (t) => {
  const cs = 'esdb://admin:changeit@h:2113';
  const fromCli = storeAccess(cs, { env: {}, fromCommandLine: true });
  t.like(fromCli, { right: { warnings: [(fromCli as E.Right<{ warnings: string[] }>).right.warnings[0]] } });
  t.regex((fromCli as E.Right<{ warnings: string[] }>).right.warnings[0]!, /visible in the process list.*KEYLEDGER_ESDB_PASSWORD/);
  t.false(JSON.stringify((fromCli as E.Right<{ warnings: string[] }>).right.warnings).includes('changeit'));
  t.like(storeAccess(cs, { env: {}, fromCommandLine: false }), { right: { warnings: [] } });
});

test('the retry settings of the config reach the adapter; SQLite needs none of this', (t) => {
  const settings = { ...DEFAULT_ESDB, retry: { attempts: 9, backoffMs: 50, maxBackoffMs: 800, deadlineMs: 12_000 } };
  t.like(storeAccess('esdb://h:2113', { env: {}, fromCommandLine: false, settings }), {
    right: { esdb: { retry: { attempts: 9, baseDelayMs: 50, maxDelayMs: 800 }, appendTimeoutMs: 12_000 } },
  });
  t.deepEqual(storeAccess('sqlite:./x.db', { env: {}, fromCommandLine: false, settings }), E.right({ warnings: [] }));
});
