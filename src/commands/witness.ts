/**
 * Members as witnesses (docs/adr/0018-verifiable-ledger.md). On `start`, before the start check decides:
 *
 * 1. the tree index is brought up to the ledger, and its head must be an append-only extension of the last head
 *    this member co-signed (remembered in its local state under its MAC, so a store writer can neither forge nor
 *    lower it) — a consistency proof from the index, checked;
 * 2. every event the decision reads (its instance stream and its deployment stream, as loaded) must be the tree's
 *    leaf at its place — an inclusion proof each, checked against that head.
 *
 * Either failing is `LedgerForked` (nothing is decided or recorded). After the check, the member co-signs the head
 * (a C2SP tlog-cosignature line kept with the ledger) and remembers it. `checkpoint` signs a head the same way, as
 * a note signature.
 */
import * as E from 'fp-ts/Either';
import type { StoredEvent } from '../domain/envelope';
import { toBase64 } from '../domain/tlog/bytes';
import { checkpointBody, memberKeyName, type TreeHead } from '../domain/tlog/checkpoint';
import type { LedgerForked, ForkProblem } from '../domain/tlog/forked';
import { leafHashOfEvent } from '../domain/tlog/leaf';
import {
  cosignatureMessage,
  ED25519_COSIGNATURE,
  ED25519_NOTE,
  type NoteKey,
  noteKey,
  parseNote,
  signatureLine,
  timestampedSignature,
} from '../domain/tlog/note';
import type { CommandContext } from '../domain/envelope';
import type { HeadStore, LocalStateError } from '../ports/heads';
import type { StoreError } from '../ports/event-store';
import type { TreeIndexError } from '../ports/tree';
import {
  currentHead,
  extendsHead,
  headFromRemembered,
  includes,
  keepSignature,
  keptCheckpoints,
  noteOf,
  rememberedHeadText,
  type TreeDeps,
  type TreeError,
} from './tree';

/** A member's Ed25519 signing key, as a note signer. */
export interface NoteSigner {
  readonly installationId: string;
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** An Ed25519 signature (64 bytes) over the UTF-8 bytes of `text`. */
  readonly sign: (text: string) => Uint8Array;
}

export interface WitnessDeps extends TreeDeps {
  readonly heads: HeadStore;
  readonly signer: NoteSigner;
  readonly ctx: CommandContext;
  /** Keeps the note this member last signed where its operator finds it (a file in its state folder). */
  readonly keepNote?: (note: string) => void;
}

export type WitnessError = LedgerForked | TreeError | LocalStateError;

/** Where the last head a member co-signed is remembered, among its remembered heads. */
export const COSIGNED = '$tree-cosigned';

export const memberNoteKeys = (sha256: TreeDeps['sha256'], installationId: string, publicKey: Uint8Array): { note: NoteKey; cosignature: NoteKey } => ({
  note: noteKey(sha256, memberKeyName(installationId), ED25519_NOTE, publicKey),
  cosignature: noteKey(sha256, memberKeyName(installationId), ED25519_COSIGNATURE, publicKey),
});

const ref = (h: Pick<TreeHead, 'origin' | 'size' | 'root'>) => ({ origin: h.origin, size: h.size, root: toBase64(h.root) });

const forked = (problem: ForkProblem, cosigned: TreeHead, found: TreeHead, event?: LedgerForked['event']): LedgerForked => ({
  _tag: 'LedgerForked',
  problem,
  cosigned: ref(cosigned),
  found: ref(found),
  ...(event ? { event } : {}),
});

/** The head this member last co-signed (or signed), if any. */
export const lastCosigned = (heads: HeadStore): E.Either<LocalStateError, TreeHead | undefined> => {
  const r = heads.load(COSIGNED);
  if (E.isLeft(r) || r.right === undefined || r.right.revision < 0n) return E.isLeft(r) ? r : E.right(undefined);
  return E.right(headFromRemembered(r.right.revision, r.right.hash));
};

/** The head now, which must extend the one this member co-signed last. */
export const checkedHead = async (deps: Pick<WitnessDeps, 'heads'> & TreeDeps): Promise<E.Either<WitnessError, TreeHead>> => {
  const head = await currentHead(deps);
  if (E.isLeft(head)) return head;
  const last = lastCosigned(deps.heads);
  if (E.isLeft(last)) return last;
  const old = last.right;
  const now = head.right;
  if (!old) return E.right(now);
  if (old.origin !== now.origin) return E.left(forked('origin-changed', old, now));
  if (now.size < old.size) return E.left(forked('truncated', old, now));
  const extended = extendsHead(deps, old, now);
  if (E.isLeft(extended)) return extended;
  return extended.right ? E.right(now) : E.left(forked('rewritten', old, now));
};

/**
 * Every event of `streams` as loaded is the tree's leaf at its place in `head`: each is read again (its place
 * and stored form), matched to the loaded one by its hash, and proved included.
 */
export const checkIncluded = async (
  deps: WitnessDeps,
  head: TreeHead,
  streams: ReadonlyArray<{ readonly stream: string; readonly events: ReadonlyArray<StoredEvent> }>,
): Promise<E.Either<WitnessError, number>> => {
  const last = lastCosigned(deps.heads);
  if (E.isLeft(last)) return last;
  const cosigned = last.right ?? head;
  let checked = 0;
  for (const s of streams) {
    if (s.events.length === 0) continue;
    const raw = await deps.store.readStream(s.stream, { maxCount: s.events.length })();
    if (E.isLeft(raw)) return raw;
    for (const [i, loaded] of s.events.entries()) {
      const r = raw.right[i];
      const at = { stream: s.stream, revision: loaded.revision.toString() };
      const hash = (r?.metadata as { hash?: unknown } | undefined)?.hash;
      if (!r || r.revision !== loaded.revision || hash !== loaded.metadata.hash)
        return E.left(forked('event-not-in-tree', cosigned, head, { ...at, leaf: -1 }));
      const leaf = deps.tree.leafAt(r.position);
      if (E.isLeft(leaf)) return leaf;
      const n = leaf.right ?? -1;
      const ok = n < 0 ? E.right(false) : includes(deps, head, n, leafHashOfEvent(deps.sha256, r));
      if (E.isLeft(ok)) return ok;
      if (!ok.right) return E.left(forked('event-not-in-tree', cosigned, head, { ...at, leaf: n }));
      checked++;
    }
  }
  return E.right(checked);
};

export type SignatureKind = 'note' | 'cosignature';

/**
 * Signs a head as this member — a note signature (`checkpoint`) or a cosignature (a witness's `start`) — keeps
 * the line with the ledger (once per member, kind and head), remembers the head, and returns the note as kept.
 */
export const signHead = async (deps: WitnessDeps, head: TreeHead, kind: SignatureKind): Promise<E.Either<LocalStateError | StoreError, string>> => {
  const keys = memberNoteKeys(deps.sha256, deps.signer.installationId, deps.signer.publicKey);
  const key = kind === 'note' ? keys.note : keys.cosignature;
  const body = checkpointBody(head);
  const remembered = deps.heads.save(COSIGNED, { revision: BigInt(head.size), hash: rememberedHeadText(head) });
  if (E.isLeft(remembered)) return remembered;
  const kept = await keptCheckpoints(deps.store, 200);
  if (E.isLeft(kept)) return kept;
  const lines = [...(kept.right.find((k) => k.body === body)?.lines ?? [])];
  const mine = lines.find((l) => {
    const n = parseNote(`${body}\n${l}\n`);
    return E.isRight(n) && n.right.signatures[0]?.name === key.name && n.right.signatures[0]?.keyId === key.keyId;
  });
  if (mine === undefined) {
    const timestamp = Math.floor(deps.ctx.now().getTime() / 1000);
    const line =
      kind === 'note'
        ? signatureLine(key, deps.signer.sign(body))
        : signatureLine(key, timestampedSignature(timestamp, deps.signer.sign(cosignatureMessage(timestamp, body))));
    const stored = await keepSignature(deps.store, deps.ctx, body, line);
    if (E.isLeft(stored)) return stored;
    lines.push(line);
  }
  const note = noteOf({ body, lines });
  deps.keepNote?.(note);
  return E.right(note);
};

export type { TreeIndexError };

/** What `start` runs around its decision (src/commands/instance.ts). */
export interface StartWitness {
  /** Before a decision: the tree extends what this member co-signed and holds every event of the loaded streams. */
  readonly check: (streams: ReadonlyArray<{ readonly stream: string; readonly events: ReadonlyArray<StoredEvent> }>) => Promise<E.Either<WitnessError, void>>;
  /** After it: the head (which must extend the one checked) co-signed and remembered. */
  readonly cosign: () => Promise<E.Either<WitnessError, void>>;
}

export const startWitness = (deps: WitnessDeps): StartWitness => {
  let checked: TreeHead | undefined;
  return {
    check: async (streams) => {
      const head = await checkedHead(deps);
      if (E.isLeft(head)) return head;
      const included = await checkIncluded(deps, head.right, streams);
      if (E.isLeft(included)) return included;
      checked = head.right;
      return E.right(undefined);
    },
    cosign: async () => {
      const head = await checkedHead(deps);
      if (E.isLeft(head)) return head;
      if (checked) {
        const extended = extendsHead(deps, checked, head.right);
        if (E.isLeft(extended)) return extended;
        if (!extended.right) return E.left(forked('rewritten', checked, head.right));
      }
      const signed = await signHead(deps, head.right, 'cosignature');
      return E.isLeft(signed) ? signed : E.right(undefined);
    },
  };
};
