/**
 * Events as the store sees them: what the domain seals (`EventData`) and what
 * it decodes (`RecordedEvent`, at a global `Position`). Plain shapes with no
 * behaviour; they live here so the domain needs nothing from src/ports, and
 * the event-store port (src/ports/event-store.ts) re-exports them.
 */

/** A global position in the store's total order ($all). */
export interface Position {
  readonly commit: bigint;
  readonly prepare: bigint;
}

/** An event to append. `data` and `metadata` are JSON values. */
export interface EventData {
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: unknown;
  /**
   * The stored JSON text of data and metadata, when the store keeps text (SQLite): if it is canonical (as
   * keyledger writes it), the hash is checked over it without serializing the parsed values again.
   */
  readonly text?: { readonly data: string; readonly metadata: string };
}

/** An event as read from the store, before decoding. */
export interface RecordedEvent {
  readonly id: string;
  readonly streamName: string;
  readonly revision: bigint;
  readonly position: Position;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: unknown;
  /**
   * The stored JSON text of data and metadata, when the store keeps text (SQLite): if it is canonical (as
   * keyledger writes it), the hash is checked over it without serializing the parsed values again.
   */
  readonly text?: { readonly data: string; readonly metadata: string };
  /**
   * The SHA-256 of the stored text as the hash chain hashes it (`hashedText`), when the store's reader computed
   * it on another thread, from the very text this event was parsed from (null: that text is not canonical).
   */
  readonly textDigest?: string | null | undefined;
  /** Its Merkle tree leaf hash (hex, ADR 0018), when the store's reader computed it on another thread from the same text. */
  readonly leafDigest?: string | undefined;
}
