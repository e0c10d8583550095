/**
 * The content store of an EventStoreDB ledger (issue 12): one stream per secret,
 * `keyledger-content.<deploymentId>.<base64url(name)>`, beside the ledger's streams and outside its
 * `keyledger.` prefix (so neither verify nor the views read it). Each ciphertext is a `SecretCiphertext`
 * event ({ fingerprint, jwe }); removing one appends `SecretCiphertextRemoved` ({ fingerprint }), after which
 * it is no longer read — the stream is append-only, so the superseded ciphertext stays in it, encrypted and
 * unreferenced, until an operator truncates the stream (ADR 0011). Written over the event-store port, so the
 * same code runs against the EventStoreDB adapter (and its wire double in the tests).
 *
 * Rows are not trusted, as in SQLite: src/commands/secrets.ts checks each against the recorded fingerprint.
 */
import { randomUUID } from 'node:crypto';
import * as E from 'fp-ts/Either';
import type { Fingerprint } from '../domain/events';
import type { ContentStore, ContentStoreError } from '../ports/content';
import { describeStoreError, type EventStore, type Position, type StoreError } from '../ports/event-store';

export const CONTENT_STREAM_PREFIX = 'keyledger-content.';

export const secretContentStream = (deploymentId: string, name: string): string =>
  `${CONTENT_STREAM_PREFIX}${deploymentId}.${Buffer.from(name, 'utf8').toString('base64url')}`;

const PAGE = 100;

/**
 * Appends (or reads) in flight at once for a batch. EventStoreDB has no transaction across streams, and each secret
 * has its own: a batch is many independent single-stream appends, issued together over the one connection (gRPC
 * multiplexes them; on the BatchAppend path they share its stream) and all awaited before the batch counts as written.
 */
const IN_FLIGHT = 32;

/** `f` over every item, at most `limit` at a time; the results in order, or the first failure (in order). */
const eachBounded = async <A, L, R>(items: ReadonlyArray<A>, limit: number, f: (a: A) => Promise<E.Either<L, R>>): Promise<E.Either<L, R[]>> => {
  const out = new Array<E.Either<L, R> | undefined>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  const rights: R[] = [];
  for (const r of out) {
    if (r === undefined) throw new Error('programmer error: an item was skipped');
    if (E.isLeft(r)) return r;
    rights.push(r.right);
  }
  return E.right(rights);
};

export const eventStoreContent = (store: EventStore): ContentStore => {
  const location = `${store.endpoint} (${CONTENT_STREAM_PREFIX}* streams)`;
  const fail = (e: StoreError): ContentStoreError => ({ _tag: 'ContentStoreError', location, message: describeStoreError(e) });
  const append = async (stream: string, type: string, data: Record<string, string>): Promise<E.Either<ContentStoreError, void>> => {
    const r = await store.append(stream, [{ id: randomUUID(), type, data, metadata: {} }], 'any')();
    return E.isLeft(r) ? E.left(fail(r.left)) : E.right(undefined);
  };
  const write = (deploymentId: string, name: string, fingerprint: Fingerprint, jwe: string) =>
    append(secretContentStream(deploymentId, name), 'SecretCiphertext', { fingerprint, jwe });
  const remove = (deploymentId: string, name: string, fingerprint: Fingerprint) =>
    append(secretContentStream(deploymentId, name), 'SecretCiphertextRemoved', { fingerprint });
  const read = async (deploymentId: string, name: string, fingerprint: Fingerprint): Promise<E.Either<ContentStoreError, string | undefined>> => {
    const stream = secretContentStream(deploymentId, name);
    let removed = false;
    for (let from: bigint | undefined; ; ) {
      const page = await store.readStream(stream, { direction: 'backwards', maxCount: PAGE, ...(from !== undefined ? { fromRevision: from } : {}) })();
      if (E.isLeft(page)) return E.left(fail(page.left));
      for (const r of page.right) {
        const d = (typeof r.data === 'object' && r.data !== null ? r.data : {}) as Record<string, unknown>;
        if (d['fingerprint'] !== fingerprint) continue;
        if (r.type === 'SecretCiphertextRemoved') removed = true;
        else if (r.type === 'SecretCiphertext' && typeof d['jwe'] === 'string') return E.right(removed ? undefined : d['jwe']);
      }
      const last = page.right[page.right.length - 1];
      if (page.right.length < PAGE || !last || last.revision === 0n) return E.right(undefined);
      from = last.revision - 1n;
    }
  };
  return {
    location,
    write: (deploymentId, name, fingerprint, jwe) => () => write(deploymentId, name, fingerprint, jwe),
    remove: (deploymentId, name, fingerprint) => () => remove(deploymentId, name, fingerprint),
    read: (deploymentId, name, fingerprint) => () => read(deploymentId, name, fingerprint),
    // A re-creation's batch: one append (or read) per secret stream, IN_FLIGHT at a time; nothing spans two streams.
    readMany: (deploymentId, rows) => () => eachBounded(rows, IN_FLIGHT, (r) => read(deploymentId, r.name, r.fingerprint)),
    writeMany: (deploymentId, rows) => async () => {
      const r = await eachBounded(rows, IN_FLIGHT, (x) => write(deploymentId, x.name, x.fingerprint, x.jwe));
      return E.isLeft(r) ? r : E.right(undefined);
    },
    removeMany: (deploymentId, rows) => async () => {
      const r = await eachBounded(rows, IN_FLIGHT, (x) => remove(deploymentId, x.name, x.fingerprint));
      return E.isLeft(r) ? r : E.right(undefined);
    },
    // Deleting the encrypted content: each secret's stream deleted (soft: it reads as empty, a secret of the same name can be
    // put again later, and the server drops the events at its next scavenge — docs/adr/0015).
    destroy: (deploymentId, names) => async () => {
      const del = store.deleteStream?.bind(store);
      if (!del) return E.left({ _tag: 'ContentStoreError', location, message: 'this store cannot delete streams' });
      for (const name of names) {
        const r = await del(secretContentStream(deploymentId, name))();
        if (E.isLeft(r)) return E.left(fail(r.left));
      }
      return E.right(undefined);
    },
    destroyAll: (deploymentId) => async () => {
      const del = store.deleteStream?.bind(store);
      if (!del) return E.left({ _tag: 'ContentStoreError', location, message: 'this store cannot delete streams' });
      // The deployment's content streams, found in $all (a ciphertext a crash left unnamed by any event included).
      const prefix = `${CONTENT_STREAM_PREFIX}${deploymentId}.`;
      const streams = new Set<string>();
      for (let after: Position | undefined; ; ) {
        const page = await store.readAll({ ...(after ? { after } : {}), maxCount: 1000, streamPrefixes: [prefix] })();
        if (E.isLeft(page)) return E.left(fail(page.left));
        for (const r of page.right) streams.add(r.streamName);
        const last = page.right[page.right.length - 1];
        if (page.right.length < 1000 || !last) break;
        after = last.position;
      }
      let found = 0;
      for (const stream of streams) {
        const live = await store.readStream(stream, { direction: 'backwards', maxCount: 1 })();
        if (E.isLeft(live)) return E.left(fail(live.left));
        if (live.right.length === 0) continue; // deleted already: its events wait for the server's scavenge
        found++;
        const r = await del(stream)();
        if (E.isLeft(r)) return E.left(fail(r.left));
      }
      return E.right(found);
    },
    close: () => undefined,
  };
};
