/**
 * `keyledger watch` follows the ledger live from another process's writes and
 * ends deterministically (--count), not on a timer.
 */
import test from 'ava';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { keyledger, CLI } from '../support/cli';
import { tempDir } from '../support/fixtures';
import { keystoreThumbprint } from '../support/nodes';

test('watch reports each state change written by other processes, then stops after --count', async (t) => {
  t.timeout(90_000);
  const dir = tempDir('kl-watch');
  for (const n of ['A', 'B']) t.is((await keyledger(dir, '-c', `${n}.json`, 'config', 'new', '--instance', n)).code, 0);
  t.is((await keyledger(dir, '-c', 'A.json', 'init')).code, 0);
  // B's path as the watcher sees it: new → initializing → waiting-to-join → (joined, 4/5) initializing → activated.
  const child = spawn(process.execPath, [CLI, '--json', '-c', 'A.json', 'watch', '--count', '4'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const ready = new Promise<void>((resolve) =>
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('watching ')) resolve();
    }),
  );
  const watcher = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })),
  );
  await ready; // the watcher has its first picture (A activated); every change from here on is reported
  t.is((await keyledger(dir, '-c', 'B.json', 'init')).code, 1);
  const bId = (await import(path.join(dir, 'B.json'))) as { installationId: string };
  t.is((await keyledger(dir, '-c', 'A.json', 'join', bId.installationId, '--expect-thumbprint', keystoreThumbprint(path.join(dir, 'B.json')))).code, 0);
  t.is((await keyledger(dir, '-c', 'B.json', 'start')).code, 0);
  const w = await watcher;
  t.is(w.code, 0, w.stderr);
  const lines = w.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { installationId: string; from: string | null; to: string });
  t.deepEqual(
    lines.map((l) => [l.installationId, l.from, l.to]),
    [
      [bId.installationId, null, 'initializing'],
      [bId.installationId, 'initializing', 'waiting-to-join'],
      [bId.installationId, 'waiting-to-join', 'initializing'],
      [bId.installationId, 'initializing', 'activated'],
    ],
  );
});
