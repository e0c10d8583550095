/**
 * Secrets on an EventStoreDB ledger (issue 12), against the wire-level double: the content store keeps one
 * stream per secret outside the ledger's `keyledger.` prefix; the CLI and the library put, get and delete
 * through it; a superseded or deleted ciphertext is no longer read; a ciphertext appended by someone who can
 * write the store is refused (its fingerprint is not the recorded one).
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import * as E from 'fp-ts/Either';
import { eventStoreContent, secretContentStream } from '../../src/infra/eventstore-content';
import { openEsdbStore } from '../../src/infra/esdb-store';
import { openDeployment } from '../../src/library';
import { cliWith } from '../support/cli-inproc';
import { startEsdbDouble } from '../support/esdb-double';
import { rightOf, tempDir } from '../support/fixtures';
import { joinArgs, newNode } from '../support/nodes';
import { pooledCrypto } from '../support/pooled-crypto';

test('secrets on EventStoreDB: put, get, list, delete through the CLI and the library; one content stream per secret', async (t) => {
  t.timeout(60_000);
  const d = await startEsdbDouble({ batchAppend: true });
  try {
    const store = `esdb://127.0.0.1:${d.port}?tls=false`;
    const dir = tempDir('kl-esdb-secrets');
    const n1 = await newNode(dir, 'E1', ['--ledger', store, '--allow-insecure-store']);
    const n2 = await newNode(dir, 'E2', ['--ledger', store, '--allow-insecure-store']);
    t.is((await n1.run('init')).code, 0);
    t.is((await n2.run('init')).code, 1);
    t.is((await n1.run(...joinArgs(n2))).code, 0);
    t.is((await n2.run('start')).code, 0);

    t.is((await cliWith({ stdin: 'v1' }, '-c', n1.file, 'secret', 'put', 'ds/sales')).code, 0);
    t.is((await cliWith({ stdin: 'v2' }, '-c', n2.file, 'secret', 'put', 'ds/sales')).code, 0);
    const got = await cliWith({}, '-c', n1.file, 'secret', 'get', 'ds/sales', '--reveal');
    t.is(got.code, 0, got.stderr);
    t.is(got.stdout, 'v2');
    t.is((await cliWith({}, '-c', n2.file, '--json', 'secret', 'list')).json<unknown[]>().length, 1);

    const lib = rightOf(await openDeployment({ config: n2.file, refreshMs: 0, crypto: pooledCrypto() }));
    rightOf(await lib.encrypt('smtp/password', 'from-the-library'));
    t.is(rightOf(await lib.decrypt('ds/sales')).text(), 'v2');
    rightOf(await lib.close());
    t.is((await cliWith({}, '-c', n1.file, 'secret', 'get', 'smtp/password', '--reveal')).stdout, 'from-the-library');

    // Someone who can write the store appends another ciphertext under the recorded fingerprint: refused.
    const raw = rightOf(openEsdbStore(store));
    const content = eventStoreContent(raw);
    const list = (await cliWith({}, '-c', n1.file, '--json', 'secret', 'list')).json<Array<{ name: string; fingerprint: string }>>();
    const sales = list.find((x) => x.name === 'ds/sales')!;
    const other = rightOf(await content.read('default', 'smtp/password', list.find((x) => x.name === 'smtp/password')!.fingerprint as never)());
    rightOf(
      await raw.append(
        secretContentStream('default', 'ds/sales'),
        [{ id: randomUUID(), type: 'SecretCiphertext', data: { fingerprint: sales.fingerprint, jwe: other }, metadata: {} }],
        'any',
      )(),
    );
    const forged = await cliWith({}, '-c', n1.file, 'secret', 'get', 'ds/sales', '--reveal');
    t.is(forged.code, 4, forged.stderr);
    t.is(forged.stdout, '');

    t.is((await cliWith({}, '-c', n1.file, 'secret', 'delete', 'smtp/password')).code, 0);
    const removed = await content.read('default', 'smtp/password', list.find((x) => x.name === 'smtp/password')!.fingerprint as never)();
    t.deepEqual(removed, E.right(undefined), 'a deleted ciphertext is no longer read');
    await raw.close();

    const v = await n1.run('verify', '--signatures');
    t.is(v.code, 0, `the content streams are not ledger streams: ${v.stdout}`);
  } finally {
    await d.stop();
  }
});
