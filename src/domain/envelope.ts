/**
 * The envelope every stored event carries, and the per-stream hash chain.
 *
 * hash(event) = SHA-256 over the canonical JSON (sorted keys, no spaces) of
 *   { stream, revision, type, data, metadata without `hash` }
 * and metadata.prevHash is the hash of the event before it in the same stream
 * (GENESIS for revision 0). Editing any field, reordering, or removing an
 * event from the middle of a stream breaks the chain at that revision.
 * See docs/adr/0002-hash-chain.md for what it does not detect.
 * The digest (SHA-256 hex, src/infra/sha256.ts) is injected: no crypto here.
 */
import * as E from 'fp-ts/Either';
import * as t from 'io-ts';
import { hasUndefinedMembers } from './exact';
import { decodeProblems } from './decode-errors';
import { LedgerEvent } from './events';
import { type InstallationId, IsoDate, NonEmptyString, type Thumbprint } from './ids';
import type { EventData, Position, RecordedEvent } from './recorded';

export const SCHEMA_VERSION = 1;
export const GENESIS = '0'.repeat(64);

const Sha256Hex = t.refinement(t.string, (s) => /^[0-9a-f]{64}$/.test(s), 'Sha256Hex');

export const EventMetadata = t.type({
  eventId: t.string,
  occurredAt: IsoDate,
  actor: NonEmptyString,
  /** The command that caused the event (`init`, `start`, `join`, …). */
  command: t.string,
  correlationId: t.string,
  causationId: t.string,
  schemaVersion: t.literal(SCHEMA_VERSION),
  prevHash: Sha256Hex,
  hash: Sha256Hex,
});
/** The metadata of an event; `sig` (src/domain/signatures.ts) when a member signed it. Checked by the code that trusts it. */
export type EventMetadata = t.TypeOf<typeof EventMetadata> & { readonly sig?: unknown };

/** What a command supplies for the events it appends: who, when, why. Ids and clock come from outside. */
export interface CommandContext {
  readonly actor: string;
  readonly command: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly now: () => Date;
  readonly newId: () => string;
}

/** A decoded event as read from the store. */
export interface StoredEvent<Ev extends LedgerEvent = LedgerEvent> {
  readonly stream: string;
  readonly revision: bigint;
  readonly position: Position;
  readonly event: Ev;
  readonly metadata: EventMetadata;
}

/** A stored event that is not a valid ledger event: named by stream and revision. */
export interface CorruptEvent {
  readonly _tag: 'CorruptEvent';
  readonly stream: string;
  readonly revision: bigint;
  readonly eventType: string;
  readonly problem: string;
  /** Set when the event's content, its hash link or the stream's revisions were altered (not merely unreadable). */
  readonly tampered?: true;
}

/** An event that failed validation before it was written: nothing was appended. */
export interface InvalidEvent {
  readonly _tag: 'InvalidEvent';
  readonly stream: string;
  readonly eventType: string;
  readonly problem: string;
}

// ─── Canonical JSON ───────────────────────────────────────────────────────

/**
 * Whether `JSON.stringify` already writes `value` canonically: plain objects whose own keys come in sorted order (as
 * objects parsed from canonical text do), arrays without holes or undefined, strings, finite numbers, booleans, null.
 * Undefined object members are fine (both leave them out); anything else (a Date, a function, a BigInt) is not.
 */
const stringifiesCanonically = (value: unknown): boolean => {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      break;
    default:
      return false;
  }
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) return false;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (v === undefined || !stringifiesCanonically(v)) return false;
    }
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  for (let i = 1; i < keys.length; i++) if (!(keys[i - 1]! < keys[i]!)) return false;
  for (const k of keys) {
    const v = record[k];
    if (v !== undefined && !stringifiesCanonically(v)) return false;
  }
  return true;
};

export const canonicalJson = (value: unknown): string => {
  // Most values are already in canonical order (parsed from stored canonical text): the native serializer writes them.
  if (typeof value === 'object' && value !== null && stringifiesCanonically(value)) return JSON.stringify(value);
  return canonicalJsonByMember(value);
};

/** The canonical JSON, member by member (test/domain/envelope.unit.ts holds the fast route above to the same text). */
const canonicalJsonByMember = (value: unknown): string => {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number in canonical JSON');
    return JSON.stringify(value);
  }
  // Written with plain loops: this runs for every event of every replay (no intermediate arrays of entries).
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  // Keys in UTF-16 code-unit order (the default sort's order for strings), members that are undefined left out.
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = record[k];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${out}}`;
};

// ─── Signatures (what they cover: src/domain/signatures.ts) ────────────────

export const EVENT_SIGNATURE_CONTEXT = 'keyledger-event-signature/v1\n';

/**
 * `canonicalJson({ stream, revision, type, data, metadata })` (what the hash and the signature cover) from the data's
 * canonical JSON, already made: the members in canonical order (data, metadata, revision, stream, type).
 */
const envelopeJson = (stream: string, revision: bigint, type: string, dataJson: string, metadata: object): string =>
  `{"data":${dataJson},"metadata":${canonicalJson(metadata)},"revision":"${revision}","stream":${JSON.stringify(stream)},"type":${JSON.stringify(type)}}`;

/** The text an event's signature covers. */
export const eventSigningText = (
  stream: string,
  revision: bigint,
  type: string,
  data: unknown,
  metadata: Omit<EventMetadata, 'hash' | 'sig'> & { readonly hash?: unknown; readonly sig?: unknown },
): string => {
  const { hash: _hash, sig: _sig, ...rest } = metadata;
  return EVENT_SIGNATURE_CONTEXT + envelopeJson(stream, revision, type, canonicalJson(data), rest);
};

/** Signs events for the handler: who signs, and the signature over a text. */
export interface EventSigner {
  readonly installationId: InstallationId;
  readonly thumbprint: Thumbprint;
  readonly sign: (text: string) => string;
}

/** A digest of text, as lowercase hex (the chain uses SHA-256). */
export type Digest = (text: string) => string;

export const hashEvent = (digest: Digest, stream: string, revision: bigint, type: string, data: unknown, metadata: Omit<EventMetadata, 'hash'>): string =>
  digest(envelopeJson(stream, revision, type, canonicalJson(data), metadata));

/**
 * Where a value failed and what was expected — never the value itself (it
 * could be key material in a malformed event).
 */
export const problems = (errors: t.Errors): string => {
  const lines = decodeProblems(errors).map((p) => `${p.path === '' ? 'the value' : p.path}: expected ${p.innermost}${p.missing ? ' (missing)' : ''}`);
  return [...new Set(lines)].slice(0, 3).join('; ');
};

const CODECS: ReadonlyMap<string, t.Mixed> = new Map(LedgerEvent.types.map((c) => [c.props.type.value, c as t.Mixed]));

// ─── Write side ───────────────────────────────────────────────────────────

/**
 * Validates events and seals them into the stream's hash chain, ready to append
 * after `lastRevision` (or as the first events when `'no_stream'`).
 * An event that does not match its codec exactly (including extra fields) is refused.
 */
export const sealEvents = (
  stream: string,
  last: { revision: bigint | 'no_stream'; hash: string },
  events: ReadonlyArray<LedgerEvent>,
  ctx: CommandContext,
  digest: Digest,
  /** Signs each event's text (src/domain/signatures.ts) as the acting member; absent: unsigned. */
  signer?: EventSigner,
): E.Either<InvalidEvent, ReadonlyArray<EventData>> => {
  const out: EventData[] = [];
  let prevHash = last.hash;
  let revision = last.revision === 'no_stream' ? -1n : last.revision;
  for (const ev of events) {
    const codec = CODECS.get(ev.type);
    const decoded = codec ? (codec.decode(ev) as t.Validation<LedgerEvent>) : LedgerEvent.decode(ev);
    if (E.isLeft(decoded)) return E.left({ _tag: 'InvalidEvent', stream, eventType: ev.type, problem: problems(decoded.left) });
    // The data's canonical JSON once, for the check below, the signature and the hash (a re-creation's batch event is large).
    const dataJson = canonicalJson(ev.data);
    // io-ts hands back the very object when it strips nothing: only a copy can differ.
    const kept = decoded.right.data === ev.data || canonicalJson(decoded.right.data) === dataJson;
    if (decoded.right.type !== ev.type || !kept)
      return E.left({ _tag: 'InvalidEvent', stream, eventType: ev.type, problem: 'the event carries fields its schema does not define' });
    revision += 1n;
    const eventId = ctx.newId();
    const base = {
      eventId,
      occurredAt: ctx.now().toISOString(),
      actor: ctx.actor,
      command: ctx.command,
      correlationId: ctx.correlationId,
      causationId: ctx.causationId,
      schemaVersion: SCHEMA_VERSION,
      prevHash,
    } as Omit<EventMetadata, 'hash'>;
    const signed = signer
      ? {
          ...base,
          sig: {
            alg: 'Ed25519',
            by: signer.installationId,
            key: signer.thumbprint,
            value: signer.sign(EVENT_SIGNATURE_CONTEXT + envelopeJson(stream, revision, ev.type, dataJson, base)),
          },
        }
      : base;
    const hash = digest(envelopeJson(stream, revision, ev.type, dataJson, signed));
    const metadata = { ...signed, hash };
    if (!EventMetadata.is(metadata)) return E.left({ _tag: 'InvalidEvent', stream, eventType: ev.type, problem: 'invalid metadata (actor or clock)' });
    out.push({ id: eventId, type: ev.type, data: ev.data, metadata });
    prevHash = hash;
  }
  return E.right(out);
};

// ─── Read side ────────────────────────────────────────────────────────────

/** Decodes one stored record: the event by its codec, the metadata by its. Never throws. */
export const decodeRecorded = (r: RecordedEvent): E.Either<CorruptEvent, StoredEvent> => {
  const corrupt = (problem: string): E.Either<CorruptEvent, StoredEvent> =>
    E.left({ _tag: 'CorruptEvent', stream: r.streamName, revision: r.revision, eventType: r.type, problem });
  const codec = CODECS.get(r.type);
  if (!codec) return corrupt(`unknown event type "${r.type}"`);
  const given = { type: r.type, data: r.data };
  // Most events already have their decoded shape: `is` checks it without building a copy (a fleet's catch-up reads
  // millions); the rest — an older shape to upcast, members the schema does not define (stripped) — are decoded.
  const asIs = codec.is(given) && !hasUndefinedMembers(codec, given);
  const ev = asIs ? E.right(given as LedgerEvent) : (codec.decode(given) as t.Validation<LedgerEvent>);
  if (E.isLeft(ev)) return corrupt(`its data does not match the ${r.type} schema: ${problems(ev.left)}`);
  const md = EventMetadata.is(r.metadata) ? E.right(r.metadata) : EventMetadata.decode(r.metadata);
  if (E.isLeft(md)) return corrupt(`its metadata is invalid: ${problems(md.left)}`);
  return E.right({ stream: r.streamName, revision: r.revision, position: r.position, event: ev.right, metadata: md.right });
};

/**
 * The text `hashEvent` hashes, assembled from stored text that is already canonical JSON: the members in
 * canonical order, the metadata's `hash` member cut out (in canonical metadata it follows `eventId`, never
 * first, and `,"hash":"` cannot occur inside a JSON string, whose quotes are escaped). Undefined when the
 * text has no such member. Only ever a faster route to the same digest: a mismatch falls back to
 * re-serializing the parsed values (text written by other writers need not be canonical).
 */
export const hashedText = (stream: string, revision: bigint, type: string, text: { readonly data: string; readonly metadata: string }): string | undefined => {
  const at = text.metadata.indexOf(',"hash":"');
  const end = at + 9 + 64;
  if (at < 0 || text.metadata.charCodeAt(end) !== 34 /* " */) return undefined;
  const metadata = text.metadata.slice(0, at) + text.metadata.slice(end + 1);
  return `{"data":${text.data},"metadata":${metadata},"revision":"${revision}","stream":${JSON.stringify(stream)},"type":${JSON.stringify(type)}}`;
};

/** Re-computes an event's hash and checks it links to `prevHash`. */
export const checkLink = (
  e: {
    stream: string;
    revision: bigint;
    type: string;
    data: unknown;
    metadata: EventMetadata;
    readonly text?: { readonly data: string; readonly metadata: string } | undefined;
    /** The digest of `text` as hashed, computed by the store's reader (see RecordedEvent). */
    readonly textDigest?: string | null | undefined;
  },
  prevHash: string,
  digest: Digest,
): 'ok' | 'hash-mismatch' | 'chain-broken' => {
  const hash = e.metadata.hash;
  if (e.textDigest !== hash) {
    const fast = e.text && e.textDigest === undefined ? hashedText(e.stream, e.revision, e.type, e.text) : undefined;
    if (fast === undefined || digest(fast) !== hash) {
      const { hash: _hash, ...rest } = e.metadata; // the slow route only: no copy per event when the text is canonical
      if (hashEvent(digest, e.stream, e.revision, e.type, e.data, rest) !== hash) return 'hash-mismatch';
    }
  }
  if (e.metadata.prevHash !== prevHash) return 'chain-broken';
  return 'ok';
};
