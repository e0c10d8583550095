/**
 * Issue 11, item 3: `verify` sees physical damage (SQLite's own integrity check),
 * reports an unparseable row by stream and revision and goes on, and a command
 * that meets a damaged, full or read-only store says which.
 */
import test from 'ava';
import * as fs from 'node:fs';
import Database from 'better-sqlite3';
import { describeError } from '../src/cli/errors';
import { tempDir } from './support/fixtures';
import { activatedDeployment, ledgerFile } from './support/nodes';
import { tamper } from './support/tamper';

test('an index page overwritten: verify reports the damage (exit 4) instead of "ledger intact"', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-dmg');
  const [a] = await activatedDeployment(dir, ['A', 'B']);
  const file = ledgerFile(dir);
  const db = new Database(file);
  db.pragma('wal_checkpoint(TRUNCATE)');
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const index = db.prepare("SELECT name, rootpage FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' ORDER BY rootpage LIMIT 1").get() as
    | { name: string; rootpage: number }
    | undefined;
  db.close();
  if (!index) return t.fail('the ledger has no index to damage');
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, Buffer.alloc(pageSize - 200, 0x5a), 0, pageSize - 200, (index.rootpage - 1) * pageSize + 100);
  } finally {
    fs.closeSync(fd);
  }
  const r = await a!.run('verify');
  t.is(r.code, 4, r.stdout + r.stderr);
  t.regex(r.stdout, /^DAMAGED the store's own integrity check: /m);
  const json = await a!.run('--json', 'verify');
  t.true(json.json<{ storage: string[] }>().storage.length > 0);
});

test('an event row that is not JSON: verify names it (stream@revision) and goes on to the rest of the ledger', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-dmg');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const stream = `keyledger.instance-${b!.id}`;
  t.is(tamper(ledgerFile(dir), 'UPDATE events SET data = ? WHERE stream_name = ? AND stream_revision = 1', 'not json {', stream), 1);
  // A later event of another stream is altered too: found only if verify went on.
  t.is(
    tamper(
      ledgerFile(dir),
      "UPDATE events SET data = replace(data, 'RS-A', 'RS-Z') WHERE stream_name = ? AND stream_revision = 0",
      `keyledger.instance-${a!.id}`,
    ),
    1,
  );
  const r = await a!.run('verify');
  t.is(r.code, 4, r.stderr);
  t.regex(r.stdout, new RegExp(`TAMPERED ${stream}@1 \\(\\?\\): the stored record is not JSON`));
  t.regex(r.stdout, new RegExp(`TAMPERED keyledger.instance-${a!.id}@0`));
});

test('a damaged, full or read-only store is named as such, with what to do (not "check that the store is reachable")', (t) => {
  const base = { _tag: 'StoreUnavailable', endpoint: 'sqlite:/x/ledger.db', message: 'database disk image is malformed' } as const;
  t.regex(describeError({ ...base, cause: 'damaged' }), /is damaged .*Run keyledger verify to see where, and restore the store from a backup\./);
  t.regex(describeError({ ...base, cause: 'full', message: 'database or disk is full' }), /disk holding .* is full .*nothing was recorded/);
  t.regex(describeError({ ...base, cause: 'read-only', message: 'attempt to write a readonly database' }), /is read-only/);
  t.regex(describeError(base), /reachable/);
});

test('an index that no longer matches its table: verify (page structure) does not see it, verify --deep (integrity_check) does', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-dmg');
  const [a] = await activatedDeployment(dir, ['A', 'B']);
  const file = ledgerFile(dir);
  // An index whose recorded definition is changed behind SQLite's back: every page is well formed, its entries wrong.
  const db = new Database(file);
  db.exec('CREATE INDEX damaged_by_test ON events(event_type)');
  db.unsafeMode(true); // lets the schema be written (SQLite's defensive mode is on by default here)
  db.pragma('writable_schema = ON');
  db.prepare("UPDATE sqlite_master SET sql = 'CREATE INDEX damaged_by_test ON events(event_id)' WHERE name = 'damaged_by_test'").run();
  db.pragma('writable_schema = OFF');
  db.close();
  const quick = await a!.run('verify');
  t.is(quick.code, 0, quick.stdout + quick.stderr);
  const deep = await a!.run('verify', '--deep');
  t.is(deep.code, 4, deep.stdout + deep.stderr);
  t.regex(deep.stdout, /^DAMAGED the store's own integrity check: .*damaged_by_test/m);
});
