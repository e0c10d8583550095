/**
 * Real crashes: a child process running init is SIGKILLed right before or
 * right after each of the five appends; the real CLI then resumes. And real
 * races: several `keyledger init` processes on one config at once.
 */
import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { instanceStream, type InstallationId } from '../../src/domain/ids';
import { keyledger, runNode } from '../support/cli';
import { openTestStore, tempDir } from '../support/fixtures';
import { deploymentTypes, eventsOf } from '../support/ledger-reader';

const CHILD = path.resolve(__dirname, '..', 'support', 'init-child.js');

const newInstance = async (
  t: { is: (a: unknown, b: unknown, m?: string) => void },
  dir: string,
  name = 'MSSQLSERVER',
): Promise<{ file: string; id: InstallationId }> => {
  const r = await keyledger(dir, '--json', '-c', `${name}.json`, 'config', 'new', '--instance', name);
  t.is(r.code, 0, r.stderr);
  const id = (JSON.parse(r.stdout) as { installationId: InstallationId }).installationId;
  return { file: path.join(dir, `${name}.json`), id };
};

for (const when of ['before', 'after'] as const) {
  for (let k = 1; k <= 5; k++) {
    test(`SIGKILL ${when} append #${k}: the next init resumes to activated with exactly one key pair and one symmetric key`, async (t) => {
      t.timeout(60_000);
      const dir = tempDir('kl-crash');
      const { file, id } = await newInstance(t, dir);
      const killed = await runNode(CHILD, [file, when, String(k)], { cwd: dir });
      t.is(killed.signal, 'SIGKILL', `child should have been killed: ${killed.stdout}${killed.stderr}`);

      const resumed = await keyledger(dir, '--json', '-c', file, 'init');
      t.is(resumed.code, 0, resumed.stderr);
      const outcome = JSON.parse(resumed.stdout) as { state: string; recorded: string[] };
      t.is(outcome.state, 'activated');
      t.is(outcome.recorded.length, 5 - (when === 'after' ? k : k - 1));

      const status = await keyledger(dir, '--json', '-c', file, 'status');
      t.is(status.code, 0);
      t.is((JSON.parse(status.stdout) as { state: string }).state, 'activated');

      const store = openTestStore(path.join(dir, '.keyledger', 'ledger.db'));
      try {
        const inst = await eventsOf(store, instanceStream(id));
        t.deepEqual(
          inst.map((e) => e.event.type),
          ['ConfigRead', 'KeyPairIssued', 'InstanceActivated'],
        );
        t.deepEqual(await deploymentTypes(store), ['PublicKeyStored', 'SymmetricKeyCreated']);
      } finally {
        await store.close();
      }
    });
  }
}

test('three `keyledger init` processes on one config at once: one initialization, all report activated', async (t) => {
  t.timeout(90_000);
  for (let round = 0; round < 3; round++) {
    const dir = tempDir('kl-race');
    const { file, id } = await newInstance(t, dir);
    const results = await Promise.all([1, 2, 3].map(() => keyledger(dir, '--json', '-c', file, 'init')));
    for (const r of results) {
      t.is(r.code, 0, r.stderr);
      t.is((JSON.parse(r.stdout) as { state: string }).state, 'activated');
    }
    const recorded = results.flatMap((r) => (JSON.parse(r.stdout) as { recorded: string[] }).recorded);
    t.is(recorded.length, 5, `each step recorded once across processes: ${recorded.join(',')}`);
    const store = openTestStore(path.join(dir, '.keyledger', 'ledger.db'));
    try {
      t.deepEqual(
        (await eventsOf(store, instanceStream(id))).map((e) => e.event.type),
        ['ConfigRead', 'KeyPairIssued', 'InstanceActivated'],
      );
      t.deepEqual(await deploymentTypes(store), ['PublicKeyStored', 'SymmetricKeyCreated']);
    } finally {
      await store.close();
    }
    t.true(fs.existsSync(path.join(dir, '.keyledger', 'keyledger.log')));
  }
});
