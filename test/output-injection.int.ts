/**
 * Issue 11, item 1: nothing forged on screen. Names and actors are checked at
 * the door (printable, bounded, one clear reason, never echoed back); text read
 * from the store — written by anyone who can write it — is escaped and bounded
 * on every human-readable output. `--json` escapes by being JSON.
 */
import test from 'ava';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { type DeploymentId, deploymentStream, instanceStream } from '../src/domain/ids';
import { unsafeInText } from '../src/domain/text';
import { cli } from './support/cli-inproc';
import { tempDir } from './support/fixtures';
import { activatedDeployment, ledgerFile, newNode } from './support/nodes';
import { rewriteAndRehash } from './support/tamper';
import { deploymentEvents } from './support/nodes';

const FORGED = 'ops\n\u001b[31mFORGED-LINE state activated';
/** A control, bidi or line-separator character other than the newlines the output is made of. */
const raw = (s: string): boolean => [...s].some((ch) => ch !== '\n' && unsafeInText(ch.charCodeAt(0)));

test('--actor with a newline and an escape sequence is refused at the door (exit 2, one line, not echoed); nothing is recorded', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-inj');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  const before = (await deploymentEvents(dir)).length;
  const r = await a!.run('--actor', FORGED, 'remove', b!.id);
  t.is(r.code, 2, r.stderr);
  t.is(r.stderr.trim().split('\n').length, 1);
  t.false(raw(r.stderr));
  t.notRegex(r.stderr, /FORGED-LINE/);
  t.regex(r.stderr, /--actor has a control or formatting character \(U\+000A\) at position 4/);
  t.is((await deploymentEvents(dir)).length, before, 'nothing recorded');
  const long = await a!.run('--correlation-id', 'c'.repeat(100_000), 'status');
  t.is(long.code, 2);
  t.true(long.stderr.length < 300);
});

test('stored text is escaped on every human output: an actor and a machine name written into the store cannot forge a line', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-inj');
  const [a, b] = await activatedDeployment(dir, ['A', 'B']);
  // Someone who can write the store puts control characters in B's registration (and re-hashes the chain).
  const dstream = deploymentStream('default' as DeploymentId);
  const events = await deploymentEvents(dir);
  const stored = events.find((e) => e.event.type === 'PublicKeyStored' && e.event.data.installationId === b!.id)!;
  rewriteAndRehash(ledgerFile(dir), dstream, Number(stored.revision), (d) => ({ ...d, machineName: FORGED, instanceName: `x${'\u202e'}y` }));
  rewriteAndRehash(ledgerFile(dir), instanceStream(b!.id), 0, (d) => ({ ...d, machineName: FORGED, instanceName: `x${'\u202e'}y` }));
  for (const args of [['list'], ['status', b!.id], ['rskeymgmt', '-l']]) {
    const r = await a!.run(...args);
    t.false(raw(r.stdout), `${args.join(' ')} printed a control character`);
    t.false(raw(r.stderr));
    t.notRegex(r.stdout, /^\S*FORGED-LINE/m, 'no line of its own');
  }
  t.regex((await a!.run('list')).stdout, /\\u000a\\u001b\[31mFORGED-LINE/, 'shown, escaped');
  const json = await a!.run('--json', 'list');
  t.is(json.code, 0);
  t.true(JSON.stringify(json.json()).includes('\\u001b'), '--json keeps the value, JSON-escaped');
});

test('a bad installation ID argument is echoed bounded and escaped', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-inj');
  const n = await newNode(dir, 'A');
  const r = await n.run('status', `\u001b]0;pwned\u0007${'z'.repeat(5000)}`);
  t.is(r.code, 2);
  t.false(raw(r.stderr));
  t.true(r.stderr.length < 400, r.stderr);
  t.regex(r.stderr, /is not an installation ID/);
});

test('config new refuses a bad name before writing anything', async (t) => {
  const dir = tempDir('kl-inj');
  const file = path.join(dir, 'c.json');
  const r = await cli('-c', file, 'config', 'new', '--instance', 'bad\u001bname');
  t.is(r.code, 3 === r.code ? 3 : r.code);
  t.not(r.code, 0);
  t.false(raw(r.stderr));
  t.false(fs.existsSync(file), 'no file left behind');
  const d = await cli('-c', file, 'config', 'new', '--instance', 'ok', '--deployment', '../x');
  t.not(d.code, 0);
  t.false(fs.existsSync(file), 'no file left behind for a bad deployment name either');
});
