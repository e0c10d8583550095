/**
 * `keyledger serve` in process (docs/adr/0019): the ping from the live view, the role × endpoint matrix (every
 * forbidden pair 403, no token 401 but for the ping and the metrics), tokens kept out of logs and answers, revocation,
 * the rate limit on bad tokens, a join over HTTP recorded under the token's name, /openapi.json judged by a JSON Schema
 * validator against the codecs, and fast-check fuzzing of every body and query: a typed 400, no stack trace, nothing
 * written. The CLI's verify --checkpoint, checkpoint --vkey, prove and join by names over HTTP, each answering as the CLI.
 */
import test from 'ava';
import Ajv2020 from 'ajv/dist/2020';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/Either';
import type * as t from 'io-ts';
import { checkProofFile, type InclusionProofFile } from '../src/commands/prove';
import { parseVerifierKey } from '../src/domain/tlog/note';
import { API_ROUTES, type ApiRoute } from '../src/http/api';
import { decodeInput, membersOf, schemaOf } from '../src/http/codecs';
import { ed25519Of } from '../src/infra/note-verify';
import { sha256Hex } from '../src/infra/sha256';
import { signatures } from '../src/infra/signing';
import { sha256Bytes } from '../src/infra/sqlite-tree';
import { tokenFileOf } from '../src/infra/token-file';
import { instanceStatus } from '../src/projections/status';
import { cli } from './support/cli-inproc';
import { tempDir } from './support/fixtures';
import { issueToken, type Served, serve, untilLive, untilView } from './support/http';
import { keystoreThumbprint, newNode, type TestNode } from './support/nodes';
import { outsider } from './support/notes';
import { rowOf, tamper } from './support/tamper';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 300);

interface World {
  readonly a: TestNode;
  readonly b: TestNode;
  readonly served: Served;
  readonly tokens: Readonly<Record<'operator' | 'auditor' | 'service' | 'otherService', string>>;
}

/** A activated, served, and its checkpoint kept; B waiting to join; a token of each role (and a service token of another deployment). */
const world = (async (): Promise<World> => {
  const dir = tempDir('kl-http');
  const a = await newNode(dir, 'A');
  const b = await newNode(dir, 'B');
  if ((await a.run('init')).code !== 0 || (await b.run('init')).code !== 1 || (await a.run('checkpoint')).code !== 0) throw new Error('setup failed');
  const tokens = {
    operator: await issueToken(a, 'operator', 'ops@contoso'),
    auditor: await issueToken(a, 'auditor', 'auditor@contoso'),
    service: await issueToken(a, 'service', 'billing-service', 'default'),
    otherService: await issueToken(a, 'service', 'other-service', 'elsewhere'),
  };
  return { a, b, served: await serve(a), tokens };
})();

test.after.always(async () => (await world).served.close());

const inject = async (method: string, url: string, token?: string, body?: unknown, headers: Record<string, string> = {}) => {
  const w = await world;
  return w.served.server.app.inject({
    method: method as 'GET',
    url,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    ...(body !== undefined ? { payload: body as object } : {}),
  });
};

const eventCount = async (): Promise<number> => {
  const r = await (await world).served.session.store.readAll()();
  return E.isRight(r) ? r.right.length : -1;
};

test.serial('the ping: 200 for the activated instance, 503 with RSReportServerNotActivated, the SSRS code, reason and remedy otherwise', async (t) => {
  t.timeout(60_000);
  const { a, b } = await world;
  const ok = await inject('GET', '/reportserver');
  t.is(ok.statusCode, 200);
  t.is(ok.headers['content-type'], 'text/plain; charset=utf-8');
  t.is(ok.body, `activated: installation ${a.id}, symmetric key version 1\n`);
  const okJson = await inject('GET', '/ReportServer/', undefined, undefined, { accept: 'application/json' });
  t.is(okJson.statusCode, 200, 'the SSRS path, any case, trailing slash');
  t.like(okJson.json(), { installationId: a.id, state: 'activated', activated: true, keyVersion: 1 });
  const waiting = await inject('GET', `/reportserver/${b.id.toUpperCase()}`, undefined, undefined, { accept: 'text/plain;q=0.5, application/json' });
  t.is(waiting.statusCode, 503);
  const body = waiting.json<{ remedy: { steps: Array<{ command: string }> } }>();
  t.like(body, { installationId: b.id, state: 'waiting-to-join', activated: false, error: 'RSReportServerNotActivated', code: 'RSReportServerNotActivated' });
  t.deepEqual(
    body.remedy.steps.map((s) => s.command),
    [`keyledger join ${b.id} --expect-thumbprint ${keystoreThumbprint(b.file)}`, 'keyledger start'],
  );
  const text = await inject('GET', `/reportserver/${b.id}`);
  t.is(text.statusCode, 503);
  t.regex(text.body, /^RSReportServerNotActivated: waiting to join: .* Remedy: .*keyledger join /);
  const unknown = await inject('GET', '/reportserver/00000000-0000-4000-8000-000000000000', undefined, undefined, { accept: 'application/json' });
  t.like(unknown.json(), { state: 'not-initialized', error: 'RSReportServerNotActivated' });
  t.is((await inject('GET', '/reportserver/not-a-guid')).statusCode, 400);
});

type Who = 'none' | 'operator' | 'auditor' | 'service' | 'otherService';
const WHO: ReadonlyArray<Who> = ['none', 'operator', 'auditor', 'service', 'otherService'];

/** A query each route with required query members is probed with: a read that answers (A's first event, under the checkpoint A signed). */
const QUERIES: Readonly<Record<string, (w: World) => string>> = {
  '/api/prove': (w) => `stream=keyledger.instance-${w.a.id}&revision=0`,
};

/** A URL for the route, and a body its codec refuses (so an allowed call stops at the door and changes nothing). */
const probe = (r: ApiRoute, w: World): { url: string; query: string; body?: unknown } => {
  const url = r.url.replace(':installationId', w.a.id).replace('*', 'no-such-secret');
  const query = QUERIES[r.url]?.(w) ?? '';
  return r.body ? { url, query, body: { notAMember: true } } : { url, query };
};

test.serial(
  'the role × endpoint matrix: no token 401, a role not allowed 403, an allowed one reaches the handler; the token never in logs or answers',
  async (t) => {
    t.timeout(60_000);
    const w = await world;
    const answers: string[] = [];
    for (const r of API_ROUTES) {
      const { url, query, body } = probe(r, w);
      const required = (schemaOf(r.query) as { required?: string[] }).required ?? [];
      t.true(required.length === 0 || query !== '', `${r.url}: a query to probe it with (QUERIES)`);
      for (const who of WHO) {
        const token = who === 'none' ? undefined : w.tokens[who];
        const res = await inject(r.method, query ? `${url}?${query}` : url, token, body);
        answers.push(res.body, JSON.stringify(res.headers));
        const role = who === 'otherService' ? 'service' : who;
        const label = `${who} ${r.method} ${r.url}`;
        if (who === 'none') t.is(res.statusCode, 401, label);
        else if (!r.roles.includes(role as 'operator')) t.is(res.statusCode, 403, label);
        else if (who === 'otherService') t.is(res.statusCode, 403, `${label}: outside its deployment`);
        else {
          t.false([401, 403].includes(res.statusCode), `${label}: ${res.statusCode} ${res.body}`);
          t.true(res.statusCode < 500, `${label}: ${res.statusCode} ${res.body}`);
          if (!body && !r.url.includes('*')) t.is(res.statusCode, 200, `${label}: a read answers`);
        }
        if (res.statusCode === 401 || res.statusCode === 403) t.like(res.json(), { error: res.statusCode === 401 ? 'Unauthenticated' : 'Forbidden' });
      }
    }
    // The ping and the metrics need no token.
    t.is((await inject('GET', '/reportserver')).statusCode, 200);
    t.is((await inject('GET', '/metrics')).statusCode, 200);
    const log = w.served.log();
    t.regex(log, /"refused":"Forbidden".*"name":"auditor@contoso","role":"auditor"/);
    for (const token of Object.values(w.tokens)) {
      t.false(log.includes(token), 'no token in the log');
      t.false(
        answers.some((a) => a.includes(token)),
        'no token in an answer',
      );
      t.false(log.includes(token.slice(4, 20)), 'not even part of one');
    }
  },
);

test.serial('service tokens read the status of their own deployment only; the served status is what keyledger status --json says', async (t) => {
  t.timeout(60_000);
  const w = await world;
  const own = await inject('GET', `/api/status/${w.b.id}`, w.tokens.service);
  t.is(own.statusCode, 200);
  const cliStatus = await w.b.run('--json', 'status');
  const { message: _m, ...fromHttp } = own.json<Record<string, unknown>>();
  const { message: _n, ...fromCli } = cliStatus.json();
  t.deepEqual(fromHttp, fromCli);
  t.is((await inject('GET', `/api/status/${w.b.id}`, w.tokens.otherService)).statusCode, 403);
});

test.serial('a revoked token is refused at its next request; bad tokens from one client are rate-limited, others unaffected', async (t) => {
  t.timeout(60_000);
  const w = await world;
  const temp = await issueToken(w.a, 'auditor', 'temp-auditor');
  t.is((await inject('GET', '/api/instances', temp)).statusCode, 200);
  t.is((await cli('-c', w.a.file, 'token', 'revoke', 'temp-auditor')).code, 0);
  t.is((await inject('GET', '/api/instances', temp)).statusCode, 401);
  t.is(fs.statSync(tokenFileOf(w.a.file)).mode & 0o777, 0o600);
  t.false(fs.readFileSync(tokenFileOf(w.a.file), 'utf8').includes(w.tokens.operator), 'only hashes in the file');
  const from = (remoteAddress: string, token: string) =>
    w.served.server.app.inject({ method: 'GET', url: '/api/instances', remoteAddress, headers: { authorization: `Bearer ${token}` } });
  for (let i = 0; i < 10; i++) t.is((await from('192.0.2.7', `klt_guess${i}`)).statusCode, 401);
  const blocked = await from('192.0.2.7', w.tokens.auditor);
  t.is(blocked.statusCode, 429, 'even a good token from a client that guessed too often');
  t.truthy(blocked.headers['retry-after']);
  t.is((await from('192.0.2.8', w.tokens.auditor)).statusCode, 200, 'another client is not affected');
});

test.serial('a join over HTTP needs the thumbprint, is recorded under the token name, and the ping follows the live view', async (t) => {
  t.timeout(60_000);
  const w = await world;
  t.is((await inject('POST', '/api/join', w.tokens.operator, { installationId: w.b.id })).statusCode, 400, 'no thumbprint, no join');
  const wrong = await inject('POST', '/api/join', w.tokens.operator, { installationId: w.b.id, expectThumbprint: 'A'.repeat(43) });
  t.is(wrong.statusCode, 409);
  t.like(wrong.json(), { error: 'NewcomerKeyRefused' });
  const joined = await inject(
    'POST',
    '/api/join',
    w.tokens.operator,
    { installationId: w.b.id, expectThumbprint: keystoreThumbprint(w.b.file) },
    {
      'x-correlation-id': 'CHG-4711',
    },
  );
  t.is(joined.statusCode, 200, joined.body);
  t.like(joined.json(), { newcomer: w.b.id, recorded: ['SymmetricKeyWrapped'] });
  // The trail over HTTP (NDJSON) is the CLI's, line for line.
  const trail = await inject('GET', '/api/audit?deployment=default&type=SymmetricKeyWrapped', w.tokens.auditor);
  t.is(trail.headers['content-type'], 'application/x-ndjson; charset=utf-8');
  t.is(trail.body, (await w.a.run('--json', 'audit', '--deployment', 'default', '--type', 'SymmetricKeyWrapped')).stdout);
  const last = trail.body
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { actor: string; correlationId: string; command: string })
    .pop();
  t.like(last, { actor: 'ops@contoso', correlationId: 'CHG-4711', command: 'join' });
  t.is((await inject('GET', '/api/audit?type=NoSuchEvent', w.tokens.auditor)).statusCode, 400);
  await untilView(w.served, 'the copy for B in the view', () => {
    const s = w.served.server.ctx.view.state();
    return s.kind === 'live' && s.view.deployments['default']?.copies[w.b.id] !== undefined;
  });
  t.regex((await inject('GET', `/reportserver/${w.b.id}`)).body, /step 4 of 5.*keyledger start/);
  t.is((await w.b.run('start')).code, 0);
  await untilView(w.served, 'B activated', () => {
    const s = w.served.server.ctx.view.state();
    return s.kind === 'live' && Object.values(s.view.instances[w.b.id]?.outcomes ?? {}).some((o) => o.kind === 'activated');
  });
  t.is((await inject('GET', `/reportserver/${w.b.id}`)).statusCode, 200);
});

test.serial('/openapi.json names exactly the members each codec defines', async (t) => {
  t.timeout(30_000);
  const doc = (await inject('GET', '/openapi.json')).json<{ paths: Record<string, Record<string, Record<string, unknown>>> }>();
  for (const r of API_ROUTES) {
    const op = doc.paths[r.url.replace(/:([A-Za-z]+)/g, '{$1}').replace(/\*$/, '{name}')]?.[r.method.toLowerCase()];
    t.truthy(op, `${r.method} ${r.url}`);
    const query = ((op?.['parameters'] ?? []) as Array<{ in: string; name: string }>).filter((p) => p.in === 'query').map((p) => p.name);
    t.deepEqual(query.sort(), Object.keys(membersOf(r.query) ?? {}).sort(), `${r.url} query`);
    interface ObjectSchema {
      properties: object;
      additionalProperties: boolean;
      oneOf?: ObjectSchema[];
    }
    const body = (op?.['requestBody'] as { content: Record<string, { schema: ObjectSchema }> } | undefined)?.content['application/json']?.schema;
    // A body of several forms (a union of closed codecs) is oneOf them, each closed: together they name every member.
    const forms = body ? (body.oneOf ?? [body]) : [];
    const named = [...new Set(forms.flatMap((f) => Object.keys(f.properties ?? {})))].sort();
    t.deepEqual(named, r.body ? Object.keys(membersOf(r.body) ?? {}).sort() : [], `${r.url} body`);
    for (const f of forms) t.false(f.additionalProperties, `${r.url}: each form closed`);
    t.deepEqual(op?.['x-roles'], r.roles);
  }
});

/** A value each body member's codec accepts (so a generated body is refused only for its shape: members, types, forms). */
const VALID: Readonly<Record<string, unknown>> = {
  installationId: '6f1c2b0e-8a4d-4c1e-9b7a-2d5e8f0a1c3b',
  machineName: 'RS-NODE-2',
  instanceName: 'MSSQLSERVER',
  expectThumbprint: 'n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg',
  expectGenesis: 'n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg',
  rewrap: true,
  force: false,
  rotate: true,
  signatures: true,
  deep: false,
  checkpoint: 'keyledger/ledger/x\n1\nAAAA\n\n— k sig\n',
  keys: ['keyledger/member/x+01234567+AQID'],
  serviceIdentity: 'CONTOSO\\svc-reports',
  password: 'correct horse battery staple',
  backup: 'a.b.c.d.e',
  confirm: 'default',
  value: 'Server=db',
};

test.serial('a JSON Schema 2020-12 validator (Ajv) given the served /openapi.json accepts exactly the bodies the codecs accept, route by route', async (t) => {
  t.timeout(30_000);
  type Doc = { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: object }> } }>> };
  const doc = (await inject('GET', '/openapi.json')).json<Doc>();
  const ajv = new Ajv2020({ strict: true, validateFormats: false });
  const routes = API_ROUTES.filter((r) => r.body).map((r) => {
    const schema =
      doc.paths[r.url.replace(/:([A-Za-z]+)/g, '{$1}').replace(/\*$/, '{name}')]?.[r.method.toLowerCase()]?.requestBody?.content['application/json']?.schema;
    if (!schema) throw new Error(`no body schema for ${r.method} ${r.url}`);
    const members = Object.keys(membersOf(r.body as t.Mixed) ?? {});
    for (const m of members) if (!(m in VALID)) throw new Error(`test: give VALID a value for the body member ${m}`);
    return { r, members, validate: ajv.compile(schema) };
  });
  // Of a type no member takes, or of one some take (true, a list): then both must refuse it, or both accept it.
  const wrong = fc.constantFrom<unknown>(null, 1.5, [], {}, true);
  const bodyOf = ({ members }: (typeof routes)[number]) =>
    fc
      .dictionary(fc.constantFrom(...members, 'x'), fc.boolean(), { maxKeys: members.length + 1 })
      .chain((picked) => fc.record(Object.fromEntries(Object.keys(picked).map((k) => [k, picked[k] && k in VALID ? fc.constant(VALID[k]) : wrong]))));
  let accepted = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: routes.length - 1 }).chain((i) => fc.tuple(fc.constant(i), bodyOf(routes[i]!))),
      ([i, body]) => {
        const x = routes[i]!;
        const byCodec = E.isRight(decodeInput(x.r.body as t.Mixed, body, 'body'));
        if (byCodec) accepted++;
        if (byCodec !== x.validate(body)) throw new Error(`${x.r.url}: the codec ${byCodec ? 'accepts' : 'refuses'} it, the schema does not`);
      },
    ),
    { numRuns: RUNS },
  );
  t.true(accepted > 0, 'some bodies were accepted: the comparison is not only of refusals');
  // The join's shapes, by the validator alone.
  const join = routes.find((x) => x.r.url === '/api/join')!.validate;
  const [id, tp] = [VALID['installationId'], VALID['expectThumbprint']];
  t.true(join({ installationId: id, expectThumbprint: tp }));
  t.true(join({ machineName: 'M', instanceName: 'N', expectThumbprint: tp }));
  t.false(join({ installationId: id, machineName: 'M', instanceName: 'N', expectThumbprint: tp }), 'both forms');
  t.false(join({ installationId: id, machineName: 'M', expectThumbprint: tp }), 'a member of the other form');
  t.false(join({ expectThumbprint: tp }), 'neither');
});

/** A token of a role the route allows (so the fuzzed input reaches the codec). */
const tokenFor = (r: ApiRoute, w: World): string => w.tokens[r.roles.includes('operator') ? 'operator' : r.roles.includes('auditor') ? 'auditor' : 'service'];

const refused = (codec: t.Mixed | undefined, v: unknown): boolean => codec === undefined || E.isLeft(codec.decode(v)) || !isSubset(codec, v);
const isSubset = (codec: t.Mixed, v: unknown): boolean =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).every((k) => Object.hasOwn(membersOf(codec) ?? {}, k));

test.serial('fuzzing every body and query: a typed 400, no stack trace, nothing written', async (t) => {
  t.timeout(120_000);
  const w = await world;
  const before = await eventCount();
  const withBody = API_ROUTES.filter((r) => r.body);
  const withQuery = API_ROUTES.filter((r) => Object.keys(membersOf(r.query) ?? {}).length > 0 || r.method === 'GET');
  const value = fc.oneof(
    fc.jsonValue(),
    fc.dictionary(
      fc.constantFrom('installationId', 'machineName', 'instanceName', 'expectThumbprint', 'password', 'value', 'force', 'confirm', 'checkpoint', 'keys', 'x'),
      fc.jsonValue(),
    ),
  );
  const bodyCase = fc
    .tuple(fc.constantFrom(...withBody), value)
    .filter(([r, v]) => refused(r.body, v === undefined || v === null ? {} : v) && !(typeof v === 'object' && v !== null && Object.keys(v).length === 0));
  const queryCase = fc
    .tuple(
      fc.constantFrom(...withQuery),
      fc.dictionary(
        fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('stream', 'revision')),
        fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('true', '0', '18446744073709551616', 'keyledger.deployment-default')),
        { minKeys: 1 },
      ),
    )
    .filter(([r, q]) => refused(r.query, q));
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        bodyCase.map((c) => ({ kind: 'body' as const, c })),
        queryCase.map((c) => ({ kind: 'query' as const, c })),
      ),
      async ({ kind, c }) => {
        const [r, input] = c;
        const { url } = probe(r, w);
        const res =
          kind === 'body'
            ? await w.served.server.app.inject({
                method: r.method as 'POST',
                url,
                headers: { authorization: `Bearer ${tokenFor(r, w)}`, 'content-type': 'application/json' },
                payload: JSON.stringify(input),
              })
            : await w.served.server.app.inject({
                method: r.method as 'GET',
                url: `${url}?${new URLSearchParams(Object.entries(input as Record<string, string>)).toString()}`,
                headers: { authorization: `Bearer ${tokenFor(r, w)}` },
                ...(r.body ? { payload: { notAMember: 1 } } : {}),
              });
        if (res.statusCode !== 400) throw new Error(`${r.method} ${r.url} ${kind} ${JSON.stringify(input)}: ${res.statusCode} ${res.body}`);
        const body = res.json<{ error: string; message: string }>();
        if (typeof body.error !== 'string' || typeof body.message !== 'string') throw new Error(`untyped answer: ${res.body}`);
        if (/\n\s+at |node:internal|\.js:\d+/.test(res.body)) throw new Error(`a stack trace: ${res.body}`);
      },
    ),
    { numRuns: RUNS },
  );
  t.is(await eventCount(), before, 'nothing was written');
  t.false(fs.readFileSync(path.join(w.a.dir, '.keyledger', 'keyledger.log'), 'utf8').includes('notAMember'));
});

test.serial('/metrics: instances by state, findings, key version age, events, request latencies; a token when the server requires one', async (t) => {
  t.timeout(60_000);
  const w = await world;
  await inject('GET', '/reportserver');
  const m = (await inject('GET', '/metrics')).body;
  const activated = Number(/keyledger_instances\{deployment="default",state="activated"\} (\d+)/.exec(m)?.[1]);
  const listed = (await inject('GET', '/api/instances', w.tokens.auditor)).json<Array<{ state: string }>>();
  t.is(activated, listed.filter((i) => i.state === 'activated').length);
  t.regex(m, /keyledger_key_version\{deployment="default"\} 1\n/);
  t.regex(m, /keyledger_key_version_age_seconds\{deployment="default"\} [\d.]+\n/);
  t.regex(m, /keyledger_events\{type="ConfigRead"\} 2\n/);
  t.regex(m, /keyledger_http_request_duration_seconds_count\{method="GET",route="\/reportserver",status="200"\} \d+/);
  const guarded = await serve(w.a, { metricsTokenRequired: true });
  t.teardown(() => guarded.close());
  t.is((await guarded.server.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
  const withToken = await guarded.server.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${w.tokens.service}` } });
  t.is(withToken.statusCode, 200);
  t.is((await guarded.server.app.inject({ method: 'GET', url: '/reportserver' })).statusCode, 200, 'the ping stays open');
});

test.serial('the dashboard: signed in by cookie, rows escaped, operator buttons only for operators, a cookie change only from this origin', async (t) => {
  t.timeout(60_000);
  const w = await world;
  const app = w.served.server.app;
  t.is((await app.inject({ method: 'GET', url: '/dashboard' })).headers['location'], '/login', 'no cookie: sign in');
  t.is((await app.inject({ method: 'POST', url: '/login', payload: { token: w.tokens.service } })).statusCode, 401, 'not a service token');
  const login = await app.inject({ method: 'POST', url: '/login', payload: { token: w.tokens.auditor } });
  t.is(login.statusCode, 204);
  t.regex(String(login.headers['set-cookie']), /^keyledger_token=[^;]+; HttpOnly; SameSite=Strict; Path=\//);
  const cookie = `keyledger_token=${encodeURIComponent(w.tokens.auditor)}`;
  const page = await app.inject({ method: 'GET', url: '/dashboard', headers: { cookie } });
  t.is(page.statusCode, 200);
  t.regex(String(page.headers['content-security-policy']), /^default-src 'none'; script-src 'self'/);
  t.true(page.body.includes(`data-installation="${w.a.id}"`));
  t.false(page.body.includes('data-action='), 'no operator button for an auditor');
  const opPage = await app.inject({ method: 'GET', url: '/dashboard', headers: { cookie: `keyledger_token=${encodeURIComponent(w.tokens.operator)}` } });
  t.true(opPage.body.includes('data-action="remove"'), 'the operator has them');
  t.false(/<script>(?!<\/script>)/.test(page.body), 'no inline script');
  // A page of another site posting with the cookie: refused; the same request from this origin reaches the handler.
  const other = await app.inject({ method: 'POST', url: '/api/verify', headers: { cookie, origin: 'https://evil.example' }, payload: {} });
  t.is(other.statusCode, 403);
  t.like(other.json(), { error: 'CrossOrigin' });
  const same = await app.inject({
    method: 'POST',
    url: '/api/verify',
    headers: { cookie, origin: 'http://127.0.0.1:8080', host: '127.0.0.1:8080' },
    payload: {},
  });
  t.is(same.statusCode, 200);
  t.true(same.json<{ intact: boolean }>().intact);
});

test.serial('secrets over HTTP for a service token; a backup comes back in the answer and shows in /metrics; a wrong restore writes nothing', async (t) => {
  t.timeout(60_000);
  const w = await world;
  const put = await inject('PUT', '/api/secrets/reportserver/datasource/sales', w.tokens.service, { value: 'Server=db;Password=s3cret' });
  t.is(put.statusCode, 200, put.body);
  t.like(put.json(), { name: 'reportserver/datasource/sales', keyVersion: 1, recorded: ['SecretPut'] });
  const got = await inject('GET', '/api/secrets/reportserver/datasource/sales', w.tokens.service);
  t.like(got.json(), { name: 'reportserver/datasource/sales', value: 'Server=db;Password=s3cret' });
  t.is((await inject('GET', '/api/secrets/reportserver/datasource/sales', w.tokens.operator)).statusCode, 403, 'an operator does not read values');
  const listed = (await inject('GET', '/api/secrets', w.tokens.operator)).json<Array<{ name: string; reads: number }>>();
  t.like(listed, [{ name: 'reportserver/datasource/sales', reads: 1 }]);
  t.false(JSON.stringify(listed).includes('s3cret'));
  t.is((await inject('DELETE', '/api/secrets/reportserver/datasource/sales', w.tokens.service)).statusCode, 200);
  t.is((await inject('GET', '/api/secrets/reportserver/datasource/sales', w.tokens.service)).statusCode, 404);

  t.is((await inject('POST', '/api/backup', w.tokens.operator, { password: 'short' })).statusCode, 400);
  const backup = await inject('POST', '/api/backup', w.tokens.operator, { password: 'correct horse battery staple' });
  t.is(backup.statusCode, 200, backup.body);
  const file = backup.json<{ backup: string; keyVersion: number; recorded: string[] }>();
  t.is(file.backup.split('.').length, 5, 'a compact JWE');
  t.deepEqual(file.recorded, ['KeyBackedUp']);
  await untilLive(w.served.server.fleet, 'the backup in the metrics view', () => {
    const f = w.served.server.fleet.state();
    return f.kind === 'live' && f.view.backups['default'] !== undefined;
  });
  const m = (await inject('GET', '/metrics')).body;
  t.regex(m, /keyledger_last_backup_key_version\{deployment="default"\} 1\n/);
  t.regex(m, /keyledger_seconds_since_last_backup\{deployment="default"\} [\d.]+\n/);
  const before = await eventCount();
  const wrong = await inject('POST', '/api/restore', w.tokens.operator, { backup: file.backup, password: 'not the password at all' });
  t.is(wrong.statusCode, 409);
  t.like(wrong.json(), { error: 'BackupPasswordWrong' });
  t.is(await eventCount(), before, 'nothing written');
});

test.serial('verify --checkpoint over HTTP: the note posted, its signatures checked, the extension proven — what the CLI answers for the file', async (t) => {
  t.timeout(60_000);
  const w = await world;
  const signed = await inject('POST', '/api/checkpoint', w.tokens.auditor, {});
  t.is(signed.statusCode, 200, signed.body);
  const { note, size } = signed.json<{ note: string; size: number }>();
  const answer = await inject('POST', '/api/verify', w.tokens.auditor, { checkpoint: note });
  t.is(answer.statusCode, 200, answer.body);
  const got = answer.json<{ intact: boolean; checkpointFile: { file: string; signedBy: string[]; untrusted: string | null }; tree: { checkpoint: object } }>();
  t.true(got.intact);
  t.like(got.checkpointFile, { file: '(the request body)', signedBy: [`keyledger/member/${w.a.id}`], untrusted: null });
  t.like(got.tree.checkpoint, { head: { size }, extended: true, firstDifference: null });
  // The same as `keyledger verify --checkpoint FILE --json`, but for the file's name and the verdict the exit code carries.
  const file = path.join(w.a.dir, 'http.checkpoint');
  fs.writeFileSync(file, note);
  const cli = await w.a.run('--json', 'verify', '--checkpoint', file);
  t.is(cli.code, 0, cli.stderr);
  const { intact: _intact, checkpointFile: fromHttp, ...restHttp } = got as unknown as Record<string, unknown> & { checkpointFile: object };
  const { checkpointFile: fromCli, ...restCli } = cli.json<Record<string, unknown> & { checkpointFile: object }>();
  t.deepEqual(restHttp, restCli);
  t.deepEqual({ ...fromHttp, file }, fromCli);

  // The body signed by a key no member holds: not trusted, unless that key is given (the CLI's --key).
  const me = outsider();
  const body = `${note.split('\n\n')[0]}\n`;
  const foreign = await inject('POST', '/api/verify', w.tokens.operator, { checkpoint: me.note(body) });
  t.is(foreign.statusCode, 200, foreign.body);
  t.like(foreign.json(), { intact: false, checkpointFile: { signedBy: [], untrusted: 'no signature by a known key (1 by other keys)' } });
  const pinned = await inject('POST', '/api/verify', w.tokens.operator, { checkpoint: me.note(body), keys: [me.vkey] });
  t.like(pinned.json(), { intact: true, checkpointFile: { signedBy: ['test.example/outsider'], untrusted: null } });
  // Another root at the same size, signed by a given key: not an extension.
  const root = body.split('\n')[2] ?? '';
  const otherRoot = `${root[0] === 'A' ? 'B' : 'A'}${root.slice(1)}`;
  const forked = await inject('POST', '/api/verify', w.tokens.auditor, { checkpoint: me.note(body.replace(root, otherRoot)), keys: [me.vkey] });
  t.is(forked.statusCode, 200);
  t.like(forked.json(), { intact: false, tree: { checkpoint: { extended: false } } });

  // Bad input: a typed 400 with the CLI's line.
  const notANote = await inject('POST', '/api/verify', w.tokens.auditor, { checkpoint: 'hello' });
  t.is(notANote.statusCode, 400);
  t.like(notANote.json(), { error: 'CheckpointUnusable' });
  t.regex(notANote.json<{ message: string }>().message, /^the checkpoint \(the request body\) cannot be used: not a signed note/);
  t.is((await inject('POST', '/api/verify', w.tokens.auditor, { keys: [me.vkey] })).statusCode, 400, 'keys without a checkpoint');
  const badKey = await inject('POST', '/api/verify', w.tokens.auditor, { checkpoint: note, keys: ['not-a-key'] });
  t.is(badKey.statusCode, 400);
  t.regex(badKey.json<{ message: string }>().message, /^the verifier key not-a-key is not one: a verifier key is <name>\+<key ID>\+<base64 key>/);
});

test.serial("checkpoint --vkey and prove over HTTP: the member's keys to pin, and the proof file keyledger prove writes, checked with them", async (t) => {
  t.timeout(60_000);
  const w = await world;
  const vkeys = await inject('GET', '/api/checkpoint/vkey', w.tokens.auditor);
  t.is(vkeys.statusCode, 200);
  const keys = vkeys.json<{ note: string; cosignature: string }>();
  t.deepEqual(keys, (await w.a.run('--json', 'checkpoint', '--vkey')).json());
  t.regex(keys.note, new RegExp(`^keyledger/member/${w.a.id}\\+[0-9a-f]{8}\\+`));

  const stream = `keyledger.instance-${w.b.id}`;
  const proved = await inject('GET', `/api/prove?stream=${stream}&revision=1`, w.tokens.auditor);
  t.is(proved.statusCode, 200, proved.body);
  const proof = proved.json<InclusionProofFile>();
  t.deepEqual(proof, JSON.parse((await w.a.run('prove', `${stream}@1`)).stdout));
  t.like(proof, { format: 'keyledger-inclusion-proof/v1', event: { stream, revision: '1', type: 'KeyPairIssued' } });
  const pinned = [keys.note, keys.cosignature]
    .map((k) => parseVerifierKey(sha256Bytes, k))
    .filter(E.isRight)
    .map((k) => k.right);
  t.is(pinned.length, 2);
  const checked = checkProofFile(proof, pinned, sha256Bytes, sha256Hex, ed25519Of(signatures.verify));
  t.true(E.isRight(checked), JSON.stringify(checked));

  const missing = await inject('GET', `/api/prove?stream=${stream}&revision=999`, w.tokens.auditor);
  t.is(missing.statusCode, 404);
  t.like(missing.json(), { error: 'EventNotFound' });
  const huge = await inject('GET', `/api/prove?stream=${stream}&revision=9223372036854775808`, w.tokens.auditor);
  t.is(huge.statusCode, 400, 'past a revision the store can hold');
  const cliHuge = await w.a.run('prove', `${stream}@99999999999999999999`);
  t.is(cliHuge.code, 2, 'the CLI too: bad input, not a store failure');
  t.regex(cliHuge.stderr, /is past the largest a stream can have/);
  t.is((await inject('GET', '/api/prove?stream=x', w.tokens.auditor)).statusCode, 400, 'no revision');
  t.is((await inject('GET', `/api/prove?stream=${stream}&revision=1`, w.tokens.service)).statusCode, 403);
});

test.serial(
  'a join by machine and instance name: the remedy of no match followed, several matches refused, the thumbprint still decides (attack)',
  async (t) => {
    t.timeout(60_000);
    const w = await world;
    const join = (body: object) => inject('POST', '/api/join', w.tokens.operator, body);
    const statusIn = (id: string): string => {
      const s = w.served.server.ctx.view.state();
      return s.kind === 'live' ? instanceStatus(s.view, id).state : 'not-live';
    };
    // Exactly one of the two forms.
    const before = await eventCount();
    const thumb = keystoreThumbprint(w.b.file);
    for (const [body, why] of [
      [{ expectThumbprint: thumb }, /^the body must give installationId, or machineName and instanceName$/],
      [{ installationId: w.b.id, machineName: 'RS-B', instanceName: 'B', expectThumbprint: thumb }, /not members of several of these forms/],
      [
        { installationId: w.b.id, machineName: 'RS-B', expectThumbprint: thumb },
        /not members of several of these forms \(it has installationId, machineName\)/,
      ],
      [{ machineName: 'RS-B', expectThumbprint: thumb }, /^body member "instanceName" is missing: expected 1–128 printable characters$/],
      [{ machineName: 'RS-\u001b[2J', instanceName: 'B', expectThumbprint: thumb }, /^body member "machineName" has a control or formatting character/],
    ] as const) {
      const r = await join(body);
      t.is(r.statusCode, 400, JSON.stringify(body));
      t.like(r.json(), { error: 'UsageError' });
      t.regex(r.json<{ message: string }>().message, why);
    }
    t.is(await eventCount(), before, 'a refused body writes nothing');

    // No instance so named: 404, and its remedy (run keyledger init on it) followed to the join.
    const c = await newNode(w.a.dir, 'C');
    const unknown = await join({ machineName: 'rs-c', instanceName: 'c', expectThumbprint: thumb });
    t.is(unknown.statusCode, 404);
    t.like(unknown.json(), {
      error: 'NoInstanceNamed',
      message: 'no instance c on machine rs-c in the ledger: run keyledger init on it first (see keyledger list)',
    });
    t.is((await c.run('init')).code, 1);
    await untilView(w.served, 'C waiting', () => statusIn(c.id) === 'waiting-to-join');
    const joined = await join({ machineName: 'rs-c', instanceName: 'c', expectThumbprint: keystoreThumbprint(c.file) });
    t.is(joined.statusCode, 200, joined.body);
    t.like(joined.json(), { newcomer: c.id, recorded: ['SymmetricKeyWrapped'] });
    t.is((await c.run('start')).code, 0, 'activated');

    // Two instances under the same names, both waiting: refused, naming both, nothing written.
    const d1 = await newNode(w.a.dir, 'D1', ['--machine', 'RS-D', '--instance', 'D']);
    const d2 = await newNode(w.a.dir, 'D2', ['--machine', 'RS-D', '--instance', 'D']);
    for (const d of [d1, d2]) t.is((await d.run('init')).code, 1);
    await untilView(w.served, 'D1 and D2 waiting', () => statusIn(d1.id) === 'waiting-to-join' && statusIn(d2.id) === 'waiting-to-join');
    const written = await eventCount();
    const both = await join({ machineName: 'RS-D', instanceName: 'D', expectThumbprint: keystoreThumbprint(d1.file) });
    t.is(both.statusCode, 400);
    t.like(both.json(), { error: 'InstanceNameAmbiguous' });
    t.true([d1.id, d2.id].every((id) => both.json<{ message: string }>().message.includes(id)));
    t.is(await eventCount(), written, 'nothing written');
    // The names pick D2 once D1 is joined (the one still waiting) — but the key must be the one confirmed: D1's is not D2's.
    t.is((await join({ installationId: d1.id, expectThumbprint: keystoreThumbprint(d1.file) })).statusCode, 200);
    await untilView(w.served, 'D1 no longer waiting', () => statusIn(d1.id) !== 'waiting-to-join');
    const afterD1 = await eventCount();
    const wrongKey = await join({ machineName: 'RS-D', instanceName: 'D', expectThumbprint: keystoreThumbprint(d1.file) });
    t.is(wrongKey.statusCode, 409);
    t.like(wrongKey.json(), { error: 'NewcomerKeyRefused' });
    t.is(await eventCount(), afterD1, 'nothing wrapped for a key not confirmed');
    const d2joined = await join({ machineName: 'RS-D', instanceName: 'D', expectThumbprint: keystoreThumbprint(d2.file) });
    t.is(d2joined.statusCode, 200, d2joined.body);
    t.like(d2joined.json(), { newcomer: d2.id });
    // The CLI's join by names is the same lookup over the same view: no match, and now (neither waiting) two matches.
    const cliUnknown = await w.a.run('join', '--machine', 'RS-E', '--instance', 'E', '--expect-thumbprint', thumb);
    t.is(cliUnknown.code, 2);
    t.is(cliUnknown.stderr, 'keyledger: no instance E on machine RS-E in the ledger: run keyledger init on it first (see keyledger list)\n');
    const cliTwo = await w.a.run('join', '--machine', 'RS-D', '--instance', 'D', '--expect-thumbprint', thumb);
    t.is(cliTwo.code, 2);
    t.is(
      cliTwo.stderr,
      `keyledger: 2 instances are named D on RS-D, and not exactly one of them is waiting to join (${[d1.id, d2.id].sort().join(', ')}): ` +
        'give the installation ID instead (see keyledger list)\n',
    );
    t.is(await eventCount(), afterD1 + 1, 'only the one join confirmed was recorded');
  },
);

test.serial('an event planted behind the server without its hash chain stops the live view: the ping says 503, not activated (attack)', async (t) => {
  t.timeout(60_000);
  const w = await world;
  t.is((await inject('GET', '/reportserver')).statusCode, 200);
  const file = path.join(w.a.dir, '.keyledger', 'ledger.db');
  const stream = `keyledger.instance-${w.a.id}`;
  const head = rowOf(file, stream, 0);
  // A copy of its first event appended as its next one: it decodes, but its previous-hash link is not the stream's head.
  const revision = Number((await w.a.run('--json', 'verify')).json<{ heads: Record<string, { revision: string }> }>().heads[stream]?.revision) + 1;
  tamper(
    file,
    "INSERT INTO events (stream_name, stream_revision, event_id, event_type, data, metadata) VALUES (?, ?, '00000000-0000-4000-8000-00000000beef', ?, ?, ?)",
    stream,
    revision,
    head.event_type,
    head.data,
    head.metadata,
  );
  tamper(file, 'UPDATE streams SET revision = ? WHERE stream_name = ?', revision, stream);
  await untilView(w.served, 'the live view to stop', () => w.served.server.ctx.view.state().kind === 'failed');
  const ping = await inject('GET', '/reportserver', undefined, undefined, { accept: 'application/json' });
  t.is(ping.statusCode, 503);
  t.like(ping.json(), { activated: false, error: 'CorruptEvent' });
  t.regex(ping.json<{ message: string }>().message, new RegExp(`${stream}@${revision}`));
});
