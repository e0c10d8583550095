/**
 * The JSON API (docs/adr/0019): each route once — method, path, who may call it, its codecs, its handler — so the
 * server, the role matrix test and the OpenAPI document (./openapi.ts) read the same table. Every handler is the CLI
 * command's composition over the same command functions (src/commands) and renderers: it builds the same deps from a
 * per-request session whose actor is the token's name, and answers with what `--json` prints, or the typed error
 * with the CLI's one line and a status from the same classes as its exit code (./errors.ts).
 */
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import * as E from 'fp-ts/Either';
import type * as t from 'io-ts';
import { iterationsFrom, MIN_PASSWORD_LENGTH } from '../cli/commands/backup-restore';
import { parseTypes } from '../cli/commands/audit';
import { rewriteIdentity } from '../cli/commands/change-identity';
import { proofOf, verifierKeys } from '../cli/commands/tree';
import { runVerify } from '../cli/commands/verify';
import { parseInstant as reportInstant, policyFrom, renderReport } from '../cli/commands/report';
import type { CliError } from '../cli/errors';
import { parseAt, parseInstant } from '../cli/points';
import { membershipOf, statusJson } from '../cli/render';
import { diagnoseJson } from '../cli/render-diagnose';
import { jsonLine } from '../cli/render-audit';
import { instanceDeps, instanceSigner, rememberedHeads, secretDeps, type Session, usage, witnessDeps } from '../cli/session';
import { backupKey, type BackupDeps, restoreKey } from '../commands/backup';
import { deleteContent, planContentDeletion } from '../commands/delete-content';
import { diagnose } from '../commands/diagnose';
import { changeServiceIdentity } from '../commands/identity';
import { joinInstance, removeInstance } from '../commands/membership';
import { recreateKey } from '../commands/recreate';
import { deleteSecret, getSecret, listSecrets, MAX_SECRET_BYTES, putSecret } from '../commands/secrets';
import { type TrailScope, trailPages } from '../commands/trail';
import { headJson } from '../commands/tree';
import { checkedHead, signHead } from '../commands/witness';
import type { SecretName } from '../domain/events';
import type { DeploymentId, InstallationId, NonEmptyString } from '../domain/ids';
import { nameProblem } from '../domain/text';
import { sha256Hex } from '../infra/sha256';
import type { Role } from '../infra/token-file';
import { findingsFor } from '../projections/findings';
import { buildReport } from '../projections/report-runner';
import { instanceByName } from '../projections/instance-by-name';
import { instanceStatus, listInstances } from '../projections/status';
import { auditRecord, matchesTrail, type TrailFilter } from '../projections/trail';
import type { Access, Principal } from './auth';
import {
  AuditQuery,
  BackupBody,
  ChangeIdentityBody,
  decodeInput,
  DeleteContentBody,
  DiagnoseQuery,
  InstanceParams,
  JoinBody,
  NoBody,
  NoQuery,
  ProveQuery,
  RemoveBody,
  ReportQuery,
  RestoreBody,
  SecretParams,
  SecretPutBody,
  VerifyBody,
} from './codecs';
import { requestSession, type ServerContext } from './context';
import { errorBody, httpStatusOf } from './errors';

// ─── The route table ──────────────────────────────────────────────────────

/** What a handler fails with: the CLI's errors, or a service token reaching outside its deployment (403). */
export type ApiError = CliError | Forbidden;
export interface Forbidden {
  readonly _tag: 'Forbidden';
  readonly message: string;
}

/** What a handler answers: JSON (the CLI's `--json` value), or text of a type (a report as HTML or CSV), or a stream of JSON lines. */
export type Answer =
  | { readonly kind: 'json'; readonly body: unknown; readonly status?: number }
  | { readonly kind: 'text'; readonly type: string; readonly body: string; readonly status?: number }
  | { readonly kind: 'ndjson'; readonly lines: AsyncIterable<string> };

export interface HandlerInput<P, Q, B> {
  readonly who: Principal;
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  readonly s: Session;
  readonly ctx: ServerContext;
}

export interface ApiRoute<P extends t.Mixed = t.Mixed, Q extends t.Mixed = t.Mixed, B extends t.Mixed = t.Mixed> {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly url: string;
  readonly roles: ReadonlyArray<Role>;
  readonly summary: string;
  readonly params?: P;
  readonly query: Q;
  /** GET and DELETE take no body. */
  readonly body?: B;
  /** A service token may call it only for the served instance's deployment (checked before the input is read). */
  readonly served?: boolean;
  /** What a success answers with (for the OpenAPI document). */
  readonly produces: 'application/json' | 'application/x-ndjson' | 'application/json, text/html, text/csv';
  readonly handle: (i: HandlerInput<t.TypeOf<P>, t.TypeOf<Q>, t.TypeOf<B>>) => Promise<E.Either<ApiError, Answer>>;
}

const route = <P extends t.Mixed, Q extends t.Mixed, B extends t.Mixed>(r: ApiRoute<P, Q, B>): ApiRoute => r as unknown as ApiRoute;

const json = (body: unknown, status?: number): E.Either<ApiError, Answer> => E.right({ kind: 'json', body, ...(status ? { status } : {}) });

const READERS: ReadonlyArray<Role> = ['operator', 'auditor'];
const OPERATOR: ReadonlyArray<Role> = ['operator'];

/** A service token acts only within its own deployment. */
const forbiddenOutside = (who: Principal, deploymentId: string | null): E.Either<Forbidden, never> | undefined =>
  who.role === 'service' && who.deployment !== deploymentId
    ? E.left({ _tag: 'Forbidden', message: `this service token is for deployment ${who.deployment ?? '(none)'}, not this one` })
    : undefined;

// ─── Reads from the live view ─────────────────────────────────────────────

const liveView = (ctx: ServerContext) => {
  const s = ctx.view.state();
  return s.kind === 'live'
    ? E.right(s.view)
    : E.left<CliError>(
        s.kind === 'failed'
          ? s.error
          : { _tag: 'StoreUnavailable', endpoint: ctx.base().store.endpoint, message: 'the ledger is still being read', cause: undefined },
      );
};

const statusOf = async ({ who, ctx }: HandlerInput<unknown, unknown, unknown>, id: string): Promise<E.Either<ApiError, Answer>> => {
  const view = liveView(ctx);
  if (E.isLeft(view)) return view;
  const st = instanceStatus(view.right, id);
  const denied = forbiddenOutside(who, st.state === 'not-initialized' ? null : st.view.deploymentId);
  if (denied) return denied;
  return json(statusJson(st, findingsFor(view.right, id)));
};

// ─── Handlers ─────────────────────────────────────────────────────────────

const auditFilter = (q: t.TypeOf<typeof AuditQuery>): E.Either<CliError, TrailFilter> => {
  const since = q.since === undefined ? E.right(undefined) : parseInstant(q.since, 'since');
  if (E.isLeft(since)) return since;
  const until = q.until === undefined ? E.right(undefined) : parseInstant(q.until, 'until');
  if (E.isLeft(until)) return until;
  const types = parseTypes(q.type === undefined ? [] : [q.type]);
  if (E.isLeft(types)) return types;
  return E.right({
    ...(since.right ? { since: since.right.ms } : {}),
    ...(until.right ? { until: until.right.ms } : {}),
    ...(types.right ? { types: types.right } : {}),
    ...(q.actor !== undefined ? { actor: q.actor } : {}),
    ...(q.correlationId !== undefined ? { correlationId: q.correlationId } : {}),
  });
};

const audit = async ({ s, query: q }: HandlerInput<unknown, t.TypeOf<typeof AuditQuery>, unknown>): Promise<E.Either<ApiError, Answer>> => {
  const parsed = auditFilter(q);
  if (E.isLeft(parsed)) return parsed;
  const filter = parsed.right;
  const scopes = [q.installationId !== undefined, q.deployment !== undefined, q.all === 'true'].filter(Boolean).length;
  if (scopes > 1) return usage('audit one instance (installationId), a deployment or all: not several');
  const scope: TrailScope =
    q.installationId !== undefined
      ? { kind: 'instance', installationId: q.installationId.toLowerCase() as InstallationId }
      : q.deployment !== undefined
        ? { kind: 'deployment', deploymentId: q.deployment }
        : q.all === 'true'
          ? { kind: 'ledger' }
          : { kind: 'instance', installationId: s.config.instance.installationId as InstallationId };
  const pages = trailPages(s.store, scope, sha256Hex);
  // The first page before the answer starts: a ledger that cannot be read is an error status, not a broken stream.
  const first = await pages.next();
  if (E.isLeft(first)) {
    await pages.close();
    return first;
  }
  async function* lines(): AsyncGenerator<string> {
    try {
      let page = first;
      for (;;) {
        if (E.isLeft(page)) {
          // Mid-stream: the status is sent already; the last line says what stopped it.
          yield `${JSON.stringify(errorBody(page.left))}\n`;
          return;
        }
        const out = page.right
          .filter((e) => matchesTrail(filter, e))
          .map(auditRecord)
          .map(jsonLine)
          .join('');
        if (out) yield out;
        if (page.right.length === 0) return;
        page = await pages.next();
      }
    } finally {
      await pages.close();
    }
  }
  return E.right({ kind: 'ndjson', lines: lines() });
};

const report = async ({ s, query: q, who }: HandlerInput<unknown, t.TypeOf<typeof ReportQuery>, unknown>): Promise<E.Either<ApiError, Answer>> => {
  const policy = policyFrom({
    ...(q.maxKeyAge !== undefined ? { maxKeyAge: q.maxKeyAge } : {}),
    ...(q.maxBackupAge !== undefined ? { maxBackupAge: q.maxBackupAge } : {}),
    ...(q.requireBackup === 'false' ? { requireBackup: false } : {}),
    ...(q.trust !== undefined ? { trust: q.trust } : {}),
  });
  if (E.isLeft(policy)) return policy;
  const deploymentId = q.deployment ?? s.config.instance.deploymentId;
  const now = new Date();
  const to = q.to === undefined ? E.right(now.toISOString()) : reportInstant('--to', q.to);
  if (E.isLeft(to)) return to;
  const from = q.from === undefined ? E.right(null) : reportInstant('--from', q.from);
  if (E.isLeft(from)) return from;
  if (from.right !== null && from.right > to.right) return usage(`from (${from.right}) is after to (${to.right}): give a period that starts before it ends`);
  const signing = policy.right.trust !== null ? (await import('../infra/signing')).signatures : undefined;
  const built = await buildReport(s.store, {
    deploymentId,
    period: { from: from.right, to: to.right },
    policy: policy.right,
    digest: sha256Hex,
    ...(signing ? { signatures: { verify: signing.verify, thumbprint: signing.thumbprint } } : {}),
    alsoInstances: s.config.instance.deploymentId === deploymentId ? [s.config.instance.installationId] : [],
    generatedAt: now.toISOString(),
  })();
  if (E.isLeft(built)) return built;
  const r = built.right;
  if (r.integrity.events === 0) return usage(`deployment "${deploymentId}" has no events in this ledger: check the deployment`);
  s.log.write({ command: 'report', via: 'http', actor: who.name, deploymentId, verdict: r.verdict, findings: r.findings.length });
  const format = q.format ?? 'json';
  if (format === 'json') return json(r);
  return E.right({ kind: 'text', type: format === 'html' ? 'text/html; charset=utf-8' : 'text/csv; charset=utf-8', body: renderReport(r, format) });
};

const verify = async ({ s, body }: HandlerInput<unknown, unknown, t.TypeOf<typeof VerifyBody>>): Promise<E.Either<ApiError, Answer>> => {
  if (body.expectGenesis !== undefined && !body.signatures && body.checkpoint === undefined)
    return usage('expectGenesis goes with signatures: true (or a checkpoint)');
  if (body.keys !== undefined && body.checkpoint === undefined) return usage('keys go with checkpoint: the keys whose signatures on it count');
  // The CLI's `verify [--signatures] [--checkpoint FILE --key VKEY…]`: the checkpoint's text is the body's, and implies signatures.
  const r = await runVerify(s, {
    ...(body.signatures || body.checkpoint !== undefined ? { signatures: true } : {}),
    ...(body.expectGenesis !== undefined ? { expectGenesis: body.expectGenesis } : {}),
    ...(body.deep ? { deep: true } : {}),
    ...(body.checkpoint !== undefined ? { checkpoint: { note: body.checkpoint, source: '(the request body)' } } : {}),
    ...(body.keys !== undefined ? { keys: body.keys } : {}),
  });
  if (E.isLeft(r)) return r;
  const { report: rep, checkpoint: cp, intact } = r.right;
  s.log.write({
    command: 'verify',
    via: 'http',
    events: rep.events,
    problems: rep.problems.length,
    intact,
    ...(cp ? { checkpointSize: rep.tree?.checkpoint?.head.size } : {}),
  });
  return json({ intact, ...rep, ...(cp ? { checkpointFile: cp } : {}) });
};

const checkpoint = async ({ s }: HandlerInput<unknown, unknown, unknown>): Promise<E.Either<ApiError, Answer>> => {
  const deps = await instanceDeps(s, 'checkpoint');
  const w = await witnessDeps(s, deps);
  if (E.isLeft(w)) return w;
  if (!w.right) return usage('this instance cannot sign: its keystore has no signing key, or its machine secret is not here (its status says why)');
  const head = await checkedHead(w.right);
  if (E.isLeft(head)) return head;
  const note = await signHead(w.right, head.right, 'note');
  if (E.isLeft(note)) return note;
  s.log.write({ command: 'checkpoint', via: 'http', size: head.right.size, origin: head.right.origin });
  return json({ ...headJson(head.right), note: note.right });
};

/** The newcomer a join names: its installation ID, or the instance so named in the live view (the CLI's `join --machine M --instance N`). */
const newcomerOf = (ctx: ServerContext, body: t.TypeOf<typeof JoinBody>): E.Either<ApiError, InstallationId> => {
  if ('installationId' in body) return E.right(body.installationId.toLowerCase() as InstallationId);
  for (const [member, name] of [
    ['machineName', body.machineName],
    ['instanceName', body.instanceName],
  ] as const) {
    const problem = nameProblem(name);
    if (problem !== undefined) return usage(`body member "${member}" ${problem}: give the name keyledger list shows`);
  }
  const view = liveView(ctx);
  return E.isLeft(view) ? view : instanceByName(view.right, body.machineName, body.instanceName);
};

const join = async ({ s, body, ctx }: HandlerInput<unknown, unknown, t.TypeOf<typeof JoinBody>>): Promise<E.Either<ApiError, Answer>> => {
  const named = newcomerOf(ctx, body);
  if (E.isLeft(named)) return named;
  const newcomer = named.right;
  // Over HTTP nobody is asked: the thumbprint the operator confirmed out of band is in the body, or nothing is wrapped.
  const r = await joinInstance(await instanceDeps(s, 'join'), s.config.instance, newcomer, {
    rewrap: body.rewrap === true,
    expectThumbprint: body.expectThumbprint,
    confirm: async () => false,
  });
  if (E.isLeft(r)) {
    s.log.write({ command: 'join', via: 'http', sponsor: s.config.instance.installationId, newcomer, outcome: 'error', error: r.left._tag });
    return r;
  }
  s.log.write({
    command: 'join',
    via: 'http',
    sponsor: r.right.sponsor,
    newcomer: r.right.newcomer,
    keyVersion: r.right.keyVersion,
    recorded: r.right.recorded,
  });
  return json(r.right);
};

const proveRoute = async ({ s, query }: HandlerInput<unknown, t.TypeOf<typeof ProveQuery>, unknown>): Promise<E.Either<ApiError, Answer>> => {
  const proof = await proofOf(s, query.stream, BigInt(query.revision));
  if (E.isLeft(proof)) return proof;
  s.log.write({ command: 'prove', via: 'http', target: `${query.stream}@${query.revision}`, leafIndex: proof.right.leafIndex, treeSize: proof.right.treeSize });
  return json(proof.right);
};

const remove = async ({ s, body }: HandlerInput<unknown, unknown, t.TypeOf<typeof RemoveBody>>): Promise<E.Either<ApiError, Answer>> => {
  const target = body.installationId.toLowerCase() as InstallationId;
  const rotate = body.rotate === true;
  if (rotate && target === s.config.instance.installationId.toLowerCase())
    return usage('remove with rotate re-creates the key on this instance, so it cannot remove this instance: call it on another member');
  const secrets = rotate ? await secretDeps(s, 'remove') : undefined;
  if (secrets && E.isLeft(secrets)) return secrets;
  const deps = secrets ? secrets.right : await instanceDeps(s, 'remove');
  const r = await removeInstance(deps, s.config.instance.deploymentId, target, body.force === true, await instanceSigner(s, deps));
  if (E.isLeft(r)) return r;
  s.log.write({ command: 'remove', via: 'http', installationId: r.right.installationId, lastMember: r.right.lastMember, recorded: r.right.recorded });
  if (!secrets) return json(r.right);
  const re = await recreateKey(secrets.right, s.config.instance, {});
  if (E.isLeft(re)) return re;
  return json({ ...r.right, recreated: re.right, recorded: [...r.right.recorded, ...re.right.recorded] });
};

const changeIdentity = async ({ s, body, ctx }: HandlerInput<unknown, unknown, t.TypeOf<typeof ChangeIdentityBody>>): Promise<E.Either<ApiError, Answer>> => {
  const problem = nameProblem(body.serviceIdentity);
  if (problem !== undefined) return usage(`the new service identity ${problem}: give 1–128 printable characters`);
  const r = await changeServiceIdentity(await instanceDeps(s, 'change-identity'), s.config.instance, body.serviceIdentity as string as NonEmptyString);
  if (E.isLeft(r)) return r;
  rewriteIdentity(s.config.file, body.serviceIdentity);
  ctx.reloadConfig();
  s.log.write({ command: 'change-identity', via: 'http', from: r.right.previousIdentity, to: r.right.serviceIdentity, recorded: r.right.recorded });
  return json(r.right);
};

const backupDeps = async (s: Session, command: string): Promise<BackupDeps> => {
  const { keyBackupCipher } = await import('../infra/key-backup');
  return { ...(await instanceDeps(s, command)), backups: keyBackupCipher };
};

const backup = async ({ s, body, ctx }: HandlerInput<unknown, unknown, t.TypeOf<typeof BackupBody>>): Promise<E.Either<ApiError, Answer>> => {
  if ([...body.password].length < MIN_PASSWORD_LENGTH)
    return usage(`the password is too short (${[...body.password].length} characters; at least ${MIN_PASSWORD_LENGTH}): nothing was written`);
  const iterations = await iterationsFrom(ctx.io);
  if (E.isLeft(iterations)) return iterations;
  let file = '';
  const r = await backupKey(await backupDeps(s, 'backup'), s.config.instance, body.password, iterations.right, '(the HTTP response)', (text) => {
    file = text;
    return E.right('(the HTTP response)');
  });
  if (E.isLeft(r)) return r;
  s.log.write({ command: 'backup', via: 'http', keyVersion: r.right.keyVersion, fingerprint: r.right.fingerprint, recorded: r.right.recorded });
  // The file's text: password-protected (PBES2), what `keyledger restore -f` and POST /api/restore take.
  return json({ ...r.right, backup: file });
};

const restore = async ({ s, body }: HandlerInput<unknown, unknown, t.TypeOf<typeof RestoreBody>>): Promise<E.Either<ApiError, Answer>> => {
  const r = await restoreKey(await backupDeps(s, 'restore'), s.config.instance, body.backup.trim(), body.password);
  if (E.isLeft(r)) return r;
  s.log.write({ command: 'restore', via: 'http', keyVersion: r.right.keyVersion, fingerprint: r.right.fingerprint, recorded: r.right.recorded });
  return json(r.right);
};

const recreate = async ({ s }: HandlerInput<unknown, unknown, unknown>): Promise<E.Either<ApiError, Answer>> => {
  const deps = await secretDeps(s, 'recreate');
  if (E.isLeft(deps)) return deps;
  const r = await recreateKey(deps.right, s.config.instance, {});
  if (E.isLeft(r)) return r;
  s.log.write({ command: 'recreate', via: 'http', keyVersion: r.right.keyVersion, retiredVersion: r.right.retiredVersion, recorded: r.right.recorded });
  return json(r.right);
};

const deleteContentRoute = async ({ s, body }: HandlerInput<unknown, unknown, t.TypeOf<typeof DeleteContentBody>>): Promise<E.Either<ApiError, Answer>> => {
  const deps = await secretDeps(s, 'delete-content');
  if (E.isLeft(deps)) return deps;
  if (body.confirm === undefined) {
    const plan = await planContentDeletion(deps.right, s.config.instance);
    if (E.isLeft(plan)) return plan;
    const p = plan.right;
    return json({ dryRun: true, ...p, authority: p.authority.allowed ? p.authority : { allowed: false, error: p.authority.error._tag } });
  }
  const r = await deleteContent(deps.right, s.config.instance, body.confirm, {});
  if (E.isLeft(r)) return r;
  s.log.write({ command: 'delete-content', via: 'http', keyVersions: r.right.keys.map((k) => k.keyVersion), secrets: r.right.secrets });
  return json(r.right);
};

/** A secret's name at the door: 1–128 printable characters, as the CLI takes it. */
const secretName = (name: string): E.Either<CliError, SecretName> => {
  const problem = nameProblem(name);
  return problem === undefined ? E.right(name as SecretName) : usage(`the secret name ${problem}: give 1–128 printable characters`);
};

// ─── The table ────────────────────────────────────────────────────────────

export const API_ROUTES: ReadonlyArray<ApiRoute> = [
  route({
    method: 'GET',
    url: '/api/status',
    roles: ['operator', 'auditor', 'service'],
    served: true,
    summary: "the served instance's activation state, reason, remedy and findings (keyledger status --json)",
    query: NoQuery,
    produces: 'application/json',
    handle: (i) => statusOf(i, i.s.config.instance.installationId),
  }),
  route({
    method: 'GET',
    url: '/api/status/:installationId',
    roles: ['operator', 'auditor', 'service'],
    summary: "an instance's activation state (a service token: only instances of its deployment)",
    params: InstanceParams,
    query: NoQuery,
    produces: 'application/json',
    handle: (i) => statusOf(i, i.params.installationId.toLowerCase()),
  }),
  route({
    method: 'GET',
    url: '/api/instances',
    roles: READERS,
    summary: 'every instance of the ledger with its state, membership and key version (keyledger list --json)',
    query: NoQuery,
    produces: 'application/json',
    handle: async ({ ctx }) => {
      const view = liveView(ctx);
      if (E.isLeft(view)) return view;
      return json(
        listInstances(view.right).map((r) => {
          const id = r.state === 'not-initialized' ? r.installationId : r.view.installationId;
          return { ...statusJson(r, findingsFor(view.right, id)), ...membershipOf(r, view.right) };
        }),
      );
    },
  }),
  route({
    method: 'GET',
    url: '/api/instances/:installationId/diagnose',
    roles: READERS,
    summary: "an instance's history explained: its steps, key events, evidence, remedy (keyledger diagnose --json; at: a time or position)",
    params: InstanceParams,
    query: DiagnoseQuery,
    produces: 'application/json',
    handle: async ({ s, params, query }) => {
      const at = query.at === undefined ? E.right(undefined) : parseAt(query.at);
      if (E.isLeft(at)) return at;
      const local = s.config.instance;
      const heads = await rememberedHeads(s);
      const signing = (await import('../infra/signing')).signatures;
      const r = await diagnose(
        {
          store: s.store,
          digest: sha256Hex,
          signatures: { verify: signing.verify, thumbprint: signing.thumbprint },
          ...(heads ? { local: { installationId: local.installationId, heads } } : {}),
        },
        { installationId: params.installationId.toLowerCase() as InstallationId },
        at.right ? { at: at.right } : {},
      );
      return E.isLeft(r) ? r : json(diagnoseJson(r.right));
    },
  }),
  route({
    method: 'GET',
    url: '/api/audit',
    roles: READERS,
    summary: 'the audit trail, one JSON object a line, streamed (keyledger audit --json): installationId, deployment or all; since, until, type, actor',
    query: AuditQuery,
    produces: 'application/x-ndjson',
    handle: audit,
  }),
  route({
    method: 'GET',
    url: '/api/report',
    roles: READERS,
    summary: 'the compliance report of a deployment over a period (keyledger report): JSON, or format=html|csv',
    query: ReportQuery,
    produces: 'application/json, text/html, text/csv',
    handle: report,
  }),
  route({
    method: 'POST',
    url: '/api/verify',
    roles: READERS,
    summary:
      "the ledger's integrity: every hash link, optionally every signature, and with checkpoint (a signed note's text) the proof that the ledger " +
      'extends it or its first difference (keyledger verify --json [--checkpoint]); intact: false names each problem',
    query: NoQuery,
    body: VerifyBody,
    produces: 'application/json',
    handle: verify,
  }),
  route({
    method: 'POST',
    url: '/api/checkpoint',
    roles: READERS,
    summary: "the ledger's tree head now, signed by the served member (a C2SP checkpoint; keyledger checkpoint)",
    query: NoQuery,
    body: NoBody,
    produces: 'application/json',
    handle: checkpoint,
  }),
  route({
    method: 'GET',
    url: '/api/checkpoint/vkey',
    roles: READERS,
    summary: "the served member's verifier keys, for note signatures and cosignatures, to pin (keyledger checkpoint --vkey --json)",
    query: NoQuery,
    produces: 'application/json',
    handle: async ({ s }) => {
      const keys = await verifierKeys(s, await instanceDeps(s, 'checkpoint'));
      return E.isLeft(keys) ? keys : json(keys.right);
    },
  }),
  route({
    method: 'GET',
    url: '/api/prove',
    roles: READERS,
    summary:
      'one event with its inclusion proof against the newest signed checkpoint kept that covers it: the file keyledger prove writes, for bin/keyledger-verify-proof',
    query: ProveQuery,
    produces: 'application/json',
    handle: proveRoute,
  }),
  route({
    method: 'POST',
    url: '/api/join',
    roles: OPERATOR,
    summary:
      'wrap the deployment key for a waiting instance (keyledger join), named by installationId or by machineName and instanceName: ' +
      "expectThumbprint is the newcomer's, confirmed out of band",
    query: NoQuery,
    body: JoinBody,
    produces: 'application/json',
    handle: join,
  }),
  route({
    method: 'POST',
    url: '/api/remove',
    roles: OPERATOR,
    summary: 'remove a member from the scale-out (keyledger remove; force for the last member, rotate to re-create the key too)',
    query: NoQuery,
    body: RemoveBody,
    produces: 'application/json',
    handle: (i) => (i.body.rotate ? i.ctx.exclusive(() => remove(i)) : remove(i)),
  }),
  route({
    method: 'POST',
    url: '/api/change-identity',
    roles: OPERATOR,
    summary: 'move the served instance to a new service identity: new key pair, key re-wrapped, config updated (keyledger change-identity)',
    query: NoQuery,
    body: ChangeIdentityBody,
    produces: 'application/json',
    handle: (i) => i.ctx.exclusive(() => changeIdentity(i)),
  }),
  route({
    method: 'POST',
    url: '/api/backup',
    roles: OPERATOR,
    summary: 'back up the deployment key (keyledger backup): the password-protected file is in the answer (backup), KeyBackedUp recorded',
    query: NoQuery,
    body: BackupBody,
    produces: 'application/json',
    handle: backup,
  }),
  route({
    method: 'POST',
    url: '/api/restore',
    roles: OPERATOR,
    summary: "apply a key backup to the served instance (keyledger restore): the file's text and its password",
    query: NoQuery,
    body: RestoreBody,
    produces: 'application/json',
    handle: (i) => i.ctx.exclusive(() => restore(i)),
  }),
  route({
    method: 'POST',
    url: '/api/recreate',
    roles: OPERATOR,
    summary: 'a new key version, every secret re-encrypted, the old one retired (keyledger recreate)',
    query: NoQuery,
    body: NoBody,
    produces: 'application/json',
    handle: (i) => i.ctx.exclusive(() => recreate(i)),
  }),
  route({
    method: 'POST',
    url: '/api/delete-content',
    roles: OPERATOR,
    summary: "delete the deployment's encrypted content, the last resort (keyledger delete-content): a dry run without confirm",
    query: NoQuery,
    body: DeleteContentBody,
    produces: 'application/json',
    handle: (i) => i.ctx.exclusive(() => deleteContentRoute(i)),
  }),
  route({
    method: 'GET',
    url: '/api/secrets',
    roles: ['operator', 'service'],
    served: true,
    summary: 'the secrets of the deployment: names, key versions, fingerprints, reads — no value (keyledger secret list)',
    query: NoQuery,
    produces: 'application/json',
    handle: async ({ s }) => {
      const r = await listSecrets({ store: s.store, digest: sha256Hex }, s.config.instance.deploymentId as DeploymentId);
      return E.isLeft(r) ? r : json(r.right);
    },
  }),
  route({
    method: 'GET',
    url: '/api/secrets/*',
    roles: ['service'],
    served: true,
    summary: "a secret's value, decrypted by the served member after its read is recorded (SecretRead; keyledger secret get)",
    params: SecretParams,
    query: NoQuery,
    produces: 'application/json',
    handle: async ({ s, params }) => {
      const name = secretName(params['*']);
      if (E.isLeft(name)) return name;
      const deps = await secretDeps(s, 'secret-get');
      if (E.isLeft(deps)) return deps;
      const r = await getSecret(deps.right, s.config.instance, name.right);
      if (E.isLeft(r)) return r;
      const { entry, value } = r.right;
      const text = value.toString('utf8');
      value.fill(0);
      s.log.write({ command: 'secret get', via: 'http', name: entry.name, keyVersion: entry.keyVersion, fingerprint: entry.fingerprint });
      return json({ name: entry.name, keyVersion: entry.keyVersion, fingerprint: entry.fingerprint, value: text });
    },
  }),
  route({
    method: 'PUT',
    url: '/api/secrets/*',
    roles: ['operator', 'service'],
    served: true,
    summary: 'encrypt a value under the deployment key and store it under the name (keyledger secret put)',
    params: SecretParams,
    query: NoQuery,
    body: SecretPutBody,
    produces: 'application/json',
    handle: async ({ s, params, body }) => {
      const name = secretName(params['*']);
      if (E.isLeft(name)) return name;
      const value = Buffer.from(body.value, 'utf8');
      if (value.length > MAX_SECRET_BYTES) return usage(`the value is ${value.length} bytes (at most ${MAX_SECRET_BYTES}): nothing was stored`);
      const deps = await secretDeps(s, 'secret-put');
      if (E.isLeft(deps)) return deps;
      try {
        const r = await putSecret(deps.right, s.config.instance, name.right, value);
        if (E.isLeft(r)) return r;
        const { loaded: _loaded, ...o } = r.right;
        s.log.write({ command: 'secret put', via: 'http', name: o.name, keyVersion: o.keyVersion, fingerprint: o.fingerprint, recorded: o.recorded });
        return json(o);
      } finally {
        value.fill(0);
      }
    },
  }),
  route({
    method: 'DELETE',
    url: '/api/secrets/*',
    roles: ['operator', 'service'],
    served: true,
    summary: 'delete a secret: SecretDeleted recorded, its ciphertext removed (keyledger secret delete)',
    params: SecretParams,
    query: NoQuery,
    produces: 'application/json',
    handle: async ({ s, params }) => {
      const name = secretName(params['*']);
      if (E.isLeft(name)) return name;
      const deps = await secretDeps(s, 'secret-delete');
      if (E.isLeft(deps)) return deps;
      const r = await deleteSecret(deps.right, s.config.instance, name.right);
      if (E.isLeft(r)) return r;
      s.log.write({ command: 'secret delete', via: 'http', name: r.right.name, fingerprint: r.right.fingerprint, recorded: r.right.recorded });
      return json(r.right);
    },
  }),
];

// ─── Serving the table ────────────────────────────────────────────────────

/** JSON with bigints as strings (positions), as the CLI's JSON never holds one. */
export const toJson = (v: unknown): string => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));

const sendError = (reply: FastifyReply, status: number, body: { error: string; message: string }): FastifyReply =>
  reply.code(status).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(toJson(body));

export const registerApi = (app: import('fastify').FastifyInstance, ctx: ServerContext, routes: ReadonlyArray<ApiRoute> = API_ROUTES): void => {
  for (const r of routes) {
    const access: Access = r.roles;
    app.route({
      method: r.method,
      url: r.url,
      config: { access },
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const who = request.principal;
        if (!who) return sendError(reply, 401, { error: 'Unauthenticated', message: 'this needs a token' });
        const outside = r.served ? forbiddenOutside(who, ctx.base().config.instance.deploymentId) : undefined;
        if (outside && E.isLeft(outside)) {
          request.log.warn({ refused: 'Forbidden', status: 403, route: r.url, client: request.ip, name: who.name, role: who.role }, 'request refused');
          return sendError(reply, 403, { error: 'Forbidden', message: outside.left.message });
        }
        const params = r.params ? decodeInput(r.params, request.params, 'path') : E.right({});
        if (E.isLeft(params)) return sendError(reply, 400, { error: 'UsageError', message: params.left });
        const query = decodeInput(r.query, request.query, 'query');
        if (E.isLeft(query)) return sendError(reply, 400, { error: 'UsageError', message: query.left });
        const body = r.body ? decodeInput(r.body, request.body, 'body') : E.right({});
        if (E.isLeft(body)) return sendError(reply, 400, { error: 'UsageError', message: body.left });
        const s = requestSession(ctx, request, who);
        let streaming = false;
        try {
          const answer = await r.handle({ who, params: params.right, query: query.right, body: body.right, s, ctx });
          if (E.isLeft(answer)) {
            const e = answer.left;
            if (e._tag === 'Forbidden') {
              request.log.warn({ refused: 'Forbidden', status: 403, route: r.url, client: request.ip, name: who.name, role: who.role }, 'request refused');
              return sendError(reply, 403, { error: 'Forbidden', message: e.message });
            }
            const status = httpStatusOf(e);
            if (status >= 500) request.log.error({ route: r.url, error: e._tag }, 'request failed');
            return sendError(reply, status, errorBody(e));
          }
          const a = answer.right;
          reply.header('cache-control', 'no-store').header('x-correlation-id', s.ctx('').correlationId);
          if (a.kind === 'json')
            return reply
              .code(a.status ?? 200)
              .type('application/json; charset=utf-8')
              .send(toJson(a.body));
          if (a.kind === 'text')
            return reply
              .code(a.status ?? 200)
              .type(a.type)
              .send(a.body);
          streaming = true;
          const stream = Readable.from(a.lines);
          stream.on('close', () => s.closeLocal());
          return reply.code(200).type('application/x-ndjson; charset=utf-8').send(stream);
        } finally {
          if (!streaming) s.closeLocal();
        }
      },
    });
  }
};
