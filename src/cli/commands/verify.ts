/**
 * `keyledger verify`: the integrity of the whole ledger; names stream and revision of each problem (exit 4).
 * `--signatures` checks every signature in the same pass (the trust walk of each deployment, each instance's
 * own signatures) and reports its problems beside the hash problems.
 */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { type IntegrityProblem, type SignatureReport, type VerifyReport, verifyLedger } from '../../commands/verify';
import { type DeploymentTrust, describeSignatureProblem, type SignatureProblem } from '../../domain/signature-audit';
import { sha256Hex } from '../../infra/sha256';
import { Thumbprint } from '../../domain/ids';
import { type CliError, EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { progressReporter } from '../progress';
import { printable } from '../render';
import { emit, type Session, treeDeps, usage, withSession } from '../session';
import * as fs from 'node:fs';
import { type GivenCheckpoint, parseCheckpointNote } from '../../commands/prove';
import { extendsHead, keptCheckpoints, noteOf } from '../../commands/tree';
import { bracket, type LeafRange, memberNoteKeysOf, type TreeReport } from '../../commands/verify-tree';
import { fromBase64 } from '../../domain/tlog/bytes';
import { ledgerOrigin, type TreeHead } from '../../domain/tlog/checkpoint';
import { describeNoteProblem, type NoteKey, openNote, parseVerifierKey } from '../../domain/tlog/note';
import { ed25519Of } from '../../infra/note-verify';

export interface VerifyFlags {
  readonly signatures?: boolean;
  readonly expectGenesis?: string;
  readonly deep?: boolean;
  readonly checkpoint?: string;
  readonly key?: ReadonlyArray<string>;
}

/** What `--checkpoint` found about the checkpoint file itself: who signed it (or why it is not trusted), and whether it is this ledger's. */
export interface CheckpointCheck {
  readonly file: string;
  readonly signedBy: ReadonlyArray<string>;
  /** Why the checkpoint itself is not trusted (no member signature, a bad one, another ledger's origin); null: it is. */
  readonly untrusted: string | null;
  /** With the index matching the events: the RFC 9162 consistency proof from the checkpoint to the tree now, read and checked. */
  readonly consistencyProof: 'verified' | 'failed' | 'not-checked';
}

const hashLine = (p: IntegrityProblem): string => `TAMPERED ${printable(`${p.stream}@${p.revision} (${p.eventType}): ${p.problem}`)}`;

const signatureLine = (p: SignatureProblem): string =>
  `UNTRUSTED ${printable(`${p.stream}@${p.revision} (${p.eventType}): ${p.problem}: ${describeSignatureProblem(p)}`)}`;

const signatureSummary = (s: SignatureReport): string =>
  `signatures: ${s.checked} events checked, ${s.verified} signatures verified, ${s.unsignedKeyEvents} unsigned key events, ` +
  `${s.unsignedInstanceEvents} unsigned instance events (older ledgers, and ConfigRead: not errors), ` +
  `${s.problems.length === 0 ? 'no problems' : `${s.problems.length} problem(s)`}`;

/** Each deployment's genesis, for the reviewer to compare with the thumbprint its operators confirmed. */
/** How a genesis came to be: declared (`keyledger trust`), the creator of the first key, or of the first after a deletion (ADR 0015). */
const FOUNDED = (g: NonNullable<DeploymentTrust['genesis']>): string =>
  g.declared ? 'declared' : g.afterDeletion ? 'created the key after the content was deleted' : 'created the first key';

const genesisLine = (d: DeploymentTrust): string =>
  printable(
    d.genesis === null
      ? `${d.stream}: no genesis (no key creation or genesis declaration verifies)`
      : `${d.stream}: genesis ${d.genesis.thumbprint} (installation ${d.genesis.installationId}, ` +
          `${FOUNDED(d.genesis)} at @${d.genesis.revision}), ${d.members} certified member(s)`,
  );

/** Unsigned key events before a declared genesis: what a deployment recorded before signed key events looks like. */
const beforeDeclaredGenesis = (s: SignatureReport): boolean =>
  s.problems.some((p) => {
    const g = p.problem === 'unsigned' ? s.deployments.find((d) => d.stream === p.stream)?.genesis : undefined;
    return g?.declared === true && BigInt(p.revision) < BigInt(g.revision);
  });

const rangeText = (r: LeafRange): string =>
  (r.from === r.through ? `leaf ${r.from}` : `leaves ${r.from}..${r.through}`) +
  (r.event ? ` (${r.from === r.through ? '' : 'from '}${r.event.stream}@${r.event.revision}, ${r.event.type})` : '');

/** The tree's lines: problems (INDEX, FORKED, UNTRUSTED checkpoint) and what was checked. */
const treeLines = (tree: TreeReport | undefined, cp: CheckpointCheck | undefined): { problems: string[]; notes: string[] } => {
  const problems: string[] = [];
  const notes: string[] = [];
  if (!tree) return { problems, notes };
  const i = tree.index;
  if (i.firstDifference)
    problems.push(
      `INDEX ${printable(`the tree index differs from the events at ${rangeText(i.firstDifference)}: the events or the index were altered there`)}`,
    );
  if (i.beyondEvents) problems.push(`INDEX the tree index holds ${i.size} events, the ledger ${tree.size}: events were removed from its end`);
  notes.push(
    `tree: ${tree.size} events, root ${tree.root}; its index ` +
      (i.firstDifference || i.beyondEvents ? 'differs' : i.size < tree.size ? `matches (${tree.size - i.size} events not indexed yet)` : 'matches'),
  );
  const c = tree.checkpoint;
  if (c && cp) {
    notes.push(
      printable(
        `checkpoint ${cp.file}: ${c.head.origin}, ${c.head.size} events, root ${c.head.root}${cp.signedBy.length > 0 ? `, signed by ${cp.signedBy.join(', ')}` : ''}`,
      ),
    );
    if (cp.untrusted !== null) problems.push(`UNTRUSTED ${printable(`checkpoint ${cp.file}: ${cp.untrusted}`)}`);
    if (c.extended)
      notes.push(
        `the ledger extends it: its first ${c.head.size} events have the checkpoint's root` +
          (cp.consistencyProof === 'verified' ? `; consistency proof ${c.head.size} → ${tree.size} verified` : ''),
      );
    else {
      const d = c.firstDifference;
      problems.push(
        `FORKED ${printable(
          d === null
            ? `the ledger is not an extension of the checkpoint: its first ${c.head.size} events have another root ` +
                '(the index was rebuilt over them too: the hash-chain and signature problems above name what changed)'
            : d.how === 'truncated'
              ? `the ledger is not an extension of the checkpoint: it has ${tree.size} events, the checkpoint covers ${c.head.size}: ` +
                `leaves ${d.from}..${d.through} are gone${d.event ? ` (after ${d.event.stream}@${d.event.revision})` : ''}`
              : `the ledger is not an extension of the checkpoint: the first difference is at ${rangeText(d)}` +
                (d.how === 'bracketed' ? ' (between two checkpoints signed by members: the last one the ledger still matches and the next one)' : ''),
        )}`,
      );
    }
  }
  return { problems, notes };
};

export const verifyText = (rep: VerifyReport, cp?: CheckpointCheck): string => {
  const sigs = rep.signatures;
  const damaged = rep.storage.map((m) => `DAMAGED the store's own integrity check: ${printable(m)}`);
  const tree = treeLines(rep.tree, cp);
  const problems = rep.problems.length + (sigs?.problems.length ?? 0) + damaged.length + tree.problems.length;
  const signatureLines = sigs ? [signatureSummary(sigs), ...sigs.deployments.map(genesisLine)] : [];
  const warnings = (rep.exposures ?? []).map((w) => `WARNING ${printable(`${w.stream}: ${w.exposure}`)}`);
  if (problems === 0)
    return [`ledger intact: ${rep.events} events in ${rep.streams} streams, every hash verified`, ...signatureLines, ...tree.notes, ...warnings]
      .map(
        (l) => `${l}
`,
      )
      .join('');
  const lines = [...damaged, ...rep.problems.map(hashLine), ...(sigs?.problems.map(signatureLine) ?? []), ...tree.problems, ...signatureLines, ...warnings];
  const first = sigs?.firstProblem;
  lines.push(
    `${problems} problem(s) in ${rep.events} events. Restore the store from a backup taken before the first problem` +
      `${first ? ` (${printable(`${first.stream}@${first.revision}`)})` : ''}.`,
  );
  if (sigs && beforeDeclaredGenesis(sigs))
    lines.push(
      'Unsigned key events before a declared genesis are also what a deployment recorded before signed key events looks like: ' +
        'not tampering if that genesis is the thumbprint its operators confirmed out of band: run keyledger verify --signatures --expect-genesis <it>.',
    );
  lines.push(...tree.notes);
  return `${lines.join('\n')}\n`;
};

/** What `verify` is asked to check beyond the hash links (the CLI's flags, the HTTP body's members). */
export interface VerifyRequest {
  readonly signatures?: boolean;
  readonly expectGenesis?: string;
  readonly deep?: boolean;
  /** The checkpoint the ledger must extend (implies signatures), and where it came from (for errors and the answer). */
  readonly checkpoint?: GivenCheckpoint;
  /** Verifier keys whose signatures on the checkpoint count too, beside the members'. */
  readonly keys?: ReadonlyArray<string>;
  readonly onProgress?: (done: number) => void;
}

/** What `verify` found: the report, the checkpoint's own check (with one), and whether nothing at all is wrong. */
export interface VerifyOutcome {
  readonly report: VerifyReport;
  readonly checkpoint?: CheckpointCheck;
  readonly intact: boolean;
}

/** Nothing wrong: no hash, signature, storage or tree problem, and the checkpoint (if any) trusted and extended. */
const intactOf = (rep: VerifyReport, cp: CheckpointCheck | undefined): boolean => {
  const t = rep.tree;
  const treeProblems = t
    ? (t.index.firstDifference || t.index.beyondEvents ? 1 : 0) + (t.checkpoint && !t.checkpoint.extended ? 1 : 0) + (cp?.untrusted ? 1 : 0)
    : 0;
  return rep.problems.length === 0 && (rep.signatures?.problems.length ?? 0) === 0 && rep.storage.length === 0 && treeProblems === 0;
};

/**
 * `keyledger verify` itself, for the CLI and `POST /api/verify` alike: the ledger's hash links, optionally its signatures,
 * and with a checkpoint the proof that the ledger is an append-only extension of it (or the first difference named),
 * the checkpoint's signatures checked against the members' keys and the keys given.
 */
export const runVerify = async (s: Session, o: VerifyRequest): Promise<E.Either<CliError, VerifyOutcome>> => {
  const tree = await treeDeps(s);
  if (E.isLeft(tree)) return tree;
  // The checkpoint to check the ledger against: signatures checked once the pass has the members' keys.
  let given: { head: TreeHead; note: string; source: string } | undefined;
  if (o.checkpoint !== undefined) {
    const parsed = parseCheckpointNote(o.checkpoint);
    if (E.isLeft(parsed)) return parsed;
    given = { head: parsed.right.head, ...o.checkpoint };
  }
  const extraKeys: NoteKey[] = [];
  for (const k of o.keys ?? []) {
    const parsed = parseVerifierKey(tree.right.sha256, k);
    if (E.isLeft(parsed)) return usage(`the verifier key ${printable(k.slice(0, 120))} is not one: ${parsed.left} (keyledger checkpoint --vkey prints them)`);
    extraKeys.push(parsed.right);
  }
  const kept = given ? await keptCheckpoints(s.store) : E.right([]);
  if (E.isLeft(kept)) return kept;
  // Ed25519 through node:crypto (the Crypto port's `signing`), loaded only when asked for; a checkpoint needs the members' keys.
  const signing = o.signatures || given ? (await import('../../infra/signing')).signatures : undefined;
  const r = await verifyLedger(s.store, {
    digest: sha256Hex,
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(signing ? { signatures: { verify: signing.verify, thumbprint: signing.thumbprint } } : {}),
    ...(o.expectGenesis !== undefined ? { expectGenesis: o.expectGenesis } : {}),
    ...(o.deep ? { deep: true } : {}),
    tree: { index: tree.right.tree, sha256: tree.right.sha256, ...(given ? { checkpoint: given.head, alsoAt: kept.right.map((k) => k.head.size) } : {}) },
  })();
  if (E.isLeft(r)) return r;
  let rep = r.right;
  let cp: CheckpointCheck | undefined;
  if (given && signing && rep.tree) {
    const deployments = Object.keys(rep.heads).filter((k) => k.startsWith('keyledger.deployment-'));
    const members = await memberNoteKeysOf(s.store, deployments, { verify: signing.verify, thumbprint: signing.thumbprint }, tree.right.sha256);
    if (E.isLeft(members)) return members;
    const keys = [...members.right.keys, ...extraKeys];
    const ed25519 = ed25519Of(signing.verify);
    const opened = openNote(given.note, keys, ed25519);
    const identity = tree.right.tree.identity();
    const origin = E.isRight(identity) && identity.right !== undefined ? ledgerOrigin(identity.right) : undefined;
    const untrusted = E.isLeft(opened)
      ? describeNoteProblem(opened.left)
      : origin !== undefined && given.head.origin !== origin
        ? `it is a checkpoint of ${given.head.origin}, not of this ledger (${origin})`
        : null;
    const signedBy = E.isRight(opened)
      ? [...new Set(opened.right.verified.map((v) => `${v.key.name}${v.timestamp !== undefined ? ' (cosignature)' : ''}`))]
      : [];
    // Narrowed with the kept checkpoints members signed, when the index no longer holds the checkpoint's tree.
    const verifiedKept = kept.right.filter((k) => E.isRight(openNote(noteOf(k), keys, ed25519))).map((k) => k.head);
    const narrowed = bracket(rep.tree, verifiedKept);
    if (narrowed && rep.tree.checkpoint) rep = { ...rep, tree: { ...rep.tree, checkpoint: { ...rep.tree.checkpoint, firstDifference: narrowed } } };
    const indexWhole = rep.tree?.index.firstDifference === null && !rep.tree.index.beyondEvents && rep.tree.index.size === rep.tree.size;
    const consistent =
      indexWhole && rep.tree?.checkpoint?.extended ? extendsHead(tree.right, given.head, { size: rep.tree.size, root: fromBase64(rep.tree.root)! }) : undefined;
    cp = {
      file: given.source,
      signedBy,
      untrusted,
      consistencyProof: consistent === undefined ? 'not-checked' : E.isRight(consistent) && consistent.right ? 'verified' : 'failed',
    };
    if (cp.consistencyProof === 'failed' && rep.tree?.checkpoint)
      rep = { ...rep, tree: { ...rep.tree, checkpoint: { ...rep.tree.checkpoint, extended: false } } };
  }
  return E.right({ report: rep, ...(cp ? { checkpoint: cp } : {}), intact: intactOf(rep, cp) });
};

const verifyCommand = async (io: Io, g: GlobalOptions, flags: VerifyFlags): Promise<number> =>
  withSession(io, g, async (s) => {
    if (flags.expectGenesis !== undefined && ((!flags.signatures && flags.checkpoint === undefined) || !Thumbprint.is(flags.expectGenesis)))
      return usage('--expect-genesis goes with --signatures and takes the genesis thumbprint (43 base64url characters) its operators confirmed');
    if ((flags.key?.length ?? 0) > 0 && flags.checkpoint === undefined) return usage('--key goes with --checkpoint: the keys whose signatures on it count');
    let checkpoint: GivenCheckpoint | undefined;
    if (flags.checkpoint !== undefined) {
      try {
        checkpoint = { note: fs.readFileSync(flags.checkpoint, 'utf8'), source: flags.checkpoint };
      } catch (e) {
        return usage(`cannot read the checkpoint ${printable(flags.checkpoint)}: ${(e as Error).message}`);
      }
    }
    const progress = progressReporter(io, !g.json, 'verifying ledger');
    const r = await runVerify(s, {
      ...(flags.signatures ? { signatures: true } : {}),
      ...(flags.expectGenesis !== undefined ? { expectGenesis: flags.expectGenesis } : {}),
      ...(flags.deep ? { deep: true } : {}),
      ...(checkpoint ? { checkpoint } : {}),
      ...(flags.key ? { keys: flags.key } : {}),
      onProgress: progress.update,
    });
    progress.stop();
    if (E.isLeft(r)) return r;
    const { report: rep, checkpoint: cp, intact } = r.right;
    s.log.write({
      command: 'verify',
      events: rep.events,
      streams: rep.streams,
      problems: rep.problems.length,
      ...(rep.signatures ? { signatureProblems: rep.signatures.problems.length, signaturesVerified: rep.signatures.verified } : {}),
    });
    emit(io, g, cp ? { ...rep, checkpointFile: cp } : rep, verifyText(rep, cp));
    return E.right(intact ? EXIT.ok : EXIT.tampered);
  });

export const registerVerify = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('verify')
    .description(
      'check the integrity of the whole ledger: every event decodes, revisions are contiguous, every hash matches and links to the one before; ' +
        'names the stream and revision of each problem (exit 4 when any)',
    )
    .option(
      '--signatures',
      'also check every signature: the trust walk of each deployment (unsigned key events, bad signatures, signers not registered or not certified) ' +
        "and each instance's own signatures (exit 4 when any problem)",
    )
    .option(
      '--expect-genesis <thumbprint>',
      "with --signatures: the genesis thumbprint its operators confirmed; each deployment's root of trust must be it, and unsigned " +
        'key events recorded before a genesis declared with it (a ledger from before signatures, then trusted) are history, not problems',
    )
    .option(
      '--deep',
      "the store's deepest check of its file: SQLite's integrity_check (every index against its table) instead of quick_check " +
        "(every page's structure: what a torn or overwritten page breaks); slower on a large ledger",
    )
    .option(
      '--checkpoint <file>',
      'also prove the ledger is an append-only extension of this signed checkpoint (keyledger checkpoint writes one): its signatures are checked ' +
        "against the members' keys (implies --signatures), and the first difference is named when it is not",
    )
    .option('--key <vkey>', 'with --checkpoint: a verifier key whose signature on it counts too (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .action(async (opts: VerifyFlags) => done(await verifyCommand(io, globals(), { ...opts, ...(opts.checkpoint !== undefined ? { signatures: true } : {}) })));
};
