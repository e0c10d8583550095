/**
 * `keyledger checkpoint` (the ledger's tree head now, signed by this member as a C2SP checkpoint) and
 * `keyledger prove <stream>@<revision>` (one event with its inclusion proof against a checkpoint, for
 * `bin/keyledger-verify-proof`). docs/adr/0018-verifiable-ledger.md.
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { type GivenCheckpoint, type InclusionProofFile, MAX_REVISION, proveEvent } from '../../commands/prove';
import type { InstanceDeps } from '../../commands/instance';
import { headJson } from '../../commands/tree';
import { checkedHead, memberNoteKeys, signHead } from '../../commands/witness';
import { formatVerifierKey } from '../../domain/tlog/note';
import { writePrivateFile } from '../../infra/file-modes';
import { type CliError, EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { printable } from '../render';
import { emit, instanceDeps, noteSignerOf, type Session, treeDeps, usage, withSession, witnessDeps } from '../session';

const TARGET = /^(.+)@(\d+)$/;

const writeOut = (file: string, text: string): E.Either<{ _tag: 'UsageError'; message: string }, void> => {
  try {
    writePrivateFile(file, text);
    return E.right(undefined);
  } catch (e) {
    return E.left({ _tag: 'UsageError', message: `cannot write ${file}: ${(e as Error).message}` });
  }
};

/** This member's verifier keys (note signatures and cosignatures), as `checkpoint --vkey` prints them: what an auditor pins. */
export const verifierKeys = async (s: Session, deps: InstanceDeps): Promise<E.Either<CliError, { note: string; cosignature: string }>> => {
  const signer = await noteSignerOf(s, deps);
  if (!signer) return usage('this instance has no signing key (run keyledger init, or keyledger trust for a keystore from before signing keys)');
  const keys = memberNoteKeys((await import('../../infra/sqlite-tree')).sha256Bytes, signer.installationId, signer.publicKey);
  return E.right({ note: formatVerifierKey(keys.note), cosignature: formatVerifierKey(keys.cosignature) });
};

/** `prove`'s file: the event at `stream`@`revision` with its inclusion proof against the checkpoint given, or the newest kept that covers it. */
export const proofOf = async (s: Session, stream: string, revision: bigint, given?: GivenCheckpoint): Promise<E.Either<CliError, InclusionProofFile>> => {
  const deps = await treeDeps(s);
  return E.isLeft(deps) ? deps : proveEvent(deps.right, stream, revision, given);
};

const checkpointCommand = async (io: Io, g: GlobalOptions, o: { output?: string; vkey?: boolean }): Promise<number> =>
  withSession(io, g, async (s) => {
    const deps = await instanceDeps(s, 'checkpoint');
    if (o.vkey) {
      const keys = await verifierKeys(s, deps);
      if (E.isLeft(keys)) return keys;
      emit(io, g, keys.right, `${keys.right.note}\n${keys.right.cosignature}\n`);
      return E.right(EXIT.ok);
    }
    const w = await witnessDeps(s, deps);
    if (E.isLeft(w)) return w;
    if (!w.right) return usage('this instance cannot sign: its keystore has no signing key, or its machine secret is not here (keyledger status says why)');
    const head = await checkedHead(w.right);
    if (E.isLeft(head)) return head;
    const note = await signHead(w.right, head.right, 'note');
    if (E.isLeft(note)) return note;
    if (o.output !== undefined) {
      const written = writeOut(o.output, note.right);
      if (E.isLeft(written)) return written;
    }
    s.log.write({ command: 'checkpoint', size: head.right.size, origin: head.right.origin });
    emit(
      io,
      g,
      { ...headJson(head.right), note: note.right, ...(o.output !== undefined ? { file: o.output } : {}) },
      o.output !== undefined ? `checkpoint of ${head.right.size} events written to ${printable(o.output)}\n` : note.right,
    );
    return E.right(EXIT.ok);
  });

const proveCommand = async (io: Io, g: GlobalOptions, target: string, o: { output?: string; checkpoint?: string }): Promise<number> =>
  withSession(io, g, async (s) => {
    const m = TARGET.exec(target);
    if (!m) return usage(`prove takes <stream>@<revision> (e.g. keyledger.deployment-default@3), not "${printable(target)}"`);
    const [, stream = '', revision = '0'] = m;
    if (BigInt(revision) > MAX_REVISION) return usage(`prove: the revision ${revision.slice(0, 40)} is past the largest a stream can have (${MAX_REVISION})`);
    let given: GivenCheckpoint | undefined;
    if (o.checkpoint !== undefined) {
      try {
        given = { note: fs.readFileSync(o.checkpoint, 'utf8'), source: o.checkpoint };
      } catch (e) {
        return usage(`cannot read the checkpoint ${printable(o.checkpoint)}: ${(e as Error).message}`);
      }
    }
    const proof = await proofOf(s, stream, BigInt(revision), given);
    if (E.isLeft(proof)) return proof;
    const text = `${JSON.stringify(proof.right, null, 2)}\n`;
    if (o.output !== undefined) {
      const written = writeOut(o.output, text);
      if (E.isLeft(written)) return written;
      io.stdout(
        g.json
          ? `${JSON.stringify({ file: o.output, leafIndex: proof.right.leafIndex, treeSize: proof.right.treeSize })}\n`
          : `proof of ${printable(target)} (leaf ${proof.right.leafIndex} of ${proof.right.treeSize}) written to ${printable(o.output)}\n`,
      );
    } else io.stdout(text);
    s.log.write({ command: 'prove', target, leafIndex: proof.right.leafIndex, treeSize: proof.right.treeSize });
    return E.right(EXIT.ok);
  });

export const registerTree = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('checkpoint')
    .description(
      "sign the ledger's tree head now as this member (a C2SP tlog-checkpoint: origin, size, root) after checking it extends the last one this member " +
        'signed or co-signed; kept with the ledger, printed (or written with -o)',
    )
    .option('-o, --output <file>', 'write the signed checkpoint to this file (0600) instead of printing it')
    .option('--vkey', "print this member's verifier keys instead (note signatures and cosignatures), for bin/keyledger-verify-proof --key")
    .action(async (o: { output?: string; vkey?: boolean }) => done(await checkpointCommand(io, globals(), o)));
  program
    .command('prove <stream@revision>')
    .description('export one event with its inclusion proof against a signed checkpoint, as one JSON file that bin/keyledger-verify-proof checks offline')
    .option('-o, --output <file>', 'write the proof to this file (0600) instead of printing it')
    .option('--checkpoint <file>', 'prove against this checkpoint (default: the newest kept with the ledger that covers the event)')
    .action(async (target: string, o: { output?: string; checkpoint?: string }) => done(await proveCommand(io, globals(), target, o)));
};
