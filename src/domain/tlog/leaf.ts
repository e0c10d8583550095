/**
 * What a leaf of the ledger's Merkle tree is: one event, in the global order the views read (the streams under
 * `keyledger.`), as the UTF-8 bytes of
 *
 *   canonicalJson({ stream, revision: "<decimal>", type, data, metadata })
 *
 * with ADR 0002's canonical JSON and the event's whole stored metadata (its `hash` and `sig` included) — so an
 * exported event is its own leaf input, and anyone can recompute its leaf hash with SHA-256(0x00 || those bytes).
 */
import { canonicalJson } from '../envelope';
import { fromHex, utf8 } from './bytes';
import { type Hash, leafHash, type Sha256 } from './merkle';

export const leafText = (stream: string, revision: bigint, type: string, data: unknown, metadata: unknown): string =>
  canonicalJson({ stream, revision: revision.toString(), type, data, metadata });

/**
 * The same text assembled from stored text that is canonical JSON already (what the SQLite adapter writes): the
 * members in canonical order around the stored data and metadata, without parsing and serializing them again.
 */
export const leafTextOfStored = (stream: string, revision: bigint, type: string, text: { readonly data: string; readonly metadata: string }): string =>
  `{"data":${text.data},"metadata":${text.metadata},"revision":"${revision}","stream":${JSON.stringify(stream)},"type":${JSON.stringify(type)}}`;

/** The leaf hash of an event as read from a store: over its stored text when the store keeps text, else over its parsed values. */
export const leafHashOfEvent = (
  sha256: Sha256,
  e: {
    readonly leafDigest?: string | undefined;
    readonly streamName: string;
    readonly revision: bigint;
    readonly type: string;
    readonly data: unknown;
    readonly metadata: unknown;
    readonly text?: { readonly data: string; readonly metadata: string } | undefined;
  },
): Hash =>
  // Computed by the store's reading thread from the very text this event was parsed from, when it did (a long read).
  (e.leafDigest !== undefined ? fromHex(e.leafDigest) : undefined) ??
  leafHash(sha256, utf8(e.text ? leafTextOfStored(e.streamName, e.revision, e.type, e.text) : leafText(e.streamName, e.revision, e.type, e.data, e.metadata)));
