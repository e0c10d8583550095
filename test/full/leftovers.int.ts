/**
 * Issue 11, items 5–6: a kill -9 while a keystore is written can leave a temp
 * file holding a private key that was never recorded; the next command for the
 * instance removes it (unless its writer still runs). A keystore path that is a
 * folder says so, not "permissions too open".
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../support/fixtures';
import { activatedDeployment, editConfig, newNode } from '../support/nodes';

test("leftover keystore temp files of a dead writer are removed by the next command (any), a running writer's are kept", async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-left');
  const [a] = await activatedDeployment(dir, ['A']);
  const ksDir = path.dirname(a!.keystore);
  const base = path.basename(a!.keystore);
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout.trim();
  const leftovers = [`${base}.tmp-${dead}-0a1b2c3d`, `${base}.next.tmp-${dead}-0a1b2c3d`, `pins.json.tmp-${dead}`];
  for (const f of leftovers) fs.writeFileSync(path.join(ksDir, f), '{"privateKey":"…"}', { mode: 0o600 });
  const live = `${base}.tmp-${process.pid}-ffffffff`; // this test process: still running
  fs.writeFileSync(path.join(ksDir, live), '{}', { mode: 0o600 });
  t.is((await a!.run('status')).code, 0);
  for (const f of leftovers) t.false(fs.existsSync(path.join(ksDir, f)), `${f} removed`);
  t.true(fs.existsSync(path.join(ksDir, live)), "a running writer's file is kept");
  fs.rmSync(path.join(ksDir, live));
});

test('a keystore path that is a folder: the start check says it is a directory', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('kl-left');
  const n = await newNode(dir, 'A');
  const folder = path.join(dir, 'ks-folder');
  fs.mkdirSync(folder, { mode: 0o700 });
  editConfig(n, { keystore: folder });
  const r = await n.run('init');
  t.not(r.code, 0);
  t.regex(r.stdout + r.stderr, /is a directory: point the config at the file itself/);
  t.notRegex(r.stdout + r.stderr, /too open/);
});
