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
import { describeStoreError, type EventStore, type StoreError } from '../ports/event-store';

export const CONTENT_STREAM_PREFIX = 'keyledger-content.';

export const secretContentStream = (deploymentId: string, name: string): string =>
  `${CONTENT_STREAM_PREFIX}${deploymentId}.${Buffer.from(name, 'utf8').toString('base64url')}`;

const PAGE = 100;

export const eventStoreContent = (store: EventStore): ContentStore => {
  const location = `${store.endpoint} (${CONTENT_STREAM_PREFIX}* streams)`;
  const fail = (e: StoreError): ContentStoreError => ({ _tag: 'ContentStoreError', location, message: describeStoreError(e) });
  const append = async (stream: string, type: string, data: Record<string, string>): Promise<E.Either<ContentStoreError, void>> => {
    const r = await store.append(stream, [{ id: randomUUID(), type, data, metadata: {} }], 'any')();
    return E.isLeft(r) ? E.left(fail(r.left)) : E.right(undefined);
  };
  return {
    location,
    write: (deploymentId, name, fingerprint, jwe) => () => append(secretContentStream(deploymentId, name), 'SecretCiphertext', { fingerprint, jwe }),
    remove: (deploymentId, name, fingerprint) => () => append(secretContentStream(deploymentId, name), 'SecretCiphertextRemoved', { fingerprint }),
    read: (deploymentId: string, name: string, fingerprint: Fingerprint) => async () => {
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
    },
    close: () => undefined,
  };
};
