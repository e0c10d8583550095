/**
 * C2SP signed notes (c2sp.org/signed-note), as golang.org/x/mod/sumdb/note reads and writes them, and the
 * timestamped Ed25519 cosignatures of c2sp.org/tlog-cosignature:
 *
 *   <text, ending in a newline>
 *   <blank line>
 *   — <key name> <base64(4-byte key ID || signature)>      one line per signature
 *
 * A key is named by its key name and key ID = SHA-256(name || 0x0A || type || 32-byte Ed25519 public key)[:4]
 * (big endian): type 0x01 for an Ed25519 note signature over the text itself, type 0x04 for a cosignature over
 * "cosignature/v1\ntime <POSIX seconds>\n" + text, whose signature bytes are the 8-byte big-endian timestamp then
 * the Ed25519 signature. A verifier key ("vkey") is `<name>+<key ID, 8 hex digits>+<base64(type || public key)>`.
 *
 * Opening a note follows the spec: signatures by unknown keys are ignored, a signature by a known key must
 * verify (else the whole note is refused), and at least one must. Pure: SHA-256 and Ed25519 are injected.
 */
import * as E from 'fp-ts/Either';
import { concatBytes, fromBase64, toBase64, utf8 } from './bytes';
import type { Sha256 } from './merkle';

export const ED25519_NOTE = 0x01;
export const ED25519_COSIGNATURE = 0x04;
export type NoteKeyType = typeof ED25519_NOTE | typeof ED25519_COSIGNATURE;

export interface NoteKey {
  readonly name: string;
  readonly type: NoteKeyType;
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  readonly keyId: number;
}

/** Ed25519 verification of the UTF-8 bytes of `message`, injected. */
export type Ed25519Verify = (publicKey: Uint8Array, message: string, signature: Uint8Array) => boolean;

export type NoteProblem =
  | { readonly _tag: 'MalformedNote'; readonly detail: string }
  | { readonly _tag: 'BadSignature'; readonly name: string; readonly keyId: number }
  | { readonly _tag: 'AmbiguousKey'; readonly name: string; readonly keyId: number }
  | { readonly _tag: 'NoKnownSignature'; readonly unknown: number };

export const describeNoteProblem = (p: NoteProblem): string => {
  switch (p._tag) {
    case 'MalformedNote':
      return `not a signed note: ${p.detail}`;
    case 'BadSignature':
      return `the signature of ${p.name} (key ${hex8(p.keyId)}) does not verify`;
    case 'AmbiguousKey':
      return `two of the given keys are named ${p.name} with key ID ${hex8(p.keyId)}`;
    case 'NoKnownSignature':
      return `no signature by a known key (${p.unknown} by other keys)`;
  }
};

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');

/** Key names: non-empty, no Unicode white space, no plus sign (the spec's rule). */
export const isKeyName = (name: string): boolean => name.length > 0 && !/[\s+]/u.test(name) && !hasControl(name) && isWellFormed(name);

/** Any ASCII control character other than a newline. */
const hasControl = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x0a) || c === 0x7f) return true;
  }
  return false;
};
const isWellFormed = (s: string): boolean => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

export const keyIdOf = (sha256: Sha256, name: string, type: NoteKeyType, publicKey: Uint8Array): number => {
  const h = sha256(concatBytes(utf8(name), new Uint8Array([0x0a, type]), publicKey));
  return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
};

export const noteKey = (sha256: Sha256, name: string, type: NoteKeyType, publicKey: Uint8Array): NoteKey => ({
  name,
  type,
  publicKey,
  keyId: keyIdOf(sha256, name, type, publicKey),
});

export const formatVerifierKey = (k: NoteKey): string => `${k.name}+${hex8(k.keyId)}+${toBase64(concatBytes(new Uint8Array([k.type]), k.publicKey))}`;

/** A vkey as `formatVerifierKey` writes it; refused when malformed, of another algorithm, or its key ID does not match. */
export const parseVerifierKey = (sha256: Sha256, vkey: string): E.Either<string, NoteKey> => {
  // The name and the key ID end at the first two plus signs; the base64 key may hold more.
  const m = /^([^+]*)\+([^+]*)\+(.*)$/s.exec(vkey);
  if (!m) return E.left('a verifier key is <name>+<key ID>+<base64 key>');
  const [, name = '', id = '', key64 = ''] = m;
  if (!isKeyName(name)) return E.left('its name is empty or holds spaces, control characters or plus signs');
  if (!/^[0-9a-f]{8}$/.test(id)) return E.left('its key ID is not 8 lowercase hex digits');
  const key = fromBase64(key64);
  if (key?.length !== 33) return E.left('its key is not base64 of a type byte and a 32-byte Ed25519 key');
  const type = key[0];
  if (type !== ED25519_NOTE && type !== ED25519_COSIGNATURE)
    return E.left(`its signature type 0x${(type ?? 0).toString(16)} is not Ed25519 (0x01) or a cosignature (0x04)`);
  const k = noteKey(sha256, name, type, key.subarray(1));
  return k.keyId === Number.parseInt(id, 16) ? E.right(k) : E.left('its key ID does not match its name and key');
};

// ─── Reading and writing notes ────────────────────────────────────────────

export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  /** The bytes after the key ID: an Ed25519 signature, or a timestamp and one for a cosignature. */
  readonly signature: Uint8Array;
  readonly line: string;
}

export interface Note {
  /** The signed text, ending in a newline. */
  readonly text: string;
  readonly signatures: ReadonlyArray<NoteSignature>;
}

const SIGN_PREFIX = '— ';
const MAX_SIGNATURES = 100;

export const parseNote = (note: string): E.Either<NoteProblem, Note> => {
  const malformed = (detail: string): E.Either<NoteProblem, never> => E.left({ _tag: 'MalformedNote', detail });
  if (hasControl(note) || !isWellFormed(note)) return malformed('it holds control characters or invalid text');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) return malformed('no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) return malformed('no signature lines, or the last one does not end in a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) return malformed(`more than ${MAX_SIGNATURES} signatures`);
  const signatures: NoteSignature[] = [];
  for (const line of lines) {
    if (!line.startsWith(SIGN_PREFIX)) return malformed('a line after the blank line is not a signature (— name signature)');
    const rest = line.slice(SIGN_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = space < 0 ? rest : rest.slice(0, space);
    const bytes = space < 0 ? undefined : fromBase64(rest.slice(space + 1));
    if (!isKeyName(name) || !bytes || bytes.length < 5) return malformed('a signature line has a bad name or is not base64 of a key ID and a signature');
    const keyId = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
    signatures.push({ name, keyId, signature: bytes.subarray(4), line });
  }
  return E.right({ text, signatures });
};

export const signatureLine = (key: Pick<NoteKey, 'name' | 'keyId'>, signature: Uint8Array): string => {
  const id = new Uint8Array([(key.keyId >>> 24) & 255, (key.keyId >>> 16) & 255, (key.keyId >>> 8) & 255, key.keyId & 255]);
  return `${SIGN_PREFIX}${key.name} ${toBase64(concatBytes(id, signature))}`;
};

/** A note: its text, a blank line, its signature lines (duplicates dropped, order kept). */
export const formatNote = (text: string, lines: ReadonlyArray<string>): string => `${text}\n${[...new Set(lines)].map((l) => `${l}\n`).join('')}`;

/** What a cosignature signs (c2sp.org/tlog-cosignature, Ed25519). */
export const cosignatureMessage = (timestamp: number, text: string): string => `cosignature/v1\ntime ${timestamp}\n${text}`;

/** The 8 big-endian bytes of a cosignature's timestamp followed by its Ed25519 signature. */
export const timestampedSignature = (timestamp: number, signature: Uint8Array): Uint8Array => {
  const ts = new Uint8Array(8);
  let x = timestamp;
  for (let i = 7; i >= 0; i--) {
    ts[i] = x % 256;
    x = Math.floor(x / 256);
  }
  return concatBytes(ts, signature);
};

const timestampOf = (bytes: Uint8Array): number => {
  let x = 0;
  for (let i = 0; i < 8; i++) x = x * 256 + bytes[i]!;
  return x;
};

export interface VerifiedSignature {
  readonly key: NoteKey;
  /** A cosignature's time (POSIX seconds); absent for a plain note signature. */
  readonly timestamp?: number;
  readonly line: string;
}

export interface OpenedNote {
  readonly text: string;
  readonly verified: ReadonlyArray<VerifiedSignature>;
  /** Signature lines by keys not given (ignored, as the spec says). */
  readonly unknown: number;
}

/** Checks one signature line against a key with its name and ID. */
const verifies = (verify: Ed25519Verify, key: NoteKey, text: string, s: NoteSignature): { ok: boolean; timestamp?: number } => {
  if (key.type === ED25519_NOTE) return { ok: s.signature.length === 64 && verify(key.publicKey, text, s.signature) };
  if (s.signature.length !== 72) return { ok: false };
  const timestamp = timestampOf(s.signature);
  if (timestamp > Number.MAX_SAFE_INTEGER) return { ok: false };
  return { ok: verify(key.publicKey, cosignatureMessage(timestamp, text), s.signature.subarray(8)), timestamp };
};

/** Opens a note against known keys: every known key's signature must verify, and at least one must be there. */
export const openNote = (note: string, keys: ReadonlyArray<NoteKey>, verify: Ed25519Verify): E.Either<NoteProblem, OpenedNote> => {
  const parsed = parseNote(note);
  if (E.isLeft(parsed)) return parsed;
  const { text, signatures } = parsed.right;
  const verified: VerifiedSignature[] = [];
  const seen = new Set<string>();
  let unknown = 0;
  for (const s of signatures) {
    const matching = keys.filter((k) => k.name === s.name && k.keyId === s.keyId);
    const distinct = new Set(matching.map((k) => `${k.type}:${toBase64(k.publicKey)}`));
    if (distinct.size > 1) return E.left({ _tag: 'AmbiguousKey', name: s.name, keyId: s.keyId });
    const key = matching[0];
    if (!key) {
      unknown++;
      continue;
    }
    const id = `${s.name}+${s.keyId}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const r = verifies(verify, key, text, s);
    if (!r.ok) return E.left({ _tag: 'BadSignature', name: s.name, keyId: s.keyId });
    verified.push({ key, line: s.line, ...(r.timestamp !== undefined ? { timestamp: r.timestamp } : {}) });
  }
  if (verified.length === 0) return E.left({ _tag: 'NoKnownSignature', unknown });
  return E.right({ text, verified, unknown });
};
