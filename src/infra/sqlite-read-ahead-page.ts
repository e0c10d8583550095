/**
 * How a read-ahead page crosses from the reading thread (sqlite-read-ahead-worker.ts) to the folding one: as two
 * strings, not as an array of strings (cloned one by one, which cost more than parsing them). `heads` is JSON —
 * position, revision, digest, stream, event id, type and the two text lengths of each row — so the strings
 * kept from it (stream names end up in views and chain heads) are its own, not slices of a page; `texts` is
 * every row's data and metadata text, back to back, parsed by the reader and then let go.
 */
import { hash } from 'node:crypto';
import { hashedText } from '../domain/envelope';
import { leafTextOfStored } from '../domain/tlog/leaf';

const LEAF_PREFIX = Buffer.from([0]);

/** One stored row: [global position, stream, revision, event id, type, data text, metadata text]. */
export type ReadAheadRow = [number, string, number, string, string, string, string];

export type ReadAheadMessage =
  | { readonly heads: string; readonly texts: string; readonly count: number }
  | { readonly error: { readonly message: string; readonly code: string | undefined } };

type Head = [number, number, string | null, string, string, string, number, number, string];

/** A page, each row with the SHA-256 of its text as the hash chain hashes it (null: the text is not canonical). */
export const pageText = (rows: ReadonlyArray<ReadAheadRow>): { heads: string; texts: string; count: number } => {
  const heads: Head[] = [];
  const texts: string[] = [];
  for (const [position, stream, revision, id, type, data, metadata] of rows) {
    const text = hashedText(stream, BigInt(revision), type, { data, metadata });
    // Its Merkle tree leaf hash too (ADR 0018), over the same text: a verify recomputing the tree only combines them.
    const leaf = hash('sha256', Buffer.concat([LEAF_PREFIX, Buffer.from(leafTextOfStored(stream, BigInt(revision), type, { data, metadata }), 'utf8')]), 'hex');
    heads.push([position, revision, text === undefined ? null : hash('sha256', text, 'hex'), stream, id, type, data.length, metadata.length, leaf]);
    texts.push(data, metadata);
  }
  return { heads: JSON.stringify(heads), texts: texts.join(''), count: rows.length };
};

/** Each row of a page, with its digest (null: the text is not canonical), in order; stops at the first `false`. */
export const eachRow = (
  page: { heads: string; texts: string },
  f: (
    position: number,
    stream: string,
    revision: number,
    id: string,
    type: string,
    data: string,
    metadata: string,
    digest: string | null,
    leaf: string,
  ) => boolean,
): void => {
  let at = 0;
  for (const [position, revision, digest, stream, id, type, dataLength, metadataLength, leaf] of JSON.parse(page.heads) as Head[]) {
    const data = page.texts.slice(at, at + dataLength);
    const metadata = page.texts.slice(at + dataLength, at + dataLength + metadataLength);
    at += dataLength + metadataLength;
    if (!f(position, stream, revision, id, type, data, metadata, digest, leaf)) return;
  }
};
