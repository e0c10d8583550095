/**
 * A child process that runs `init` exactly as the CLI wires it, on a store
 * that SIGKILLs this very process right before or right after its k-th append.
 * Usage: node init-child.js <config> <before|after> <k>
 */
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { sha256Hex } from '../../src/infra/sha256';
import * as E from 'fp-ts/Either';
import { initInstance } from '../../src/commands/instance';
import { loadConfig } from '../../src/infra/config';
import { fileKeystore } from '../../src/infra/file-keystore';
import { pooledCrypto } from './pooled-crypto';
import { openStore } from '../../src/infra/open-store';
import { crashingStore } from './crashing-store';

const main = async (): Promise<void> => {
  const [configFile, when, k] = process.argv.slice(2);
  const cfg = loadConfig(configFile!);
  if (E.isLeft(cfg)) throw new Error(cfg.left.message);
  const store = await openStore(cfg.right.storeConnection, path.dirname(cfg.right.file));
  if (E.isLeft(store)) throw new Error('store');
  const killer = crashingStore(store.right, Number(k), when as 'before' | 'after', () => {
    process.kill(process.pid, 'SIGKILL');
  });
  const id = randomUUID();
  await initInstance(
    {
      store: killer,
      crypto: pooledCrypto(),
      keystore: fileKeystore(cfg.right.instance.keystorePath),
      ctx: { actor: 'child@test', command: 'init', correlationId: id, causationId: id, now: () => new Date(), newId: randomUUID },
      digest: sha256Hex,
      host: 'test-host',
    },
    cfg.right.instance,
  );
  process.stdout.write('completed without being killed\n');
};

void main();
