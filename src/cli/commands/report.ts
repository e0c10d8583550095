/**
 * `keyledger report`: a compliance report for one deployment over a period (docs/adr/0017-compliance-report.md) —
 * key operations, membership, findings against a policy, and the integrity of the trail, signatures checked against
 * the reviewer's trust anchor only. HTML (self-contained), JSON or CSV, to stdout or a file.
 * Exit 0 no finding, 6 findings, 4 the trail was altered (hash chain, or signatures against the anchor).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { type LatestCheckpoint, latestCheckpoint } from '../../commands/checkpoint-report';
import { DeploymentId, deploymentStream, Thumbprint } from '../../domain/ids';
import { decodePolicyFile, Duration, type PolicyFile, policyOf, type ReportPolicy } from '../../domain/report-policy';
import { shown } from '../../domain/text';
import { sha256Hex } from '../../infra/sha256';
import type { EventStore, StoreError } from '../../ports/event-store';
import { buildReport, type ComplianceReport, type ReportCheckpoint } from '../../projections/report-runner';
import { type CliError, EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { countedProgress } from '../progress';
import { reportCsv } from '../report-csv';
import { reportHtml } from '../report-html';
import { reportSummaryText } from '../report-text';
import { withReadSession } from '../read-session';
import { usage } from '../session';

export interface ReportFlags {
  readonly deployment?: string;
  readonly from?: string;
  readonly to?: string;
  readonly policy?: string;
  readonly maxKeyAge?: string;
  readonly maxBackupAge?: string;
  /** commander's `--no-require-backup`: false when given. */
  readonly requireBackup?: boolean;
  readonly trust?: string;
  readonly format?: string;
  readonly out?: string;
}

export type ReportFormat = 'html' | 'json' | 'csv';
const FORMATS: ReadonlyArray<ReportFormat> = ['html', 'json', 'csv'];

/** A deployment with fewer events than this is read before a bar would say anything. */
const BAR_FROM = 10_000;

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** An ISO date or date-time from the command line: a date alone starts the day (`--from`) or ends it (`--to`), in UTC. */
export const parseInstant = (flag: '--from' | '--to', s: string): E.Either<CliError, string> => {
  const ms = DATE_ONLY.test(s) ? Date.parse(`${s}T00:00:00.000Z`) + (flag === '--to' ? 86_400_000 - 1 : 0) : DATE_TIME.test(s) ? Date.parse(s) : Number.NaN;
  return Number.isFinite(ms)
    ? E.right(new Date(ms).toISOString())
    : usage(`${flag} "${shown(s, 40)}" is not an ISO date: give 2026-01-31 or 2026-01-31T18:00:00Z (a date alone is the whole day, UTC)`);
};

const formatOf = (flags: ReportFlags, g: GlobalOptions): E.Either<CliError, ReportFormat> => {
  if (flags.format !== undefined)
    return (FORMATS as ReadonlyArray<string>).includes(flags.format)
      ? E.right(flags.format as ReportFormat)
      : usage(`--format "${shown(flags.format, 20)}" is not one of html, json, csv`);
  if (g.json) return E.right('json');
  const ext = flags.out === undefined ? '' : path.extname(flags.out).toLowerCase();
  return E.right(ext === '.json' ? 'json' : ext === '.csv' ? 'csv' : 'html');
};

const readPolicyFile = (file: string): E.Either<CliError, PolicyFile> => {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return usage(`--policy ${shown(file, 120)}: ${code ? `cannot be read (${code})` : 'is not valid JSON'}: give a readable JSON file`);
  }
  const decoded = decodePolicyFile(json);
  return E.isLeft(decoded)
    ? usage(`--policy ${shown(file, 120)}: ${decoded.left}: fix the file (members: maxKeyAge, maxBackupAge, requireBackup, trust)`)
    : decoded;
};

/** The policy from the file (if any) and the flags, each flag checked. */
export const policyFrom = (flags: ReportFlags): E.Either<CliError, ReportPolicy> => {
  const file = flags.policy === undefined ? E.right({}) : readPolicyFile(flags.policy);
  if (E.isLeft(file)) return file;
  for (const [flag, v] of [
    ['--max-key-age', flags.maxKeyAge],
    ['--max-backup-age', flags.maxBackupAge],
  ] as const)
    if (v !== undefined && !Duration.is(v))
      return usage(`${flag} "${shown(v, 20)}" is not a duration: give a whole number of hours, days or weeks (36h, 90d, 12w)`);
  if (flags.trust !== undefined && !Thumbprint.is(flags.trust))
    return usage("--trust takes the genesis signing-key thumbprint (43 base64url characters) the deployment's operators confirmed to you out of band");
  return E.right(
    policyOf(file.right, {
      ...(flags.maxKeyAge !== undefined ? { maxKeyAge: flags.maxKeyAge as Duration } : {}),
      ...(flags.maxBackupAge !== undefined ? { maxBackupAge: flags.maxBackupAge as Duration } : {}),
      ...(flags.requireBackup === false ? { requireBackup: false } : {}),
      ...(flags.trust !== undefined ? { trust: flags.trust as Thumbprint } : {}),
    }),
  );
};

export const renderReport = (r: ComplianceReport, format: ReportFormat): string =>
  format === 'html' ? reportHtml(r) : format === 'csv' ? reportCsv(r) : `${JSON.stringify(r, null, 2)}\n`;

/** Written next to its place and renamed into it: a reader never sees half a report, and a failed write leaves what was there. */
const writeOut = (file: string, text: string): E.Either<CliError, void> => {
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text, { mode: 0o644 });
    fs.renameSync(tmp, file);
    return E.right(undefined);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    return E.left({ _tag: 'ReportNotWritten', file, code: (e as NodeJS.ErrnoException).code ?? 'EIO' });
  }
};

export const exitOf = (r: ComplianceReport): number => (r.verdict === 'clean' ? EXIT.ok : r.verdict === 'tampered' ? EXIT.tampered : EXIT.findings);

/** The latest checkpoint this deployment's members signed (ADR 0018), counted against the keys its trust walk certifies. */
const checkpointOf = async (store: EventStore, deploymentId: DeploymentId, r: ComplianceReport): Promise<E.Either<StoreError, ReportCheckpoint>> => {
  const [{ signatures }, { ed25519Of }, { sha256Bytes }] = await Promise.all([
    import('../../infra/signing'),
    import('../../infra/note-verify'),
    import('../../infra/sqlite-tree'),
  ]);
  const latest = await latestCheckpoint(
    { store, sha256: sha256Bytes, ed25519: ed25519Of(signatures.verify), trust: { verify: signatures.verify, thumbprint: signatures.thumbprint } },
    [deploymentStream(deploymentId)],
  );
  const s = r.integrity.signatures.status;
  return E.map((c: LatestCheckpoint) => ({ ...c, anchored: s === 'verified' || s === 'problems' }))(latest);
};

const reportCommand = async (io: Io, g: GlobalOptions, flags: ReportFlags): Promise<number> =>
  // A reviewer's machine needs no config: `--store CONN --deployment D` is enough (a read-only session).
  withReadSession(io, g, async (s) => {
    const format = formatOf(flags, g);
    if (E.isLeft(format)) return format;
    const policy = policyFrom(flags);
    if (E.isLeft(policy)) return policy;
    const local = s.local?.config.instance;
    if (flags.deployment === undefined && local === undefined)
      return usage('name the deployment to report on with --deployment (there is no config here to take it from)');
    const deploymentId = flags.deployment ?? local?.deploymentId ?? '';
    if (!DeploymentId.is(deploymentId)) return usage(`--deployment "${shown(deploymentId, 64)}" is not a deployment name (letters, digits, . _ -; up to 63)`);
    const now = new Date();
    const to = flags.to === undefined ? E.right(now.toISOString()) : parseInstant('--to', flags.to);
    if (E.isLeft(to)) return to;
    const from = flags.from === undefined ? E.right(null) : parseInstant('--from', flags.from);
    if (E.isLeft(from)) return from;
    if (from.right !== null && from.right > to.right)
      return usage(`--from (${from.right}) is after --to (${to.right}): give a period that starts before it ends`);
    // Ed25519 through node:crypto, loaded only when there is an anchor to check signatures against.
    const signing = policy.right.trust !== null ? (await import('../../infra/signing')).signatures : undefined;
    // A bar on stderr on a terminal (the report itself may be going to stdout); nothing when piped.
    const progress = countedProgress(io, true, `reading deployment ${deploymentId}`);
    const built = await buildReport(s.store, {
      deploymentId,
      period: { from: from.right, to: to.right },
      policy: policy.right,
      digest: sha256Hex,
      ...(signing ? { signatures: { verify: signing.verify, thumbprint: signing.thumbprint } } : {}),
      alsoInstances: local?.deploymentId === deploymentId ? [local.installationId] : [],
      generatedAt: now.toISOString(),
      ...(io.isTTY ? { onProgress: (done: number, total: number) => total >= BAR_FROM && progress.update(done, total) } : {}),
    })();
    progress.stop();
    if (E.isLeft(built)) return built;
    const checkpoint = await checkpointOf(s.store, deploymentId, built.right);
    if (E.isLeft(checkpoint)) return checkpoint;
    const r: ComplianceReport = { ...built.right, checkpoint: checkpoint.right };
    // A misspelt deployment must not read as a deployment without findings.
    if (r.integrity.events === 0) return usage(`deployment "${deploymentId}" has no events in this ledger (${s.store.endpoint}): check --deployment`);
    s.local?.log.write({ command: 'report', deploymentId, verdict: r.verdict, findings: r.findings.length, events: r.integrity.events });
    const text = renderReport(r, format.right);
    if (flags.out === undefined) io.stdout(text);
    else {
      const written = writeOut(flags.out, text);
      if (E.isLeft(written)) return written;
      io.stdout(
        g.json
          ? `${JSON.stringify({ out: path.resolve(flags.out), format: format.right, verdict: r.verdict, findings: r.findings.length })}\n`
          : reportSummaryText(r, flags.out, format.right),
      );
    }
    return E.right(exitOf(r));
  });

export const registerReport = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('report')
    .description(
      'a compliance report for a deployment over a period: every key operation (actor, time, key version, thumbprints), membership, ' +
        'findings against a policy, and the integrity of the trail (hash links, heads; signatures against --trust only)',
    )
    .option('--deployment <name>', "the deployment (default: this config's; needed with --store on a machine without a config)")
    .option('--from <date>', 'start of the period, ISO (2026-01-01, or 2026-01-01T08:00:00Z); default: the first event')
    .option('--to <date>', 'end of the period, ISO (a date alone: the whole day, UTC); the state and findings are those at its end; default: now')
    .option('--policy <file>', 'a policy file (JSON): {"maxKeyAge": "90d", "maxBackupAge": "30d", "requireBackup": true, "trust": "<genesis thumbprint>"}')
    .option('--max-key-age <duration>', 'finding when the current key version is older than this at the end of the period (36h, 90d, 12w)')
    .option('--max-backup-age <duration>', 'finding when the newest backup of the current key version is older than this')
    .option('--no-require-backup', 'no finding for a current key version never backed up (unless --max-backup-age is given)')
    .option('--trust <thumbprint>', "the genesis thumbprint the deployment's operators confirmed to you out of band: signatures are checked against it")
    .option('--format <format>', "html | json | csv (default: from --out's extension, json with --json, else html)")
    .option('--out <file>', 'write the report to this file (replaced atomically) and print a summary; default: stdout')
    .addHelpText(
      'after',
      `
Signatures are checked only against the trust anchor you give (--trust, or "trust" in the policy file), never against
what the ledger says about itself; without one the report says plainly that they were not checked.

Findings: KeyTooOld, NoBackupOfCurrentKey, BackupTooOld, ContentDeleted, InstanceDisabled, InstanceNotActivated,
the mismatch findings of status (RemovedMemberHoldsKey, ForeignPublicKey, StaleCopy, …), HashChainBroken,
SignatureNotVerified, TrustAnchorMismatch. A progress bar is drawn on a terminal (stderr) for long reads.

Examples:
  keyledger report --from 2026-01-01 --to 2026-03-31 --max-key-age 90d --trust <genesis> --out q1.html
  keyledger report --policy policy.json --format csv > q1.csv
Exit codes: 0 no finding, 6 findings, 4 the trail was altered (hash chain, or a signature against the anchor), 2 bad input, 3 failure.`,
    )
    .action(async (opts: ReportFlags) => done(await reportCommand(io, globals(), opts)));
};
