/**
 * `keyledger token create | list | revoke`: the bearer tokens of `keyledger serve` (docs/adr/0019). A token is printed
 * once, when it is created; the file beside the config (`<config>.tokens.json`, 0600) keeps only its SHA-256 — never
 * the ledger, which whoever can write the store could edit. The token's name is the actor of every event its requests
 * cause. A running server reads the file again when it changes: a revoked token is refused at its next request.
 */
import type { Command } from 'commander';
import * as E from 'fp-ts/Either';
import { DeploymentId } from '../../domain/ids';
import { nameProblem, shown } from '../../domain/text';
import { newToken, newTokenId, readTokens, Role, tokenFileOf, tokenHash, writeTokens } from '../../infra/token-file';
import { type CliError, EXIT } from '../errors';
import type { CommandScope, GlobalOptions, Io } from '../io';
import { emit, fail, usage } from '../session';

const fileOf = (g: GlobalOptions, tokens: string | undefined): string => tokens ?? tokenFileOf(g.config);

interface CreateFlags {
  readonly role?: string;
  readonly name?: string;
  readonly deployment?: string;
  readonly tokens?: string;
}

const createCommand = (io: Io, g: GlobalOptions, o: CreateFlags): number => {
  const checked = ((): E.Either<CliError, { role: Role; name: string; deployment?: string }> => {
    if (o.role === undefined || !Role.is(o.role)) return usage('--role takes operator, auditor or service');
    if (o.name === undefined) return usage('--name NAME: who holds the token (recorded as the actor of every event its requests cause)');
    const problem = nameProblem(o.name);
    if (problem !== undefined) return usage(`--name ${problem}: give 1–128 printable characters (e.g. ops@contoso or billing-service)`);
    if (o.role === 'service' && o.deployment === undefined) return usage('a service token is for one deployment: give --deployment D');
    if (o.role !== 'service' && o.deployment !== undefined) return usage('--deployment is for service tokens only (operators and auditors see the ledger)');
    if (o.deployment !== undefined && !DeploymentId.is(o.deployment))
      return usage(`--deployment "${shown(o.deployment, 64)}" is not a deployment ID (letters, digits, ".", "_", "-")`);
    return E.right({ role: o.role, name: o.name, ...(o.deployment !== undefined ? { deployment: o.deployment } : {}) });
  })();
  if (E.isLeft(checked)) return fail(io, checked.left);
  const file = fileOf(g, o.tokens);
  const tokens = readTokens(file);
  if (E.isLeft(tokens)) return fail(io, tokens.left);
  if (tokens.right.some((t) => t.name === checked.right.name))
    return fail(io, { _tag: 'UsageError', message: `a token named "${shown(checked.right.name)}" exists already: revoke it first, or choose another name` });
  const token = newToken();
  const record = {
    id: newTokenId(),
    name: checked.right.name,
    role: checked.right.role,
    sha256: tokenHash(token),
    createdAt: new Date().toISOString(),
    ...(checked.right.deployment !== undefined ? { deployment: checked.right.deployment as DeploymentId } : {}),
  };
  const written = writeTokens(file, [...tokens.right, record]);
  if (E.isLeft(written)) return fail(io, written.left);
  const { sha256: _hash, ...shownRecord } = record;
  emit(
    io,
    g,
    { ...shownRecord, token, file },
    `${token}\n` +
      `(token ${record.id} for ${shown(record.name)}, role ${record.role}${record.deployment ? ` in deployment ${record.deployment}` : ''}; ` +
      `shown once: only its hash is kept in ${file}. Send it as Authorization: Bearer <token>.)\n`,
  );
  return EXIT.ok;
};

const listCommand = (io: Io, g: GlobalOptions, tokensFile: string | undefined): number => {
  const file = fileOf(g, tokensFile);
  const tokens = readTokens(file);
  if (E.isLeft(tokens)) return fail(io, tokens.left);
  const rows = tokens.right.map(({ sha256: _hash, ...t }) => t);
  const text =
    rows.length === 0
      ? `no tokens in ${file} (keyledger token create --role operator --name NAME issues one)\n`
      : `${rows.map((t) => `${t.id}  ${t.role.padEnd(8)}  ${shown(t.name, 64)}${t.deployment ? `  (deployment ${t.deployment})` : ''}  created ${t.createdAt}`).join('\n')}\n`;
  emit(io, g, rows, text);
  return EXIT.ok;
};

const revokeCommand = (io: Io, g: GlobalOptions, which: string, tokensFile: string | undefined): number => {
  const file = fileOf(g, tokensFile);
  const tokens = readTokens(file);
  if (E.isLeft(tokens)) return fail(io, tokens.left);
  const gone = tokens.right.filter((t) => t.id === which || t.name === which);
  if (gone.length === 0)
    return fail(io, { _tag: 'UsageError', message: `no token has the ID or name "${shown(which, 64)}" (keyledger token list shows them)` });
  const written = writeTokens(
    file,
    tokens.right.filter((t) => !gone.includes(t)),
  );
  if (E.isLeft(written)) return fail(io, written.left);
  emit(
    io,
    g,
    gone.map(({ sha256: _hash, ...t }) => t),
    `revoked: ${gone.map((t) => `${t.id} (${shown(t.name, 64)})`).join(', ')}; a running server refuses it from its next request\n`,
  );
  return EXIT.ok;
};

export const registerToken = (program: Command, { io, globals, done }: CommandScope): void => {
  const token = program
    .command('token')
    .description('the bearer tokens of keyledger serve: kept as hashes in a 0600 file beside the config (<config>.tokens.json), never in the ledger');
  token
    .command('create')
    .requiredOption(
      '--role <role>',
      'operator (key operations), auditor (read only: trail, diagnose, report, verify) or service (status and secrets of its deployment)',
    )
    .requiredOption('--name <name>', 'who holds it: the actor recorded on every event its requests cause')
    .option('--deployment <id>', 'a service token: the deployment it may act in')
    .option('--tokens <file>', 'the token file (default: <config>.tokens.json beside the config)')
    .description('issue a token: printed once, on stdout; only its SHA-256 is kept')
    .action((o: CreateFlags) => done(createCommand(io, globals(), o)));
  token
    .command('list')
    .option('--tokens <file>', 'the token file (default: <config>.tokens.json beside the config)')
    .description('the tokens issued: ID, role, name, deployment, when (never the token, nor its hash)')
    .action((o: { tokens?: string }) => done(listCommand(io, globals(), o.tokens)));
  token
    .command('revoke')
    .argument('<idOrName>', 'the token to revoke: its ID or its name')
    .option('--tokens <file>', 'the token file (default: <config>.tokens.json beside the config)')
    .description('revoke a token: a running server refuses it from its next request')
    .action((which: string, o: { tokens?: string }) => done(revokeCommand(io, globals(), which, o.tokens)));
};
