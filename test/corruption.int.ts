/**
 * A damaged or tampered ledger is reported, never a crash and never a silent
 * skip: the error names the stream and revision, the CLI prints one line and
 * exits non-zero, and `verify` locates every problem.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type InstallationId, instanceStream } from '../src/domain/ids';
import { cli } from './support/cli-inproc';
import { tempDir } from './support/fixtures';
import { rowOf, tamper } from './support/tamper';

const setup = async (): Promise<{ dir: string; file: string; ledger: string; id: InstallationId; stream: string }> => {
  const dir = tempDir('kl-corrupt');
  const file = path.join(dir, 'A.json');
  const made = await cli('-c', file, 'config', 'new', '--instance', 'A');
  if (made.code !== 0) throw new Error(made.stderr);
  const init = await cli('-c', file, 'init');
  if (init.code !== 0) throw new Error(init.stderr);
  const id = (JSON.parse(fs.readFileSync(file, 'utf8')) as { installationId: InstallationId }).installationId;
  return { dir, file, ledger: path.join(dir, '.keyledger', 'ledger.db'), id, stream: instanceStream(id) };
};

test('verify on an untouched ledger: intact, exit 0', async (t) => {
  t.timeout(30_000);
  const { file } = await setup();
  const r = await cli('--json', '-c', file, 'verify');
  t.is(r.code, 0, r.stderr);
  const rep = r.json<{ events: number; streams: number; problems: unknown[] }>();
  t.is(rep.events, 5);
  t.is(rep.streams, 2);
  t.deepEqual(rep.problems, []);
});

test('a stored event that is not JSON: status names stream and revision, exits 3; verify reports it and goes on', async (t) => {
  t.timeout(30_000);
  const { file, ledger, stream } = await setup();
  t.is(tamper(ledger, 'UPDATE events SET data = ? WHERE stream_name = ? AND stream_revision = 1', '{"broken', stream), 1);
  // A fresh state dir: status must replay and meet the damaged record.
  fs.rmSync(path.join(path.dirname(ledger), 'projections.db'), { force: true });
  const status = await cli('-c', file, 'status');
  t.is(status.code, 3);
  t.is(status.stdout, '');
  t.is(status.stderr.trim().split('\n').length, 1, 'one line');
  t.true(status.stderr.includes(`${stream}@1`), status.stderr);
  const start = await cli('-c', file, 'start');
  t.is(start.code, 3, 'unreadable, not proven altered: exit 3');
  t.true(start.stderr.includes(`${stream}@1`), start.stderr);
  // verify reports the row and goes on (issue 11): a problem line, exit 4.
  const verify = await cli('-c', file, 'verify');
  t.is(verify.code, 4, verify.stderr);
  t.regex(verify.stdout, new RegExp(`^TAMPERED ${stream}@1 \\(\\?\\): the stored record is not JSON`, 'm'));
});

test('a stored event that no longer matches its schema: CorruptEvent naming stream, revision and type', async (t) => {
  t.timeout(30_000);
  const { file, ledger, stream } = await setup();
  const row = rowOf(ledger, stream, 1);
  const data = JSON.parse(row.data) as Record<string, unknown>;
  t.is(
    tamper(
      ledger,
      'UPDATE events SET data = ? WHERE stream_name = ? AND stream_revision = 1',
      JSON.stringify({ ...data, thumbprint: 'not-a-thumbprint' }),
      stream,
    ),
    1,
  );
  fs.rmSync(path.join(path.dirname(ledger), 'projections.db'), { force: true });
  const status = await cli('-c', file, 'status');
  t.is(status.code, 3);
  t.regex(
    status.stderr,
    new RegExp(`^keyledger: the ledger holds an invalid event at ${stream}@1 \\(KeyPairIssued\\): its data does not match the KeyPairIssued schema`),
  );
  const verify = await cli('--json', '-c', file, 'verify');
  t.is(verify.code, 4);
  const problems = verify.json<{ problems: Array<{ stream: string; revision: string; eventType: string }> }>().problems;
  t.deepEqual(
    problems.map((p) => [p.stream, p.revision, p.eventType]),
    [[stream, '1', 'KeyPairIssued']],
  );
});

test('an unknown event type in a ledger stream: named, not skipped', async (t) => {
  t.timeout(30_000);
  const { file, ledger, stream } = await setup();
  t.is(tamper(ledger, "UPDATE events SET event_type = 'KeyPairStolen' WHERE stream_name = ? AND stream_revision = 2", stream), 1);
  fs.rmSync(path.join(path.dirname(ledger), 'projections.db'), { force: true });
  const status = await cli('-c', file, 'status');
  t.is(status.code, 3);
  t.true(status.stderr.includes(`${stream}@2 (KeyPairStolen): unknown event type "KeyPairStolen"`), status.stderr);
});

test('a valid-looking but altered event: the hash chain catches it — commands refuse, verify locates it', async (t) => {
  t.timeout(30_000);
  const { file, ledger, stream } = await setup();
  const row = rowOf(ledger, stream, 0);
  const data = JSON.parse(row.data) as Record<string, unknown>;
  t.is(
    tamper(
      ledger,
      'UPDATE events SET data = ? WHERE stream_name = ? AND stream_revision = 0',
      JSON.stringify({ ...data, serviceIdentity: 'attacker' }),
      stream,
    ),
    1,
  );
  const start = await cli('-c', file, 'start');
  t.is(start.code, 4, 'an altered event is tampering: exit 4');
  t.true(start.stderr.includes(`${stream}@0 (ConfigRead): its content does not match its hash`), start.stderr);
  const verify = await cli('-c', file, 'verify');
  t.is(verify.code, 4);
  t.regex(verify.stdout, new RegExp(`TAMPERED ${stream}@0 \\(ConfigRead\\): its content does not match its hash`));
});

test('a deleted event in the middle of a stream: verify reports the gap and the broken link', async (t) => {
  t.timeout(30_000);
  const { file, ledger, stream } = await setup();
  t.is(tamper(ledger, 'DELETE FROM events WHERE stream_name = ? AND stream_revision = 1', stream), 1);
  const verify = await cli('--json', '-c', file, 'verify');
  t.is(verify.code, 4);
  const problems = verify.json<{ problems: Array<{ stream: string; revision: string; problem: string }> }>().problems;
  t.is(problems.length, 2);
  t.true(problems.every((p) => p.stream === stream && p.revision === '2'));
  t.regex(problems[0]!.problem, /revision 1 is missing/);
  t.regex(problems[1]!.problem, /previous-hash link/);
});
