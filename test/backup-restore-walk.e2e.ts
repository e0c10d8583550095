/**
 * The remedies that name `keyledger restore` (issue 12, part 2), followed literally: the typed steps from
 * --json, each checked to be printed word for word in the text output, run on this instance with the backup
 * file the operator keeps and the password typed at the prompt — until the instance is activated, and the
 * secrets stored before the loss decrypt again.
 */
import test, { type ExecutionContext } from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BACKUP_PASSWORD, backup, restore, secretsOf } from './support/backups';
import { cliWith } from './support/cli-inproc';
import { tempDir } from './support/fixtures';
import { activatedDeployment, newNode, type TestNode } from './support/nodes';

interface RemedyJson {
  kind: 'Run' | 'NotYetPossible';
  text: string;
  steps: Array<{ on: string; args: Array<string | { placeholder: string }>; command: string }>;
}

const SHOWN: Record<string, string> = {
  '<new-installation-id>': '<new installation ID>',
  '<new-thumbprint>': '<its thumbprint>',
  '<backup-file>': '<the key backup file>',
};

/** Runs each step on this instance: the backup file for its placeholder, the password at the prompt. */
const follow = async (t: ExecutionContext, node: TestNode, remedy: RemedyJson | undefined, printed: string, backupFile: string): Promise<void> => {
  if (!remedy) throw new Error('no remedy printed');
  t.is(remedy.kind, 'Run', remedy.text);
  for (const step of remedy.steps) {
    const shown = Object.entries(SHOWN).reduce((s, [k, v]) => s.replace(k, v), step.command);
    t.true(printed.includes(`\`${shown}\``), `printed: ${shown}\n${printed}`);
    t.is(step.on, 'this-instance');
    const args = step.args.map((a) => (typeof a === 'string' ? a : a.placeholder === 'backup-file' ? backupFile : `<${a.placeholder}?>`));
    const r = await cliWith({ answer: BACKUP_PASSWORD }, '-c', node.file, ...args);
    t.true(r.code === 0 || r.code === 1, `keyledger ${args.join(' ')} → ${r.code}: ${r.stderr}`);
  }
};

const activated = async (t: ExecutionContext, node: TestNode): Promise<void> => {
  const s = await node.run('--json', 'status');
  t.is(s.json<{ state: string }>().state, 'activated', s.stdout);
};

const SECRETS = { 'reportserver/datasource/sales': 'Server=db1;Password=Tr0ub4dor&3', 'delivery/smtp': 'smtp-pass-42' };

const withSecretsAndBackup = async (dir: string, node: TestNode): Promise<string> => {
  for (const [name, value] of Object.entries(SECRETS)) t0((await cliWith({ stdin: value }, '-c', node.file, 'secret', 'put', name)).code);
  const file = path.join(dir, 'rs-key.snk');
  t0((await backup(node, file)).code);
  return file;
};
const t0 = (code: number): void => {
  if (code !== 0) throw new Error(`setup step exited ${code}`);
};

test('walk: the keystore of the only member is lost → new installation, the old one removed, the backup restored; secrets decrypt', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-bwalk');
  const [only] = await activatedDeployment(dir, ['S']);
  const file = await withSecretsAndBackup(dir, only!);
  fs.rmSync(only!.keystore);
  const start = await only!.run('--json', 'start');
  t.is(start.code, 1);
  const o = start.json<{ reason: { _tag: string }; remedy: RemedyJson }>();
  t.is(o.reason._tag, 'KeystoreUnavailable');
  t.deepEqual(
    o.remedy.steps.map((s) => s.command),
    ['keyledger init --new-installation-id', `keyledger remove ${only!.id} --force`, 'keyledger restore -f <backup-file>'],
  );
  await follow(t, only!, o.remedy, (await only!.run('start')).stdout, file);
  await activated(t, only!);
  t.deepEqual(await secretsOf(only!, Object.keys(SECRETS)), Object.values(SECRETS));
});

test('walk: the last member was removed, then a new instance → the backup restored on it (a new genesis); secrets decrypt', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-bwalk');
  const [a] = await activatedDeployment(dir, ['A']);
  const file = await withSecretsAndBackup(dir, a!);
  t.is((await a!.run('remove', '--force', a!.id)).code, 0);
  const c = await newNode(dir, 'C');
  const init = await c.run('--json', 'init');
  t.is(init.code, 1);
  const o = init.json<{ reason: { _tag: string }; remedy: RemedyJson }>();
  t.is(o.reason._tag, 'NoMemberHoldsKey');
  await follow(t, c, o.remedy, (await c.run('status')).stdout, file);
  await activated(t, c);
  t.deepEqual(await secretsOf(c, Object.keys(SECRETS)), Object.values(SECRETS));
});

test('walk: a wrong backup is refused with the remedy to restore the right one; following it activates', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-bwalk');
  const [a] = await activatedDeployment(dir, ['A']);
  const file = await withSecretsAndBackup(dir, a!);
  t.is((await a!.run('remove', '--force', a!.id)).code, 0);
  const c = await newNode(dir, 'C');
  t.is((await c.run('init')).code, 1);
  // The backup of another deployment that is also called "default": right name, right version, another key.
  const elsewhere = tempDir('kl-bwalk-other');
  const [x] = await activatedDeployment(elsewhere, ['X']);
  const wrong = path.join(elsewhere, 'other.snk');
  t.is((await backup(x!, wrong)).code, 0);
  const refused = await restore(c, wrong);
  t.is(refused.code, 5);
  const command = /`keyledger ([^`]+)`/.exec(refused.stderr)?.[1];
  t.is(command, 'restore -f <the key backup file>');
  const args = command!.replace('<the key backup file>', file).split(' ');
  const r = await cliWith({ answer: BACKUP_PASSWORD }, '-c', c.file, ...args);
  t.is(r.code, 0, r.stderr);
  await activated(t, c);
  t.deepEqual(await secretsOf(c, Object.keys(SECRETS)), Object.values(SECRETS));
});

test('the backup the CLI writes by default uses 600,000 PBES2 iterations, and restores', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-bwalk');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const file = path.join(dir, 'default.snk');
  const started = Date.now();
  const r = await cliWith({ stdin: BACKUP_PASSWORD }, '-c', a!.file, 'backup', '-f', file, '--password-stdin');
  const backupMs = Date.now() - started;
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '', 'no test-iterations warning');
  const header = JSON.parse(Buffer.from(fs.readFileSync(file, 'utf8').split('.')[0]!, 'base64url').toString('utf8')) as { p2c: number };
  t.is(header.p2c, 600_000);
  // B holds a certified copy already: the restore still opens the file and checks its key, then only starts B.
  const restored = Date.now();
  const rr = await restore(b!, file);
  t.is(rr.code, 0, rr.stderr);
  t.log(`600k iterations: backup ${backupMs} ms, restore ${Date.now() - restored} ms (both whole CLI runs)`);
});
