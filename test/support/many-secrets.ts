/**
 * Seeds many secrets fast (the CLI's per-secret path runs a whole command per secret): the member's key proved as
 * `secret put` proves it, each value sealed and written to the content store, then one batched, signed append of
 * every SecretPut to the content stream — the same events and rows `secret put` would leave.
 */
import * as E from 'fp-ts/Either';
import { handleCommand } from '../../src/commands/handler';
import { proverFor, type SecretDeps, secretAggregates } from '../../src/commands/secrets';
import type { ContentEvent, SecretName } from '../../src/domain/events';
import { loadConfig } from '../../src/infra/config';
import { contentCipher } from '../../src/infra/content-cipher';
import { fileKeystore } from '../../src/infra/file-keystore';
import { sha256Hex } from '../../src/infra/sha256';
import { openSqliteContent } from '../../src/infra/sqlite-content';
import { aContext, openTestStore, rightOf } from './fixtures';
import { ledgerFile, type TestNode } from './nodes';
import { pooledCrypto } from './pooled-crypto';

export const secretValue = (i: number): string => `Data Source=sql${i % 7};Initial Catalog=db${i};User ID=rs;Password=p-${i}-${'x'.repeat(i % 40)}`;
export const secretName = (i: number): string => `app/datasource/${String(i).padStart(5, '0')}`;

export const seedSecrets = async (n: TestNode, count: number): Promise<void> => {
  const config = rightOf(loadConfig(n.file));
  const store = openTestStore(ledgerFile(n.dir));
  const content = rightOf(openSqliteContent(ledgerFile(n.dir)));
  try {
    const deps: SecretDeps = {
      store,
      crypto: pooledCrypto(),
      keystore: fileKeystore(config.instance.keystorePath),
      ctx: aContext('seed'),
      digest: sha256Hex,
      host: 'test-host',
      content,
      cipher: contentCipher(),
    };
    const prove = proverFor(deps, config.instance);
    const dep = config.instance.deploymentId;
    const r = await handleCommand(deps, secretAggregates(config.instance), async (l) => {
      const proven = await prove(l);
      if (E.isLeft(proven)) return proven;
      const events: ContentEvent[] = [];
      for (let i = 0; i < count; i++) {
        const name = secretName(i) as SecretName;
        const jwe = deps.cipher.seal(proven.right.key, Buffer.from(secretValue(i)), { deploymentId: dep, name, keyVersion: proven.right.keyVersion });
        const fingerprint = deps.cipher.fingerprint(jwe);
        rightOf(await content.write(dep, name, fingerprint, jwe)());
        events.push({
          type: 'SecretPut',
          data: { deploymentId: dep, name, keyVersion: proven.right.keyVersion, fingerprint, previousFingerprint: null, putBy: config.instance.installationId },
        });
      }
      return E.right({ append: { to: 'content' as const, events, signer: proven.right.signer }, result: undefined });
    });
    if (E.isLeft(r)) throw new Error(`seeding failed: ${JSON.stringify(r.left)}`);
  } finally {
    content.close();
    await store.close();
  }
};
