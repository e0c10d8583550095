/**
 * `keyledger audit [installationId] | --deployment D | --all`: the trail of key operations, filtered by time, type,
 * actor and correlation ID, as a table, JSON lines (--json) or CSV (--csv). It streams: each page is printed as it
 * is read (the first lines at once), and nothing but a page is held, whatever the size of the ledger. The global
 * `--actor` and `--correlation-id` are filters here (audit records nothing).
 */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { type TrailScope, trailPages } from '../../commands/trail';
import { EVENT_TYPES } from '../../domain/event-classes';
import type { LedgerEventType } from '../../domain/events';
import { DeploymentId, type InstallationId } from '../../domain/ids';
import { sha256Hex } from '../../infra/sha256';
import { auditRecord, matchesTrail, type TrailFilter } from '../../projections/trail';
import { type CliError, EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { progressReporter } from '../progress';
import { withReadSession } from '../read-session';
import { csvRows, jsonLine, tableHeader, tableRow } from '../render-audit';
import { fail, parseInstallationId, usage } from '../session';
import { parseInstant } from '../points';
import { shown } from '../render';

export interface AuditFlags {
  readonly deployment?: string;
  readonly all?: boolean;
  readonly since?: string;
  readonly until?: string;
  readonly type?: ReadonlyArray<string>;
  readonly csv?: boolean;
}

const BY_LOWER = new Map(EVENT_TYPES.map((t) => [t.toLowerCase(), t]));

/** `--type A,B --type C`: each a known event type (any case). */
export const parseTypes = (values: ReadonlyArray<string>): E.Either<CliError, ReadonlySet<LedgerEventType> | undefined> => {
  if (values.length === 0) return E.right(undefined);
  const out = new Set<LedgerEventType>();
  for (const v of values.flatMap((x) => x.split(','))) {
    const name = v.trim();
    if (name === '') continue;
    const type = BY_LOWER.get(name.toLowerCase());
    if (type === undefined) return usage(`--type "${shown(name, 64)}" is not an event type. Known types: ${EVENT_TYPES.join(', ')}`);
    out.add(type);
  }
  return out.size === 0 ? usage('--type names no event type') : E.right(out);
};

const filterOf = (g: GlobalOptions, flags: AuditFlags): E.Either<CliError, TrailFilter> => {
  const since = flags.since === undefined ? E.right(undefined) : parseInstant(flags.since, '--since');
  if (E.isLeft(since)) return since;
  const until = flags.until === undefined ? E.right(undefined) : parseInstant(flags.until, '--until');
  if (E.isLeft(until)) return until;
  const types = parseTypes(flags.type ?? []);
  if (E.isLeft(types)) return types;
  return E.right({
    ...(since.right ? { since: since.right.ms } : {}),
    ...(until.right ? { until: until.right.ms } : {}),
    ...(types.right ? { types: types.right } : {}),
    ...(g.actor !== undefined ? { actor: g.actor } : {}),
    ...(g.correlationId !== undefined ? { correlationId: g.correlationId } : {}),
  });
};

const auditCommand = async (io: Io, g: GlobalOptions, id: string | undefined, flags: AuditFlags): Promise<number> => {
  const filter = filterOf(g, flags);
  if (E.isLeft(filter)) return fail(io, filter.left);
  const scopes = [id !== undefined, flags.deployment !== undefined, flags.all === true].filter(Boolean).length;
  if (scopes > 1) return fail(io, { _tag: 'UsageError', message: 'audit one instance, --deployment D or --all: not several' });
  if (flags.csv && g.json) return fail(io, { _tag: 'UsageError', message: '--csv and --json are two formats: choose one' });
  const requested = id === undefined ? E.right(undefined) : parseInstallationId(id);
  if (E.isLeft(requested)) return fail(io, requested.left);
  if (flags.deployment !== undefined && !DeploymentId.is(flags.deployment))
    return fail(io, { _tag: 'UsageError', message: `--deployment "${shown(flags.deployment, 64)}" is not a deployment ID (letters, digits, ".", "_", "-")` });
  return withReadSession(io, g, async (s) => {
    let scope: TrailScope;
    if (requested.right !== undefined) scope = { kind: 'instance', installationId: requested.right };
    else if (flags.deployment !== undefined) scope = { kind: 'deployment', deploymentId: flags.deployment as DeploymentId };
    else if (flags.all) scope = { kind: 'ledger' };
    else if (s.local) scope = { kind: 'instance', installationId: s.local.config.instance.installationId as InstallationId };
    else return usage('name what to audit: keyledger audit <installationId>, --deployment D, or --all for the whole ledger (this machine has no config)');
    const format = flags.csv ? 'csv' : g.json ? 'json' : 'table';
    const pages = trailPages(s.store, scope, sha256Hex);
    // A bar only where it helps: a long read whose lines go to a file or a pipe while stderr is a terminal.
    const progress = progressReporter(io, scope.kind !== 'instance' && io.stdoutIsTTY !== true, 'reading the trail');
    let matched = 0;
    try {
      for (let first = true; ; first = false) {
        const page = await pages.next();
        if (E.isLeft(page)) return page;
        progress.update(pages.read());
        const records = page.right.filter((e) => matchesTrail(filter.right, e)).map(auditRecord);
        matched += records.length;
        const head = first && format === 'table' ? tableHeader() : '';
        if (format === 'csv' && (first || records.length > 0)) io.stdout(csvRows(records, first));
        else if (records.length > 0 || head !== '') io.stdout(head + records.map(format === 'json' ? jsonLine : tableRow).join(''));
        if (page.right.length === 0) break;
      }
    } finally {
      progress.stop();
      await pages.close();
    }
    if (format === 'table' && matched === 0) io.stdout('(no events match)\n');
    return E.right(EXIT.ok);
  });
};

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export const registerAudit = (program: Command, { io, globals, done }: CommandScope): void => {
  program
    .command('audit')
    .argument('[installationId]', "one instance's trail (default: this config's instance)")
    .option('--deployment <id>', "a deployment's trail: its key events, its secrets' events, and every event of its instances")
    .option('--all', 'the whole ledger')
    .option('--since <time>', 'events recorded at or after this time (ISO 8601: 2026-11-29, or 2026-11-29T14:00:00Z)')
    .option('--until <time>', 'events recorded before this time')
    .option('--type <types>', 'only these event types (repeat it, or a comma list: --type InstanceRemoved,KeyRestored)', collect, [])
    .option('--csv', "CSV (RFC 4180) for spreadsheets: a value that begins like a formula gets a leading ' and stays text")
    .description(
      'the audit trail of key operations — who, when, which command and correlation ID, which instance, which key version — ' +
        'for one instance, a deployment or the whole ledger; a table, JSON lines (--json) or CSV (--csv); streamed, in flat memory',
    )
    .addHelpText(
      'after',
      '\nThe global --actor and --correlation-id filter the trail here (audit records nothing):\n' +
        '  keyledger audit --all --actor ops@rs-node-1 --since 2026-11-01 --csv > november.csv\n' +
        '  keyledger --json audit --deployment default --type SymmetricKeyCreated,KeyVersionRetired\n' +
        "Without an argument: this config's instance; on a machine with no config, name one, --deployment D or --all (with --store).\n",
    )
    .action(async (id: string | undefined, o: AuditFlags) => done(await auditCommand(io, globals(), id, o)));
};
