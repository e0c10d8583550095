/**
 * An initialization that stopped after its n-th append (a crash between two
 * steps), run in process through the real command on the node's own config.
 */
import type { ExecutionContext } from 'ava';
import { initInstance } from '../../src/commands/instance';
import { loadConfig } from '../../src/infra/config';
import { crashingStore, SimulatedCrash } from './crashing-store';
import { depsFor, openTestStore, rightOf } from './fixtures';
import { ledgerFile, type TestNode } from './nodes';

export const initStoppedAfter = async (t: ExecutionContext, node: TestNode, appends: number): Promise<void> => {
  const cfg = rightOf(loadConfig(node.file));
  const store = openTestStore(ledgerFile(node.dir));
  await t.throwsAsync(initInstance(depsFor(crashingStore(store, appends, 'after'), cfg.instance), cfg.instance), { instanceOf: SimulatedCrash });
  await store.close();
};
