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
import { EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { progressReporter } from '../progress';
import { printable } from '../render';
import { emit, usage, withSession } from '../session';

export interface VerifyFlags {
  readonly signatures?: boolean;
  readonly expectGenesis?: string;
  readonly deep?: boolean;
}

const hashLine = (p: IntegrityProblem): string => `TAMPERED ${printable(`${p.stream}@${p.revision} (${p.eventType}): ${p.problem}`)}`;

const signatureLine = (p: SignatureProblem): string =>
  `UNTRUSTED ${printable(`${p.stream}@${p.revision} (${p.eventType}): ${p.problem}: ${describeSignatureProblem(p)}`)}`;

const signatureSummary = (s: SignatureReport): string =>
  `signatures: ${s.checked} events checked, ${s.verified} signatures verified, ${s.unsignedKeyEvents} unsigned key events, ` +
  `${s.unsignedInstanceEvents} unsigned instance events (older ledgers, and ConfigRead: not errors), ` +
  `${s.problems.length === 0 ? 'no problems' : `${s.problems.length} problem(s)`}`;

/** Each deployment's genesis, for the reviewer to compare with the thumbprint its operators confirmed. */
const genesisLine = (d: DeploymentTrust): string =>
  printable(
    d.genesis === null
      ? `${d.stream}: no genesis (no key creation or genesis declaration verifies)`
      : `${d.stream}: genesis ${d.genesis.thumbprint} (installation ${d.genesis.installationId}, ` +
          `${d.genesis.declared ? 'declared' : 'created the first key'} at @${d.genesis.revision}), ${d.members} certified member(s)`,
  );

/** Unsigned key events before a declared genesis: what a deployment recorded before signed key events looks like. */
const beforeDeclaredGenesis = (s: SignatureReport): boolean =>
  s.problems.some((p) => {
    const g = p.problem === 'unsigned' ? s.deployments.find((d) => d.stream === p.stream)?.genesis : undefined;
    return g?.declared === true && BigInt(p.revision) < BigInt(g.revision);
  });

export const verifyText = (rep: VerifyReport): string => {
  const sigs = rep.signatures;
  const damaged = rep.storage.map((m) => `DAMAGED the store's own integrity check: ${printable(m)}`);
  const problems = rep.problems.length + (sigs?.problems.length ?? 0) + damaged.length;
  const signatureLines = sigs ? [signatureSummary(sigs), ...sigs.deployments.map(genesisLine)] : [];
  const warnings = (rep.exposures ?? []).map((w) => `WARNING ${printable(`${w.stream}: ${w.exposure}`)}`);
  if (problems === 0)
    return [`ledger intact: ${rep.events} events in ${rep.streams} streams, every hash verified`, ...signatureLines, ...warnings].map((l) => `${l}\n`).join('');
  const lines = [...damaged, ...rep.problems.map(hashLine), ...(sigs?.problems.map(signatureLine) ?? []), ...signatureLines, ...warnings];
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
  return `${lines.join('\n')}\n`;
};

const verifyCommand = async (io: Io, g: GlobalOptions, flags: VerifyFlags): Promise<number> =>
  withSession(io, g, async (s) => {
    if (flags.expectGenesis !== undefined && (!flags.signatures || !Thumbprint.is(flags.expectGenesis)))
      return usage('--expect-genesis goes with --signatures and takes the genesis thumbprint (43 base64url characters) its operators confirmed');
    // Ed25519 through node:crypto (the Crypto port's `signing`), loaded only when asked for.
    const signing = flags.signatures ? (await import('../../infra/signing')).signatures : undefined;
    const progress = progressReporter(io, !g.json, 'verifying ledger');
    const r = await verifyLedger(s.store, {
      digest: sha256Hex,
      onProgress: progress.update,
      ...(signing ? { signatures: { verify: signing.verify, thumbprint: signing.thumbprint } } : {}),
      ...(flags.expectGenesis !== undefined ? { expectGenesis: flags.expectGenesis } : {}),
      ...(flags.deep ? { deep: true } : {}),
    })();
    progress.stop();
    if (E.isLeft(r)) return r;
    const rep = r.right;
    const signatureProblems = rep.signatures?.problems.length ?? 0;
    s.log.write({
      command: 'verify',
      events: rep.events,
      streams: rep.streams,
      problems: rep.problems.length,
      ...(rep.signatures ? { signatureProblems, signaturesVerified: rep.signatures.verified } : {}),
    });
    emit(io, g, rep, verifyText(rep));
    return E.right(rep.problems.length === 0 && signatureProblems === 0 && rep.storage.length === 0 ? EXIT.ok : EXIT.tampered);
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
    .action(async (opts: VerifyFlags) => done(await verifyCommand(io, globals(), opts)));
};
